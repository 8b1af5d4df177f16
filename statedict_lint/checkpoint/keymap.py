"""The rename map format (``migrate --map``, ``check --map-out``, ``diff --map-out``, the pre-hook snippets):
``{"old.key": "new.key", "old.prefix.": "new.prefix."}``, where ``{name}`` placeholders match one decimal path
segment each. One place says how an entry becomes a regular expression and a replacement, and in which order
entries apply (exact keys first, then the longest, most specific, prefixes), so what ``migrate`` does and the
code the tool prints for the user do the same thing."""

from __future__ import annotations

import re
from typing import Dict, List, Tuple

PLACEHOLDER = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")


def pattern(old: str) -> str:
    """The regular expression (text) of a map entry's old side: anchored at the start, and at the end unless
    the entry is a prefix (ends with ``.``); each placeholder is a named group of digits."""
    out, pos = "", 0
    for m in PLACEHOLDER.finditer(old):
        out += re.escape(old[pos:m.start()]) + f"(?P<{m.group(1)}>[0-9]+)"
        pos = m.end()
    out += re.escape(old[pos:])
    return "^" + out + ("" if old.endswith(".") else "$")


def replacement(new: str) -> str:
    """The ``re.sub`` replacement of a map entry's new side (placeholders as ``\\g<name>``)."""
    return PLACEHOLDER.sub(lambda m: f"\\g<{m.group(1)}>", new.replace("\\", "\\\\"))


def ordered(mapping: Dict[str, str]) -> List[Tuple[str, str]]:
    """The entries in the order they apply: exact keys first, then the longest (most specific) prefixes."""
    return sorted(mapping.items(), key=lambda kv: (kv[0].endswith("."), -len(kv[0]), kv[0]))


def regex_entries(mapping: Dict[str, str]) -> List[Tuple[str, str]]:
    """(pattern, replacement) of every entry, in the order they apply."""
    return [(pattern(o), replacement(n)) for o, n in ordered(mapping)]
