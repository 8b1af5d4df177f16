"""A lint run over files (what `statedict-lint lint` does): the files under the paths (links out of a walked folder
not read), their text decoded as Python decodes it, the enabled rules run in one ``LintSession``, and the on-disk
lint cache (``Cache``), keyed by the file's path and content and what the rules read about the file's project, and
checked against everything else the rules read (the files and module lookups of SDL201's predictions)."""

from __future__ import annotations

import hashlib
import json
import os
import stat
from typing import Any, Dict, Iterator, List, Optional

from statedict_lint.codes import INTERNAL_ERROR, SYNTAX_ERROR

SKIP_DIRS = {".git", ".hg", ".svn", ".venv", "venv", ".tox", ".nox", "__pycache__", ".mypy_cache",
             ".pytest_cache", ".statedict-lint-cache", "node_modules", ".eggs", "build", "dist",
             ".ruff_cache", "site-packages"}


def iter_files(paths: List[str], exclude: List[str]) -> Iterator[str]:
    import fnmatch

    from statedict_lint.errors import UserError

    def excluded(p: str) -> bool:
        norm = p.replace(os.sep, "/")
        base = os.path.basename(p)
        return any(fnmatch.fnmatch(norm, pat) or fnmatch.fnmatch(base, pat) for pat in exclude)

    from statedict_lint.safeio import confined

    for path in paths:
        if os.path.isdir(path):
            for root, dirs, files in os.walk(path):
                dirs[:] = sorted(d for d in dirs if d not in SKIP_DIRS and not d.endswith(".egg-info")
                                 and not excluded(os.path.join(root, d)))
                names = [n for n in sorted(files) if (n.endswith(".py") or n.endswith(".pyi"))
                         and not excluded(os.path.join(root, n))]
                # a file of the walked folder that links outside it is not read (one warning line)
                for name in confined(root, names, path, f"the folder {path}") if names else ():
                    yield os.path.join(root, name)
        elif os.path.isfile(path):
            if not excluded(path):
                yield path
        else:
            raise UserError(f"{path}: no such file or directory")


class Cache:
    """Findings per file (after noqa, before select/ignore), keyed by the file's absolute path and content,
    each with what the rules read besides the file (``source.locate.ReadLog``: SDL201's predictions read
    the modules the file imports); an entry is used only when all of that is unchanged. One signed entry
    of the user cache per working folder and tool digest."""

    MAX_ENTRIES = 20000

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled
        self.data: Dict[str, Any] = {}
        self.dirty = False
        self.path = ""
        self._digests: Dict[str, Optional[str]] = {}  # dependency file -> digest, read once per run
        self._used: set = set()  # keys looked up in this run
        if not enabled:
            return
        from statedict_lint import usercache
        from statedict_lint.rules.engine import all_rules

        folder = usercache.folder("lint")
        if folder is None:
            self.enabled = False
            return
        sig = hashlib.sha256(("|".join(f"{r.code}:{type(r).__module__}" for r in all_rules()) + "|"
                              + usercache.tool_digest()).encode()).hexdigest()[:16]
        where = hashlib.sha256(os.path.realpath(os.getcwd()).encode("utf-8", "surrogateescape")).hexdigest()[:16]
        self.path = os.path.join(folder, f"lint-{where}-{sig}.json")
        data = usercache.read_json_dict(self.path)
        if data is not None:
            self.data = data

    @staticmethod
    def _key(path: str, digest: str) -> str:
        return os.path.abspath(path) + "\0" + digest

    def get(self, path: str, digest: str) -> Optional[List[list]]:
        if not self.enabled:
            return None
        key = self._key(path, digest)
        self._used.add(key)
        entry = self.data.get(key)
        if not isinstance(entry, dict):
            return None
        try:
            from statedict_lint.source.locate import reads_from_json, reads_unchanged

            found = entry["found"]
            if not (isinstance(found, list) and all(
                    isinstance(f, list) and len(f) == 6 and all(isinstance(x, str) for x in (f[0], f[1], f[4], f[5]))
                    and all(isinstance(x, int) for x in (f[2], f[3])) for f in found)):
                return None
            if entry.get("files"):
                if not reads_unchanged(*reads_from_json(entry), digests=self._digests):
                    return None
            return found
        except Exception:  # noqa: BLE001 - a malformed entry is a miss, whatever its shape
            return None

    def put(self, path: str, digest: str, found: List[list], log: Any) -> None:
        if not self.enabled or log.unstable:
            return
        entry: Dict[str, Any] = {"found": found}
        if log.files:
            from statedict_lint.source.locate import reads_to_json

            entry.update(reads_to_json(log))
        self.data[self._key(path, digest)] = entry
        self.dirty = True

    def save(self) -> None:
        if not (self.enabled and self.dirty):
            return
        from statedict_lint import usercache

        if len(self.data) > self.MAX_ENTRIES:  # bounded growth: keep what this run used
            self.data = {k: v for k, v in self.data.items() if k in self._used}
        usercache.write_entry(self.path, json.dumps(self.data).encode())


