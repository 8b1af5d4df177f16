"""The catalog of torch.nn layers, kept as Python source in ``torch_nn.py``.

``torch_nn.py`` is read as text by the evaluator (never imported: importing it would import torch).
This package exposes where it is, its text, its top-level statements as source chunks (``chunks``: split
once per process, shared by ``STATELESS`` and the evaluator) and its ``STATELESS`` list.
"""

from __future__ import annotations

import ast
import os
import re
from typing import Dict, List, Optional, Tuple

CATALOG_PATH = os.path.join(os.path.dirname(os.path.abspath(__file__)), "torch_nn.py")


def catalog_source() -> str:
    """The text of the catalog file."""
    with open(CATALOG_PATH, encoding="utf-8") as f:
        return f.read()


# What can hide a line break or a column-0 line from the statement structure: strings (triple-quoted ones
# span lines; a backslash escapes the next character, in raw strings too), comments, a backslash
# continuation; brackets are counted once these are masked.
_MASK = re.compile(r'''
    (?:"""(?:\\.|[^\\])*?"""|\'\'\'(?:\\.|[^\\])*?\'\'\'|"(?:\\.|[^"\\\n])*"|'(?:\\.|[^'\\\n])*')
  | \#[^\n]*
  | \\\r?\n
''', re.VERBOSE | re.DOTALL)
_CLAUSE = re.compile(r"(?:else|elif|except|finally)\b")  # continue the compound statement above them
_NAMED = re.compile(r"(?:def|class)[ \t]+([A-Za-z_][A-Za-z0-9_]*)")


def _mask(m: "re.Match[str]") -> str:
    """A string becomes code (``S``) on each of its lines, indented past its first so that none reads as a
    statement start; a comment becomes nothing; a continued line is indented (it never starts a statement)."""
    s = m.group()
    if s[0] == "#":
        return ""
    if s[0] == "\\":
        return "\n "
    return "S" + "\n S" * s.count("\n")


def split_top_level(text: str) -> List[Tuple[Optional[str], str]]:
    """The top-level statements of ``text`` as (class/function name or None, source chunk), in order, each
    chunk from its first decorator to its last line, as ``ast``'s ``lineno``/``end_lineno`` delimit them.

    A lexical split (strings, comments and continuations masked, then brackets counted; no parse): several
    times cheaper than ``ast.parse`` of the catalog, which every process used to pay twice. Meant for
    statedict-lint's own catalog files, which tests/test_catalog_split.py checks against ``ast``; not for
    arbitrary input (it knows no f-string nesting of Python 3.12 and keeps ``a; b`` on one line together)."""
    lines = text.split("\n")  # line breaks as the masked text has them (no splitlines: it also breaks at \f)
    lines = [ln + "\n" for ln in lines[:-1]] + lines[-1:]
    masked = _MASK.sub(_mask, text).split("\n")  # as many lines: masks keep every \n
    starts: List[int] = []  # lines (0-based) where a statement starts: column 0, outside brackets
    last_code: List[int] = []  # per statement, its last line holding code (not a comment or blank)
    depth = 0
    for i, ln in enumerate(masked):
        if not ln or ln.isspace():
            continue
        if depth <= 0 and ln[0] not in " \t\f\r":
            starts.append(i)
            last_code.append(i)
        elif last_code:
            last_code[-1] = i
        if "(" in ln or ")" in ln or "[" in ln or "]" in ln or "{" in ln or "}" in ln:
            depth += ln.count("(") + ln.count("[") + ln.count("{") - ln.count(")") - ln.count("]") - ln.count("}")
    out: List[Tuple[Optional[str], str]] = []
    i = 0
    while i < len(starts):
        j = i
        # decorators belong to the def/class below them; else/elif/except/finally to the statement above
        while j + 1 < len(starts) and (lines[starts[j]].startswith("@") or _CLAUSE.match(lines[starts[j + 1]])):
            j += 1
        head = _NAMED.match(lines[starts[j]])
        out.append((head.group(1) if head else None, "".join(lines[starts[i]:last_code[j] + 1])))
        i = j + 1
    return out


_STATELESS_ASSIGN = re.compile(r"STATELESS\s*(?::[^=]*)?=")
_SPLITS: Dict[Tuple[str, float], Tuple[List[Tuple[Optional[str], str]], List[Tuple[Optional[str], str]]]] = {}


def _split(path: str) -> Tuple[List[Tuple[Optional[str], str]], List[Tuple[Optional[str], str]]]:
    """(every top-level statement, the ones the evaluator runs) of a catalog file, once per process (and file
    version)."""
    key = (path, os.path.getmtime(path))
    hit = _SPLITS.get(key)
    if hit is None:
        with open(path, encoding="utf-8") as fh:
            statements = split_top_level(fh.read())
        run = [c for c in statements if not (c[0] is None and _STATELESS_ASSIGN.match(c[1]))]
        hit = _SPLITS[key] = (statements, run)
    return hit


def chunks(path: str = CATALOG_PATH) -> List[Tuple[Optional[str], str]]:
    """The top-level statements of a catalog file the evaluator runs, as (class/function name or None, source
    chunk): all but the ``STATELESS`` list, which names layers for the torch library model (predict/libs/torch.py
    reads it here) and is no torch.nn name (a 120-string list: ~5% of a cold prediction's parsing)."""
    return _split(path)[1]


def _read_stateless() -> List[str]:
    for name, chunk in _split(CATALOG_PATH)[0]:
        if name is None and _STATELESS_ASSIGN.match(chunk):
            node = ast.parse(chunk, CATALOG_PATH).body[0]
            if isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id == "STATELESS"
                                                    for t in node.targets):
                value = ast.literal_eval(node.value)
                if not isinstance(value, list) or not all(isinstance(x, str) for x in value):
                    raise ValueError("STATELESS in the catalog must be a list of class names")
                return value
    raise ValueError("the catalog defines no STATELESS list")


def catalog_classes() -> List[str]:
    """Names of the top-level classes defined in the catalog (layers with state and their bases)."""
    tree = ast.parse(catalog_source(), CATALOG_PATH)
    return [n.name for n in tree.body if isinstance(n, ast.ClassDef)]


STATELESS: List[str] = _read_stateless()

__all__ = ["CATALOG_PATH", "STATELESS", "catalog_source", "catalog_classes", "chunks", "split_top_level"]
