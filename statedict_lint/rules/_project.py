"""What rules may know about the project a file belongs to, read from disk without importing anything.

- ``is_test_path``: the file is a test (``tests/`` / ``test/`` folder, ``test_*.py``, ``*_test.py``,
  ``conftest.py``). Loads in tests read fixtures the test wrote, and partial loads there are followed by
  output comparisons: SDL001/SDL002/SDL003 stay silent in them.
- ``torch_lower_bound``: the lowest torch version the project's declared requirements allow
  (``pyproject.toml`` ``[project]`` / optional / poetry dependencies, ``setup.cfg`` ``install_requires``,
  ``requirements*.txt``), from the nearest folder above the file that declares torch, up to the repository
  root. Files are read as text (at most 1 MB each, symlinks skipped), never executed.
- ``project_class_file``: the ``.py`` file of the project that ``from a.b import C`` names, searched in the
  file's folder and its parents up to the repository root (so a class defined in another file of the
  project can be known to be an ``nn.Module``).

A ``ProjectFacts`` answers them for one lint run (``rules.session.LintSession.project``), memoised per folder
for that run in bounded memos (never on disk).
"""

from __future__ import annotations

import ast
import os
import re
import sys
from typing import Dict, List, Optional, Tuple

from statedict_lint.memo import LRU

MAX_BYTES = 1 << 20
MAX_DEPTH = 12  # folders climbed at most

_TEST_DIRS = {"tests", "test", "testing", "unittests"}


def _is_test_path(path: str, folders: List[str]) -> bool:
    full = os.path.abspath(path)
    root = folders[-1]
    if os.path.exists(os.path.join(root, ".git")):
        norm = os.path.relpath(full, root)
    else:
        rel = os.path.relpath(full)
        norm = path if rel.startswith("..") else rel
    parts = [p for p in norm.replace("\\", "/").split("/") if p and p not in (".", "..")]
    if not parts:
        return False
    base = parts[-1]
    if base == "conftest.py" or base.startswith("test_") or base.endswith("_test.py"):
        return True
    return any(p in _TEST_DIRS for p in parts[:-1])


def _read(path: str) -> Optional[str]:
    try:
        if os.path.islink(path) or not os.path.isfile(path) or os.path.getsize(path) > MAX_BYTES:
            return None
        with open(path, encoding="utf-8", errors="replace") as fh:
            return fh.read(MAX_BYTES)
    except OSError:
        return None


def _climb(d: str) -> List[str]:
    out: List[str] = []
    for _ in range(MAX_DEPTH):
        out.append(d)
        if os.path.exists(os.path.join(d, ".git")):
            break
        parent = os.path.dirname(d)
        if parent == d:
            break
        d = parent
    return out


# -- declared torch requirement --------------------------------------------------------------------------
_REQ = re.compile(r"^\s*torch\s*(?:\[[^\]]*\])?\s*(?P<spec>(?:[<>=!~]=?=?\s*[0-9][^,;#\s]*\s*,?\s*)*)"
                  r"\s*(?:;.*)?(?:#.*)?$", re.IGNORECASE)
_SPEC = re.compile(r"(===|==|~=|>=|<=|!=|>|<)\s*([0-9]+)(?:\.([0-9]+))?")

Version = Tuple[int, int]


def requirement_lower_bound(req: str) -> Tuple[bool, Optional[Version]]:
    """(is a torch requirement, lowest (major, minor) it allows or None when unbounded below)."""
    req = req.strip().strip("\"'")
    m = _REQ.match(req)
    if not m:
        return False, None
    if ";" in req.split("#", 1)[0]:
        return True, None  # an environment marker: elsewhere torch is unconstrained by this line
    best: Optional[Version] = None
    for op, major, minor in _SPEC.findall(m.group("spec") or ""):
        if op in ("<", "<=", "!="):
            continue
        v = (int(major), int(minor or 0))
        best = v if best is None or v > best else best
    return True, best


def _read_requirements(folder: str) -> List[Optional[Version]]:
    """Lower bounds of every torch requirement declared in this folder's project files."""
    reqs: List[str] = []
    text = _read(os.path.join(folder, "pyproject.toml"))
    if text and "torch" in text:
        reqs += _pyproject_requirements(text)
    text = _read(os.path.join(folder, "setup.cfg"))
    if text and "torch" in text:
        reqs += _setup_cfg_requirements(text)
    try:
        names = sorted(n for n in os.listdir(folder) if n.startswith("requirements") and n.endswith(".txt"))
    except OSError:
        names = []
    for n in names:
        text = _read(os.path.join(folder, n))
        if text and "torch" in text:
            reqs += [ln.split("#", 1)[0] for ln in text.splitlines() if ln.strip() and not ln.lstrip().startswith("-")]
    out: List[Optional[Version]] = []
    for r in reqs:
        is_torch, low = requirement_lower_bound(r)
        if is_torch:
            out.append(low)
    return out


def _table(v: object) -> Dict[str, object]:
    """A TOML table, or empty when the file has something else there (a hostile or broken pyproject)."""
    return v if isinstance(v, dict) else {}


def _strings(v: object) -> List[str]:
    """The strings of a TOML array (nothing when it is not one: a string is not a list of requirements)."""
    return [r for r in v if isinstance(r, str)] if isinstance(v, list) else []


