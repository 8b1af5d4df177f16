"""Predicted state_dicts of every nn.Module class in a tree of files, as plain data, with a disk cache.

``KeyRec`` is a ``KeySpec`` flattened to JSON-able values (symbolic dimensions rendered as text, paths
relative to the tree root), so predictions of two git revisions, of a lock file and of the cache compare
with ``==``. ``predict_tree`` predicts the classes of many files; results are cached per file in the user's
cache folder (``cache_folder``: never inside the repository, entries signed with a per-user key, see
``statedict_lint.usercache``) keyed by the file's content, the contents of every project file it imports
(transitively) and the tool's own source, so an unchanged re-run does no prediction at all.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any, Dict, Iterable, List, Optional, Tuple, Union

from statedict_lint import usercache
from statedict_lint.memo import LRU
from statedict_lint.errors import UserError
from statedict_lint.source.locate import file_digest

if TYPE_CHECKING:  # (a warm run reads snapshots without the predictor)
    from statedict_lint.predict.template import KeySpec, Prediction

_FORMAT = 2


def cache_folder(repo: str) -> Optional[str]:
    """The user-cache folder of lock/diff caches for the repository at ``repo`` (None: caching refused)."""
    tag = hashlib.sha256(os.path.realpath(repo).encode("utf-8", "surrogateescape")).hexdigest()[:24]
    return usercache.folder("review", tag)


# a dimension as snapshots and lock files keep it: an int, a rendered symbolic size ("3*n_embd"), None unknown
Dim = Union[int, str, None]


@dataclass
class KeyRec:
    key: str
    shape: Optional[List[Dim]]
    dtype: Optional[str]
    kind: str
    line: int = 0
    path: str = ""
    layer: str = ""
    origin: str = ""
    origin_line: int = 0
    origin_path: str = ""
    condition: Optional[str] = None
    repeat: Dict[str, str] = field(default_factory=dict)
    persistent: bool = True
    tied_to: Optional[str] = None

    def signature(self) -> Tuple[Any, ...]:
        """What matters for loading a checkpoint (not where the code is)."""
        return (self.key, _tuple(self.shape), self.dtype, self.kind, self.condition,
                tuple(sorted(self.repeat.items())), self.persistent)

    @classmethod
    def from_json(cls, d: Dict[str, Any]) -> "KeyRec":
        return cls(**{k: v for k, v in d.items() if k in cls.__dataclass_fields__})


def _tuple(x: Any) -> Any:
    return tuple(x) if isinstance(x, list) else x


@dataclass
class ClassRec:
    path: str
    name: str
    line: int = 0
    keys: List[KeyRec] = field(default_factory=list)
    non_persistent: List[KeyRec] = field(default_factory=list)
    unresolved: List[Dict[str, Any]] = field(default_factory=list)  # {"path", "line", "message"}
    error: Optional[str] = None  # the predictor refused (UserError text)

    @property
    def id(self) -> str:
        return f"{self.path}:{self.name}"

    def to_json(self) -> Dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, d: Dict[str, Any]) -> "ClassRec":
        return cls(d["path"], d["name"], d.get("line", 0), [KeyRec.from_json(k) for k in d.get("keys", [])],
                   [KeyRec.from_json(k) for k in d.get("non_persistent", [])], list(d.get("unresolved", [])),
                   d.get("error"))

    @property
    def complete(self) -> bool:
        return self.error is None and not self.unresolved


_REL: LRU[str] = LRU(8192)  # (path, root) -> its recorded form (bounded: a long run does not grow it)


def _rel(path: str, root: str) -> str:
    """Paths inside the tree relative to it; outside (installed packages, the catalog) relative to the
    sys.path entry holding them, so locks and caches do not depend on the machine."""
    if not path:
        return ""
    hit = _REL.get((path, root))
    if hit is None:
        hit = _REL[(path, root)] = _rel_uncached(path, root)
    return hit


def _rel_uncached(path: str, root: str) -> str:
    ap = os.path.abspath(path)
    if ap == root or ap.startswith(root + os.sep):
        return os.path.relpath(ap, root).replace(os.sep, "/")
    best = ""
    for entry in sys.path:
        e = os.path.abspath(entry) if entry else ""
        if e and ap.startswith(e + os.sep) and len(e) > len(best):
            best = e
    if best:
        return "<sys.path>/" + os.path.relpath(ap, best).replace(os.sep, "/")
    return "<external>/" + os.path.basename(ap)


def from_prediction(pred: Prediction, root: str) -> Tuple[List[KeyRec], List[KeyRec], List[Dict[str, Any]]]:
    from statedict_lint.predict.symbolic import Sym, render

    def rec(k: KeySpec) -> KeyRec:
        shape = None if k.shape is None else [
            d if isinstance(d, int) else (render(d) if isinstance(d, Sym) else None) for d in k.shape]
        return KeyRec(k.key, shape, k.dtype, k.kind, k.line, _rel(k.path, root), k.layer, k.origin,
                      k.origin_line, _rel(k.origin_path, root), k.condition,
                      {p: (str(c) if isinstance(c, int) else render(c) if isinstance(c, Sym) else "?")
                       for p, c in k.repeat.items()}, k.persistent, k.tied_to)

    unresolved = [{"path": _rel(u.path, root), "line": u.line, "message": u.message} for u in pred.unresolved]
    return [rec(k) for k in pred.keys], [rec(k) for k in pred.non_persistent], unresolved


_NOT_MODULE = "is not a torch.nn.Module subclass"


def predict_file(root: str, relpath: str, bindings: Optional[Dict[str, Any]] = None,
                 candidates: Optional[List[Tuple[str, int]]] = None) -> List[ClassRec]:
    """Every nn.Module class of one file (the file must exist under ``root``).

    ``candidates`` ((name, line) from ``Project.module_candidates``) skips the predictor's own class scan,
    which evaluates every top-level name of the file; the predictor still refuses non-module classes."""
    from statedict_lint.predict.api import module_classes, predict

    root = os.path.abspath(root)
    path = os.path.join(root, relpath)
    if candidates is None:
        try:
            classes = module_classes(path)
        except UserError as exc:
            return [ClassRec(relpath, "", 0, error=str(exc))]
        except RecursionError:
            return [ClassRec(relpath, "", 0, error="file nests too deeply to read")]
    else:
        classes = list(candidates)
    out: List[ClassRec] = []
    for name, line in classes:
        cr = ClassRec(relpath, name, line)
        try:
            pred = predict(path, name, dict(bindings or {}))
            cr.keys, cr.non_persistent, cr.unresolved = from_prediction(pred, root)
        except UserError as exc:
            if candidates is not None and _NOT_MODULE in str(exc):
                continue
            if candidates is not None and str(exc).startswith(("no such file", f"{path}:")):
                return [ClassRec(relpath, "", 0, error=str(exc).replace(root + os.sep, ""))]
            cr.error = str(exc).replace(root + os.sep, "")
        except RecursionError:
            cr.error = "the code nests too deeply to evaluate"
        except Exception as exc:  # a predictor crash on one class must not end a whole-repo run
            cr.error = f"internal error while predicting: {type(exc).__name__}: {exc}"
        out.append(cr)
    return out


def tool_hash() -> str:
    """Digest of the whole installed package and of this cache's format: a new tool invalidates the cache."""
    return f"{_FORMAT}:{usercache.tool_digest()}"


