"""Configuration for `statedict-lint lint`: ``[tool.statedict-lint]`` in pyproject.toml, else
``[statedict-lint]`` in setup.cfg (searched from the current folder upwards).

Keys: ``select``, ``ignore``, ``extend-select``, ``exclude`` (lists, or comma-separated strings) and
``lock`` (the statedict.lock for SDL800, relative to the config file's folder).
pyproject.toml is read with tomllib (3.11+), tomli when installed, else a small parser that
understands the subset these keys need (strings and arrays of strings in one table).
"""

from __future__ import annotations

import configparser
import os
import re
import sys
from typing import Any, Dict, List, Optional, Tuple

from statedict_lint.errors import UserError

KEYS = ("select", "ignore", "extend-select", "exclude", "lock")


def _split(value: Any) -> List[str]:
    if value is None:
        return []
    if isinstance(value, str):
        return [v.strip() for v in re.split(r"[,\s]+", value) if v.strip()]
    if isinstance(value, (list, tuple)):
        out: List[str] = []
        for v in value:
            if not isinstance(v, str):
                raise UserError(f"statedict-lint config: expected strings, got {v!r}")
            out.extend(_split(v))
        return out
    raise UserError(f"statedict-lint config: expected a list of strings, got {value!r}")


def _toml_table(text: str, path: str) -> Optional[Dict[str, Any]]:
    if sys.version_info >= (3, 11):
        import tomllib
    else:  # Python < 3.11: tomli when installed (mypy checks the 3.11 branch)
        try:
            import tomli as tomllib
        except ModuleNotFoundError:
            return _mini_toml_table(text, path)
    try:
        data = tomllib.loads(text)
    except Exception as exc:
        raise UserError(f"{path}: invalid TOML ({exc})") from None
    table = data.get("tool", {}).get("statedict-lint")
    if table is not None and not isinstance(table, dict):
        raise UserError(f"{path}: [tool.statedict-lint] must be a table")
    return table


_HEADER = re.compile(r"^\s*\[\s*tool\s*\.\s*(\"statedict-lint\"|statedict-lint)\s*\]\s*(#.*)?$")
_ANY_HEADER = re.compile(r"^\s*\[")
_STR = re.compile(r"\"((?:[^\"\\]|\\.)*)\"|'([^']*)'")


def _mini_toml_table(text: str, path: str) -> Optional[Dict[str, Any]]:
    """Just enough TOML for ``[tool.statedict-lint]`` with string and string-array values."""
    lines = text.splitlines()
    table: Optional[Dict[str, Any]] = None
    i = 0
    while i < len(lines):
        line = lines[i]
        if _HEADER.match(line):
            table = {}
            i += 1
            while i < len(lines) and not _ANY_HEADER.match(lines[i]):
                m = re.match(r"^\s*([A-Za-z0-9_-]+|\"[^\"]+\")\s*=\s*(.*)$", lines[i])
                if m:
                    key, rest = m.group(1).strip('"'), m.group(2)
                    if rest.lstrip().startswith("["):
                        while rest.count("[") > rest.count("]") and i + 1 < len(lines):
                            i += 1
                            rest += "\n" + lines[i]
                        table[key] = [a or b for a, b in _STR.findall(rest)]
                    else:
                        sm = _STR.search(rest)
                        if not sm:
                            raise UserError(f"{path}: cannot read {key} in [tool.statedict-lint]")
                        table[key] = sm.group(1) if sm.group(1) is not None else sm.group(2)
                i += 1
            return table
        i += 1
    return table


def find_config(start: str = ".") -> Tuple[Optional[str], Dict[str, List[str]]]:
    """(path of the file used or None, {key: [values]})."""
    d = os.path.abspath(start)
    while True:
        pp = os.path.join(d, "pyproject.toml")
        if os.path.isfile(pp):
            with open(pp, encoding="utf-8") as fh:
                table = _toml_table(fh.read(), pp)
            if table is not None:
                return pp, _normalise(table, pp)
        sc = os.path.join(d, "setup.cfg")
        if os.path.isfile(sc):
            cp = configparser.ConfigParser()
            try:
                cp.read(sc, encoding="utf-8")
            except configparser.Error as exc:
                raise UserError(f"{sc}: invalid config ({exc.__class__.__name__})") from None
            if cp.has_section("statedict-lint"):
                return sc, _normalise(dict(cp.items("statedict-lint")), sc)
        if os.path.exists(os.path.join(d, ".git")):
            break
        parent = os.path.dirname(d)
        if parent == d:
            break
        d = parent
    return None, {}


def _normalise(table: Dict[str, Any], path: str) -> Dict[str, List[str]]:
    out: Dict[str, List[str]] = {}
    for k, v in table.items():
        key = k.replace("_", "-")
        if key not in KEYS:
            continue  # other commands may keep their own options in the same table
        out[key] = _split(v)
    return out