def _pyproject_requirements(text: str) -> List[str]:
    if sys.version_info < (3, 11):  # no tomllib: every quoted string, and poetry's `torch = "..."`
        out = [a or b for a, b in re.findall(r"\"([^\"\n]*)\"|'([^'\n]*)'", text)]
        out += ["torch" + m for m in re.findall(r"^\s*torch\s*=\s*[\"']([^\"'\n]*)[\"']", text, re.MULTILINE)]
        return out
    import tomllib

    try:
        data = tomllib.loads(text)
    except Exception:
        return []
    project = _table(data.get("project"))
    out = _strings(project.get("dependencies"))
    for group in _table(project.get("optional-dependencies")).values():
        out += _strings(group)
    for group in _table(data.get("dependency-groups")).values():
        out += _strings(group)
    poetry = _table(_table(data.get("tool")).get("poetry"))
    for table in [_table(poetry.get("dependencies"))] + [
            _table(_table(g).get("dependencies")) for g in _table(poetry.get("group")).values()]:
        v = table.get("torch")
        if isinstance(v, dict):
            v = v.get("version")
        if isinstance(v, str):
            out.append("torch" + ("" if v.strip() in ("*", "") else _poetry_spec(v)))
    return out


def _poetry_spec(v: str) -> str:
    v = v.strip()
    if v.startswith("^") or v.startswith("~"):
        return ">=" + v[1:].lstrip("=")
    if v[:1].isdigit():
        return "==" + v
    return v


def _setup_cfg_requirements(text: str) -> List[str]:
    import configparser

    cp = configparser.ConfigParser(interpolation=None)
    try:
        cp.read_string(text)
    except configparser.Error:
        return []
    out: List[str] = []
    if cp.has_option("options", "install_requires"):
        out += cp.get("options", "install_requires").splitlines()
    if cp.has_section("options.extras_require"):
        for _, v in cp.items("options.extras_require"):
            out += v.splitlines()
    return out


def _inside(path: str, folder: str) -> bool:
    """``path`` really lies under ``folder``: no symlink (of the file or of a folder on the way) leads out."""
    real, base = os.path.realpath(path), os.path.realpath(folder)
    return real.startswith(base.rstrip(os.sep) + os.sep)


class ProjectFacts:
    """The answers above for the files of one lint run, memoised per folder (or file) for that run, bounded."""

    LIMIT = 4096  # folders, files and imports remembered
    TREES = 256  # parsed project files

    def __init__(self) -> None:
        self._tests: LRU[bool] = LRU(self.LIMIT)
        self._folders: LRU[List[str]] = LRU(self.LIMIT)
        self._reqs: LRU[List[Optional[Version]]] = LRU(self.LIMIT)
        self._bounds: LRU[Optional[Version]] = LRU(self.LIMIT)
        self._module_files: LRU[Optional[str]] = LRU(self.LIMIT)
        self._trees: LRU[Optional[Tuple[ast.Module, str]]] = LRU(self.TREES)

    def folders(self, path: str) -> List[str]:
        """The file's folder and its parents, up to (and including) the first one holding ``.git``."""
        d = os.path.dirname(os.path.abspath(path or "x.py"))
        if d not in self._folders:
            self._folders[d] = _climb(d)
        return self._folders[d]

    def is_test_path(self, path: str) -> bool:
        """Judged on the path inside the repository (a checkout under ``/home/me/test/`` is not a test)."""
        if not path or path.startswith("<"):
            return False
        if path not in self._tests:
            self._tests[path] = _is_test_path(path, self.folders(path))
        return self._tests[path]

    def _requirements_in(self, folder: str) -> List[Optional[Version]]:
        if folder not in self._reqs:
            self._reqs[folder] = _read_requirements(folder)
        return self._reqs[folder]

    def torch_lower_bound(self, path: str) -> Optional[Version]:
        """The lowest torch version the nearest project declaring torch allows; None when unknown."""
        folders = self.folders(path)
        key = folders[0]
        if key in self._bounds:
            return self._bounds[key]
        result: Optional[Version] = None
        for d in folders:
            lows = self._requirements_in(d)
            if lows:
                bounded = [v for v in lows if v is not None]
                result = min(bounded) if len(bounded) == len(lows) else None  # (one unbounded requirement: none)
                break
        self._bounds[key] = result
        return result

    def context_key(self, path: str) -> bytes:
        """What findings of the cacheable rules depend on besides the file's text."""
        return f"test={self.is_test_path(path)};torch>={self.torch_lower_bound(path)}".encode()

    def project_module_file(self, path: str, module: str, level: int = 0) -> Optional[str]:
        """The ``.py`` file (or package ``__init__.py``) of the project that ``module`` names, else None."""
        if not path or path.startswith("<") or not module and not level:
            return None
        key = (os.path.dirname(os.path.abspath(path)), module, level)
        if key in self._module_files:
            return self._module_files[key]
        rel = module.replace(".", os.sep) if module else ""
        folders = self.folders(path)
        if level:
            base = folders[0]
            for _ in range(level - 1):
                base = os.path.dirname(base)
            folders = [base]
        found = None
        for d in folders:
            for cand in (os.path.join(d, rel + ".py"), os.path.join(d, rel, "__init__.py")):
                if rel and os.path.isfile(cand) and _inside(cand, d):
                    found = cand
                    break
            if found:
                break
        self._module_files[key] = found
        return found

    def parse_file(self, path: str) -> Optional[Tuple[ast.Module, str]]:
        """(tree, text) of a project file, None when unreadable, too large or not valid Python."""
        if path in self._trees:
            return self._trees[path]
        out = None
        text = _read(path)
        if text is not None:
            try:
                out = (ast.parse(text), text)
            except (SyntaxError, ValueError, RecursionError, MemoryError):
                out = None
        self._trees[path] = out
        return out