def content_hash(data: bytes) -> str:
    return file_digest(data)  # the digest ReadLog records: predict_tree's reads seed the entry check


ROOT_MARK = "<root>"  # recorded paths under the predicted tree's root (a diff's trees are temporary folders)


def _rebase(reads: Any, old: str, new: str) -> Any:
    """Recorded reads (JSON: files, finds, package_roots) with the path prefix ``old`` replaced by ``new``
    (anything of another shape is returned as it is, for the entry check to refuse)."""
    sep = old + os.sep
    n = len(old)

    def sub(x: Any) -> Any:
        return new + x[n:] if isinstance(x, str) and (x == old or x.startswith(sep)) else x

    try:
        return {"files": {sub(k): v for k, v in reads["files"].items()},
                "finds": [[[sub(r) for r in roots], m, sub(f)] for roots, m, f in reads["finds"]],
                "package_roots": {sub(k): sub(v) for k, v in reads["package_roots"].items()}}
    except (KeyError, TypeError, ValueError, AttributeError):
        return reads


def reads_json(log: Any, root: str) -> Optional[Dict[str, Any]]:
    """What a prediction read (``source.locate.ReadLog``) as JSON, paths under ``root`` made relative to it;
    None when a file changed while it was read."""
    if log.unstable:
        return None
    from statedict_lint.source.locate import reads_to_json

    return _rebase(reads_to_json(log), root, ROOT_MARK)