def decode_source(raw: bytes) -> str:
    """Bytes of a Python file as Python reads them: a BOM or a PEP 263 coding line, else UTF-8.
    Raises ValueError with a short reason."""
    import io
    import tokenize

    try:
        encoding, _ = tokenize.detect_encoding(io.BytesIO(raw).readline)
    except SyntaxError as exc:
        raise ValueError(str(getattr(exc, "msg", exc))) from None
    try:
        return raw.decode("utf-8-sig" if encoding == "utf-8-sig" else encoding)
    except (UnicodeDecodeError, LookupError):
        raise ValueError(f"cannot decode file as {encoding}") from None


def _uncached(rule: Any) -> bool:
    """Rules whose findings depend on files other than the one linted in ways the cache does not record
    (the lock, classes of other project files): run on every file, never cached."""
    return bool(getattr(rule, "needs_lock", False) or getattr(rule, "reads_other_files", False))


def lint_bytes(raw: bytes, path: str, rules: List[Any], enabled: set, cache: "Cache", session: Any) -> List[Any]:
    """Findings of the ``enabled`` rules on one file's bytes (``path`` is how it is named and judged), in the lint
    run ``session`` (rules.session.LintSession: the options and in-process caches)."""
    from statedict_lint.findings import Finding
    from statedict_lint.rules.engine import lint_source, syntax_error
    from statedict_lint.source.locate import recording

    # what the rules read about the file's project (test file, declared torch version) is part of the key
    digest = hashlib.sha256(raw + b"\0" + session.project.context_key(path)).hexdigest()
    cached = cache.get(path, digest)
    try:
        text = decode_source(raw)
    except ValueError as exc:
        return [syntax_error(path, 1, str(exc))]
    # rules that read other files; those that can tell from the path alone that they have nothing to say
    # (no lock for SDL800) are not run, which spares a parse of every cached file
    others = [r for r in rules if _uncached(r) and r.code in enabled
              and getattr(r, "applies", lambda p, s: True)(path, session)]
    if cached is None:  # one parse for both kinds of rules; only the cacheable findings are stored
        with recording() as log:  # what SDL201's predictions read besides this file
            found = lint_source(text, path, [r for r in rules if not _uncached(r)] + others, session=session)
        mine = {r.code for r in others}
        cache.put(path, digest, [[f.code, f.message, f.line, f.col, f.severity, f.name] for f in found
                                 if f.code not in mine
                                 and not (f.code == INTERNAL_ERROR and any(c in f.message for c in mine))], log)
    else:
        found = [Finding(code=c, message=m, path=path, line=ln, col=col, severity=sev, name=nm)
                 for c, m, ln, col, sev, nm in cached]
        if others and not any(f.code == SYNTAX_ERROR for f in found):
            found = found + lint_source(text, path, others, session=session)
    return [f for f in found if f.code in enabled]


def enabled_codes(select: List[str], ignore: List[str], extend_select: List[str]) -> set:
    from statedict_lint.rules.engine import all_rules, is_enabled

    enabled = {r.code for r in all_rules() if is_enabled(r, select, ignore, extend_select)}
    # SDL998 (syntax error) and SDL999 (internal error) are always reported unless ignored explicitly
    for extra in (SYNTAX_ERROR, INTERNAL_ERROR):
        if not any(extra.startswith(p) for p in ignore if p):
            enabled.add(extra)
    return enabled


def lint_paths(paths: List[str], select: List[str], ignore: List[str], extend_select: List[str],
               exclude: List[str], use_cache: bool = True, stats: Optional[Dict[str, int]] = None,
               session: Any = None) -> List[Any]:
    from statedict_lint.findings import Finding
    from statedict_lint.rules.engine import all_rules
    from statedict_lint.rules.session import LintSession

    session = session or LintSession()

    rules = all_rules()
    enabled = enabled_codes(select, ignore, extend_select)
    cache = Cache(use_cache)
    out: List[Finding] = []
    from statedict_lint.limits import MAX_SOURCE_BYTES
    from statedict_lint.rules.engine import syntax_error, too_large

    checked = 0
    for path in iter_files(paths, exclude):
        try:
            if not stat.S_ISREG(os.stat(path).st_mode):  # `x.py -> /dev/zero` in a repository never ends
                out.append(syntax_error(path, 1, "cannot parse file: not a regular file (a FIFO or a device); "
                                        "not read"))
                continue
            with open(path, "rb") as fh:
                raw = fh.read(MAX_SOURCE_BYTES + 1)
        except OSError as exc:
            from statedict_lint.errors import UserError

            raise UserError(f"{path}: cannot read ({exc.strerror})") from None
        if len(raw) > MAX_SOURCE_BYTES:
            out.append(too_large(path, os.path.getsize(path), "bytes"))
            continue
        checked += 1
        out.extend(lint_bytes(raw, path, rules, enabled, cache, session))
    cache.save()
    if stats is not None:
        stats["files"] = checked
    return out


def check_codes(codes: List[str], where: str) -> None:
    """Every code or prefix must name at least one rule (a typo would silently select nothing)."""
    from statedict_lint.errors import UserError
    from statedict_lint.rules.engine import all_rules

    known = [r.code for r in all_rules()] + [SYNTAX_ERROR, INTERNAL_ERROR]
    for c in codes:
        if not any(k.startswith(c) for k in known):
            raise UserError(f"{where}: unknown rule code {c!r} (known: {known[0]}..{known[-1]}; "
                            "see statedict-lint lint --list-rules)")
