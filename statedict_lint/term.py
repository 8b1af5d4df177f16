"""Terminal conventions: colour (``--color auto|always|never``, ``NO_COLOR``) and progress on stderr.

Colour is used only on a terminal (``auto``) unless ``--color always``; ``NO_COLOR`` (any non-empty value,
https://no-color.org) and ``TERM=dumb`` turn ``auto`` off, and ``--color never`` wins over everything.
Progress lines go to stderr, only when stderr is a terminal, only after the work has run for
``Progress.DELAY`` seconds, and are erased when the work ends: pipes, files and CI logs never see them.
"""

from __future__ import annotations

import os
import sys
import time
from typing import Any, Optional

MODES = ("auto", "always", "never")
_mode = "auto"

_STYLES = {"red": "31", "green": "32", "yellow": "33", "blue": "34", "magenta": "35", "cyan": "36",
           "bold": "1", "dim": "2", "bold-red": "1;31", "bold-green": "1;32", "bold-yellow": "1;33"}


def set_mode(mode: Optional[str]) -> None:
    global _mode
    _mode = mode if mode in MODES else "auto"


def use_color(stream: Any = None) -> bool:
    stream = stream or sys.stdout
    if _mode == "never":
        return False
    if _mode == "always":
        return True
    if os.environ.get("NO_COLOR") or os.environ.get("TERM") == "dumb":
        return False
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):
        return False


def paint(text: str, style: str, stream: Any = None) -> str:
    """``text`` in ``style`` when colour is on for ``stream`` (stdout by default)."""
    code = _STYLES.get(style)
    if not code or not text or not use_color(stream):
        return text
    return f"\x1b[{code}m{text}\x1b[0m"


SEVERITY_STYLE = {"error": "red", "warning": "yellow", "note": "cyan"}
VERDICT_STYLE = {"OK": "bold-green", "FAIL": "bold-red", "UNSURE": "bold-yellow"}


def severity(word: str) -> str:
    return paint(word, SEVERITY_STYLE.get(word, ""))


def headline(text: str) -> str:
    """``FAIL: ...`` / ``OK: ...`` / ``UNSURE: ...`` with the verdict word coloured."""
    word, sep, rest = text.partition(":")
    if sep and word in VERDICT_STYLE:
        return paint(word, VERDICT_STYLE[word]) + sep + rest
    return text


class Progress:
    """``with Progress("lock") as p: p.update("3/40 files")`` -- a status line on a terminal's stderr.

    Nothing is written before ``DELAY`` seconds of work (a timer shows the latest message then, also while a
    single long step runs), nothing at all when stderr is not a terminal, and the line is erased at the end."""

    DELAY = 1.5  # seconds of work before the first line: quick runs print nothing

    def __init__(self, label: str, stream: Any = None) -> None:
        import threading

        self.label = label
        self.stream = stream or sys.stderr
        try:
            self.enabled = bool(self.stream.isatty())
        except (AttributeError, ValueError):
            self.enabled = False
        self.message = ""
        self.shown = False
        self.closed = False
        self._lock = threading.Lock()
        self._timer: Optional[Any] = None
        self.start = time.monotonic()
        try:
            self.delay = float(os.environ.get("STATEDICT_LINT_PROGRESS_DELAY", self.DELAY))
        except ValueError:
            self.delay = self.DELAY
        if self.enabled:
            self._timer = threading.Timer(self.delay, self._show)
            self._timer.daemon = True
            self._timer.start()

    def _show(self) -> None:
        with self._lock:
            if self.closed or not self.message:
                return
            self.stream.write(f"\r\x1b[K{self.label}: {self.message}")
            self.stream.flush()
            self.shown = True

    def update(self, message: str) -> None:
        if not self.enabled:
            return
        self.message = message
        if time.monotonic() - self.start >= self.delay:
            self._show()

    def close(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
        with self._lock:
            self.closed = True
            if self.shown:
                self.stream.write("\r\x1b[K")
                self.stream.flush()
                self.shown = False

    def __enter__(self) -> "Progress":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()
