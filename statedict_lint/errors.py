"""Errors that end a command with one line on stderr and exit code 2."""

from __future__ import annotations


class UserError(Exception):
    """Bad input or usage: reported as one line on stderr, exit code 2, never a traceback."""