class Cache:
    """Per-file ClassRecs in the user cache, each entry with what its prediction read: used only when the
    files still have the bytes the predictor parsed and every import resolves to the same file (the key
    alone covers the project files the ``ast`` index sees, not installed packages, modules that appear and
    shadow, or a file edited while it was predicted)."""

    def __init__(self, folder: Optional[str]) -> None:
        self.folder = folder
        self.hits = 0
        self.misses = 0
        self.digests: Dict[str, Optional[str]] = {}  # file -> sha256 of its bytes, read once per run
        self._finds: Dict[Tuple[Tuple[str, ...], str], Optional[str]] = {}  # lookups, made once per run

    def key(self, relpath: str, digest: str, dep_digests: Iterable[Tuple[str, str]],
            bindings: Optional[Dict[str, Any]]) -> str:
        h = hashlib.sha256()
        h.update(tool_hash().encode())
        h.update(relpath.encode() + b"\0" + digest.encode())
        for p, d in sorted(dep_digests):
            h.update(b"\1" + p.encode() + b"\0" + d.encode())
        h.update(json.dumps(bindings or {}, sort_keys=True, default=repr).encode())
        return h.hexdigest()

    def get(self, key: str, root: str) -> Optional[List[ClassRec]]:
        if not self.folder:
            return None
        payload = usercache.read_entry(os.path.join(self.folder, key[:2], key + ".json"))
        if payload is None:
            return None
        try:
            from statedict_lint.source.locate import reads_from_json, reads_unchanged

            data = json.loads(payload)
            if not (isinstance(data, dict) and isinstance(data.get("classes"), list)
                    and all(isinstance(d, dict) for d in data["classes"])):
                return None
            files, finds, roots = reads_from_json(_rebase(data["reads"], ROOT_MARK, os.path.abspath(root)))
            if not reads_unchanged(files, finds, roots, self.digests, self._finds):
                return None
            return [ClassRec.from_json(d) for d in data["classes"]]
        except Exception:  # noqa: BLE001 - a malformed entry is a miss, whatever its shape
            return None

    def put(self, key: str, recs: List[ClassRec], reads: Optional[Dict[str, Any]]) -> None:
        if not self.folder or not reads or not reads.get("files"):
            return
        d = os.path.join(self.folder, key[:2])
        try:
            usercache.make_dirs(d)
        except OSError:
            return
        usercache.write_entry(os.path.join(d, key + ".json"), json.dumps(
            {"classes": [r.to_json() for r in recs], "reads": reads}, separators=(",", ":")).encode())


def _predict_recorded(root: str, relpath: str, bindings: Optional[Dict[str, Any]],
                      candidates: Any) -> Tuple[List[ClassRec], Optional[Dict[str, Any]]]:
    from statedict_lint.source.locate import recording

    with recording() as log:
        recs = predict_file(root, relpath, bindings, candidates)
    return recs, reads_json(log, os.path.abspath(root))


def _worker(args: Tuple[str, str, Optional[Dict[str, Any]], Any]) -> Tuple[List[Dict[str, Any]], Any]:
    root, relpath, bindings, candidates = args
    try:
        os.chdir(root)
    except OSError:
        pass
    recs, reads = _predict_recorded(root, relpath, bindings, candidates)
    return [r.to_json() for r in recs], reads


def predict_tree(root: str, relpaths: Iterable[str], project: Any, cache: Cache,
                 bindings: Optional[Dict[str, Any]] = None, jobs: int = 0) -> Dict[str, List[ClassRec]]:
    """{relpath: [ClassRec]} for the given files of the tree at ``root`` (project: a ``Project``)."""
    root = os.path.abspath(root)
    digests: Dict[str, str] = {}

    def digest(p: str) -> str:
        if p not in digests:
            full = os.path.join(root, p)
            with open(full, "rb") as fh:
                digests[p] = cache.digests[full] = content_hash(fh.read())  # (the entry check reuses it)
        return digests[p]

    results: Dict[str, List[ClassRec]] = {}
    todo: List[Tuple[str, str]] = []
    for rp in sorted(set(relpaths)):
        if rp not in project.files:
            continue
        err = project.files[rp].syntax_error
        if err:
            results[rp] = [ClassRec(rp, "", 0, error=f"{rp}: cannot parse: {err}")]
            continue
        if not project.module_candidates(rp):  # no class that can be an nn.Module: nothing to predict
            results[rp] = []
            continue
        key = cache.key(rp, digest(rp), [(d, digest(d)) for d in project.deps_closure(rp)], bindings)
        hit = cache.get(key, root)
        if hit is not None:
            cache.hits += 1
            results[rp] = hit
        else:
            cache.misses += 1
            todo.append((rp, key))
    if not todo:
        return results
    jobs = jobs or min(len(todo), os.cpu_count() or 1)
    cwd = os.getcwd()
    try:
        if jobs > 1 and len(todo) > 4:
            import multiprocessing as mp
            from concurrent.futures import ProcessPoolExecutor

            ctx = mp.get_context("fork") if hasattr(os, "fork") else mp.get_context()
            # contiguous chunks: neighbouring files share imports, which each worker parses once
            chunk = max(1, len(todo) // (jobs * 4))
            with ProcessPoolExecutor(max_workers=jobs, mp_context=ctx) as pool:
                outs = list(pool.map(_worker, [(root, rp, bindings, project.module_candidates(rp))
                                               for rp, _k in todo], chunksize=chunk))
            for (rp, key), (out, reads) in zip(todo, outs):
                recs = [ClassRec.from_json(d) for d in out]
                cache.put(key, recs, reads)
                results[rp] = recs
        else:
            os.chdir(root)
            for rp, key in todo:
                recs, reads = _predict_recorded(root, rp, bindings, project.module_candidates(rp))
                cache.put(key, recs, reads)
                results[rp] = recs
    finally:
        os.chdir(cwd)
    return results
