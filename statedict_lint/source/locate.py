"""Locate modules and package roots without importing anything, and record what a run read.

No libcst here: a cache hit (``predict.cache``, the lint cache) checks its recorded reads with this module
alone.

``ReadLog``: while ``recording()`` is active, every source file the loader parses (the SHA-256 of its bytes
as parsed), every module lookup of a ``Locator`` (with the file it found, or None) and every package-root
probe is recorded. ``reads_unchanged`` tells whether doing it all again would read the same bytes and get
the same answers -- a module that appears, or a new file that would shadow the one found on the path,
changes a lookup's answer -- so a cached result is reused only when a fresh run would give it.
"""

from __future__ import annotations

import contextlib
import os
import sys
from importlib.machinery import PathFinder
from typing import Any, Dict, Iterator, List, Optional, Tuple

Finds = Dict[Tuple[Tuple[str, ...], str], Optional[str]]  # (locator roots, dotted module) -> file found


class ReadLog:
    """What a run read (see the module docstring)."""

    def __init__(self) -> None:
        self.files: Dict[str, str] = {}  # absolute path -> sha256 of its bytes
        self.finds: Finds = {}
        self.package_roots: Dict[str, str] = {}  # path -> package_root(path)
        self.unstable = False  # a file read twice with different bytes: nothing here can be trusted

    def add_file(self, path: str, digest: str) -> None:
        old = self.files.setdefault(path, digest)
        if old != digest:
            self.unstable = True


LOGS: List[ReadLog] = []  # the active logs (a list, not thread-local: the predictor runs on its own thread)


@contextlib.contextmanager
def recording() -> Iterator[ReadLog]:
    """Record into a new ReadLog what is read until the block ends (logs nest)."""
    log = ReadLog()
    LOGS.append(log)
    try:
        yield log
    finally:
        LOGS.remove(log)


CONFINED: List[str] = []  # trees (real paths) whose symbolic links to outside are not followed by imports


@contextlib.contextmanager
def confined_to(root: str) -> Iterator[None]:
    """While active, a module file inside ``root`` that is a link to outside it is not found by any
    ``Locator`` (``lock`` reads the work tree: an import must not follow a planted link out of it)."""
    CONFINED.append(os.path.realpath(root))
    try:
        yield
    finally:
        CONFINED.remove(os.path.realpath(root))


def _escapes(path: str) -> bool:
    ap = os.path.abspath(path)
    real = None
    for tree in CONFINED:
        if ap == tree or ap.startswith(tree + os.sep):
            real = real or os.path.realpath(ap)
            if not real.startswith(tree + os.sep):
                return True
    return False


def file_digest(data: bytes) -> str:
    import hashlib  # (only when a cache records what a run reads: OpenSSL's module costs a cold `keys` ~2 ms)

    return hashlib.sha256(data).hexdigest()


def note_file(path: str, data: bytes) -> None:
    digest = file_digest(data)
    for log in LOGS:
        log.add_file(path, digest)


def replay(files: Dict[str, str], finds: Finds, package_roots: Dict[str, str]) -> None:
    """Add the reads a cached result stands for to the active logs (a hit read them in an earlier run)."""
    for log in LOGS:
        for p, d in files.items():
            log.add_file(p, d)
        log.finds.update(finds)
        log.package_roots.update(package_roots)


def reads_to_json(log: ReadLog) -> Dict[str, Any]:
    """A log as JSON (``reads_from_json`` reads it back)."""
    return {"files": log.files, "finds": [[list(r), m, f] for (r, m), f in sorted(log.finds.items())],
            "package_roots": log.package_roots}


Reads = Tuple[Dict[str, str], Finds, Dict[str, str]]


def reads_from_json(d: Any) -> Reads:
    """(files, finds, package roots) of an entry; ValueError when any part has the wrong shape."""
    if not isinstance(d, dict):
        raise ValueError("entry")
    files, finds, roots = d.get("files"), d.get("finds"), d.get("package_roots")
    if not (isinstance(files, dict) and files and isinstance(finds, list) and isinstance(roots, dict)):
        raise ValueError("entry")
    if not all(isinstance(k, str) and isinstance(v, str) for k, v in files.items()):
        raise ValueError("files")
    if not all(isinstance(k, str) and isinstance(v, str) for k, v in roots.items()):
        raise ValueError("package_roots")
    out: Finds = {}
    for item in finds:
        if not (isinstance(item, list) and len(item) == 3 and isinstance(item[0], list)
                and all(isinstance(r, str) for r in item[0]) and isinstance(item[1], str)
                and (item[2] is None or isinstance(item[2], str))):
            raise ValueError("finds")
        out[(tuple(item[0]), item[1])] = item[2]
    return files, out, roots


