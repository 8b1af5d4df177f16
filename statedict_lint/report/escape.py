"""Neutralize text from files (key names, metadata, messages quoting them) before it reaches a terminal or a PR.

A checkpoint's key can hold a newline (and fake an "OK ... loads" line), ANSI/OSC escape sequences (drive
the terminal: colours, window titles, hyperlinks), bidi overrides (show text in another order than it is)
or a lone surrogate (not encodable: a UnicodeEncodeError when printed). ``text`` turns every such code point
into a visible escape (``\\n``, ``\\x1b``, ``\\u202e``, ``\\udc80``); ordinary text, including non-ASCII
letters, is unchanged.

``markdown`` makes a message inert in GitHub-flavoured markdown: ``<`` and ``&`` are entity-escaped (no
HTML), ``[ ] * _ ~ | \\`` backslash-escaped (no images, links, emphasis, table cells) except inside the
message's own code spans (where markdown is literal), and URLs / e-mail addresses / @mentions get a zero-width
space so they are not auto-linked or pinging anyone.
"""

from __future__ import annotations

import re

# C0 and C1 controls, DEL, line/paragraph separators, bidi controls, lone surrogates
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029\u200e\u200f\u202a-\u202e\u2066-\u2069\ud800-\udfff]")
_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def _esc(m: "re.Match[str]") -> str:
    c = m.group(0)
    if c in _NAMED:
        return _NAMED[c]
    n = ord(c)
    return f"\\x{n:02x}" if n < 0x100 else f"\\u{n:04x}"


def text(s: str) -> str:
    """``s`` with control characters, bidi controls and lone surrogates shown as escapes (one line, safe for a
    terminal and encodable as UTF-8)."""
    return _CONTROL.sub(_esc, s) if _CONTROL.search(s) else s


# links and images need `[`, HTML needs `<`; `*`, `~` and a `_` at a word's edge would hide characters of a key
# as emphasis (GFM never reads a `_` between two letters or digits as emphasis: load_state_dict stays as it is)
_MD_SPECIAL = re.compile(r"([\\`*\[\]|~]|(?<![A-Za-z0-9])_|_(?![A-Za-z0-9]))")
_AUTOLINK = re.compile(r"(?i)(://|www\.|@)")
ZWSP = "\u200b"


def _md_text(s: str) -> str:
    s = s.replace("&", "&amp;").replace("<", "&lt;")
    s = _MD_SPECIAL.sub(r"\\\1", s)
    return _AUTOLINK.sub(lambda m: m.group(0)[0] + ZWSP + m.group(0)[1:], s)


def _md_code(s: str) -> str:
    # a code span shows its content literally (no HTML, no links); only a table's cell separator needs escaping
    return "`" + s.replace("|", "\\|") + "`"


def markdown(s: str) -> str:
    """``s`` as inert GitHub markdown for one table cell or line (a line break is shown as ``\\n``, as in text:
    a key must not start a line of its own). The message's own code spans (text between backticks) stay
    code spans; every other character that markdown or HTML would interpret is escaped."""
    parts = text(s).split("`")
    out = []
    for i, part in enumerate(parts):
        if i % 2 == 0:
            if part:
                out.append(_md_text(part))
        elif part:
            if out and out[-1].endswith("`"):
                out.append(" ")  # two code spans in a row would read as one double-backtick fence
            out.append(_md_code(part))
    return "".join(out)