def reads_unchanged(files: Dict[str, str], finds: Finds, package_roots: Dict[str, str],
                    digests: Optional[Dict[str, Optional[str]]] = None, lookups: Optional[Finds] = None) -> bool:
    """True when reading again gives the same bytes, the same module lookups and package roots.

    ``digests``, ``lookups``: memos of file digests and lookup answers shared by many checks in one run."""
    memo: Dict[str, Optional[str]] = {} if digests is None else digests
    answers: Finds = {} if lookups is None else lookups
    for p, d in files.items():
        if p not in memo:
            try:
                with open(p, "rb") as fh:
                    memo[p] = file_digest(fh.read())
            except OSError:
                memo[p] = None
        if memo[p] != d:
            return False
    for p, r in package_roots.items():
        if unlogged_package_root(p) != r:
            return False
    locators: Dict[Tuple[str, ...], Locator] = {}
    for (roots, dotted), found in finds.items():
        if (roots, dotted) not in answers:
            loc = locators.get(roots)
            if loc is None:
                loc = locators[roots] = Locator(list(roots), record=False)
            hit = loc.find(dotted)
            answers[(roots, dotted)] = hit[0] if hit else None
        if answers[(roots, dotted)] != found:
            return False
    return True


# -- locating modules ---------------------------------------------------------------------------

def package_root(path: str) -> str:
    """The folder above the outermost package that contains ``path``."""
    r = unlogged_package_root(path)
    for log in LOGS:
        log.package_roots[os.path.abspath(path)] = r
    return r


def unlogged_package_root(path: str) -> str:
    """``package_root`` without recording the probe (for readers outside a cached prediction, e.g. runtime)."""
    d = os.path.dirname(os.path.abspath(path))
    while os.path.exists(os.path.join(d, "__init__.py")):
        parent = os.path.dirname(d)
        if parent == d:
            break
        d = parent
    return d


def module_name_of(path: str) -> str:
    root = package_root(path)
    rel = os.path.relpath(os.path.abspath(path), root)
    parts = rel[:-3].split(os.sep) if rel.endswith(".py") else rel.split(os.sep)
    if parts and parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


class Locator:
    """Finds the source file of a dotted module name: the project's roots first, then sys.path."""

    def __init__(self, roots: List[str], record: bool = True) -> None:
        self._key = tuple(roots) if record else None  # what a ReadLog needs to rebuild this locator
        seen: List[str] = []
        for r in roots + [p for p in sys.path if p]:
            ap = os.path.abspath(r)
            if ap not in seen and os.path.isdir(ap):
                seen.append(ap)
        self.roots = seen
        self._cache: Dict[str, Optional[Tuple[str, bool]]] = {}

    def find(self, dotted: str) -> Optional[Tuple[str, bool]]:
        """(file path, is_package) or None. Never imports anything."""
        if dotted in self._cache:
            result = self._cache[dotted]
        else:
            result = self._find(dotted)
            self._cache[dotted] = result
        if LOGS and self._key is not None:
            for log in LOGS:
                log.finds[(self._key, dotted)] = result[0] if result else None
        return result

    def _find(self, dotted: str) -> Optional[Tuple[str, bool]]:
        result: Optional[Tuple[str, bool]] = None
        parts = dotted.split(".")
        search: Optional[List[str]] = self.roots
        origin = None
        is_pkg = False
        for i, part in enumerate(parts):
            if search is None:
                result = None
                break
            try:
                spec = PathFinder.find_spec(part if i == 0 else ".".join(parts[: i + 1]), search)
            except KeyError:
                # a namespace package (a folder without __init__.py) inside a package: importlib looks its parent
                # up in sys.modules, which we never fill -- its portions are the folders of that name
                dirs = [os.path.join(d, part) for d in search if os.path.isdir(os.path.join(d, part))]
                if not dirs:
                    origin = None
                    break
                search, origin, is_pkg = dirs, None, True
                continue
            except (ImportError, ValueError, OSError):
                spec = None
            if spec is None:
                origin = None
                break
            locs = spec.submodule_search_locations
            search = list(locs) if locs is not None else None
            origin = spec.origin
            is_pkg = locs is not None
        if origin and origin.endswith(".py") and os.path.isfile(origin):
            result = None if CONFINED and _escapes(origin) else (origin, is_pkg)
        elif origin is None and search and i == len(parts) - 1 and is_pkg:  # namespace package
            result = None
        return result
