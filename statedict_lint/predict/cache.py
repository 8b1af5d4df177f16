"""On-disk cache of predictions, keyed by everything the evaluation read.

A cached entry stores the prediction and what the evaluator read to make it (``source.locate.ReadLog``):
the SHA-256 of the bytes of each source file as it parsed them (the model's file, the project files and
installed packages it imported), every module lookup with the file it found (or that it found none) and
every package-root probe. An entry is used only when every file still has the same bytes and every lookup
still gives the same answer (a module that appears, or a new file that would shadow the one found on the
path, is a miss), so a hit is always what a fresh evaluation would give. This module does not import
libcst: a hit costs a JSON read, an HMAC and a few hashes and lookups.

Entries live in the user's cache folder (``statedict_lint.usercache``: never in a repository, signed with
a per-user key); errors writing or reading the cache are ignored (it is only a cache).
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
from typing import Any, Dict, Optional

from statedict_lint import __version__, usercache
from statedict_lint.predict.symbolic import Atom, Sym
from statedict_lint.predict.template import KeySpec, Prediction, Unresolved

FORMAT = 4  # 3: Prediction.modules is kept; 4: Unresolved.key
SUBFOLDER = "predict"


def cache_dir() -> Optional[str]:
    """The folder of prediction entries (None: the user cache folder is refused)."""
    return usercache.folder(SUBFOLDER)


def _binding_json(v: Any) -> Any:
    from statedict_lint.predict.bindings import CallRef, NameRef

    if isinstance(v, NameRef):
        return {"name": v.name}
    if isinstance(v, CallRef):
        return {"call": v.text}
    if isinstance(v, (list, tuple)):
        return [type(v).__name__] + [_binding_json(x) for x in v]
    if isinstance(v, dict):
        return {"dict": sorted((str(k), _binding_json(x)) for k, x in v.items())}
    return repr(v)


def _tool_digest() -> str:
    """Digest of the whole installed package: a changed tool never reuses old entries."""
    return usercache.tool_digest()


def key_for(path: str, class_name: str, bindings: Dict[str, Any]) -> str:
    material = json.dumps({
        "v": [__version__, FORMAT, _tool_digest()], "path": os.path.abspath(path), "class": class_name,
        "bindings": sorted((k, _binding_json(v)) for k, v in bindings.items()),
        "cwd": os.getcwd(), "sys.path": sys.path, "python": sys.version_info[:2],
    }, sort_keys=True, default=str)
    return hashlib.sha256(material.encode()).hexdigest()


# -- (de)serialisation of predictions -----------------------------------------------------------

def _dump_int(x: Any) -> Any:
    if isinstance(x, Sym):
        return {"sym": [[[_dump_atom(a) for a in m], c] for m, c in x.terms.items()]}
    return x


def _dump_atom(a: Atom) -> Any:
    return [a.op, [_dump_int(x) for x in a.args]]


def _load_int(x: Any) -> Any:
    if isinstance(x, dict) and "sym" in x:
        terms = {}
        for mono, c in x["sym"]:
            terms[tuple(sorted(_load_atom(a) for a in mono))] = c
        return Sym(terms)
    return x


def _load_atom(a: Any) -> Atom:
    op, args = a
    return Atom(op, tuple(_load_int(x) for x in args))


def _dump_key(k: KeySpec) -> Dict[str, Any]:
    return {
        "key": k.key, "shape": None if k.shape is None else [_dump_int(d) for d in k.shape], "dtype": k.dtype,
        "kind": k.kind, "line": k.line, "path": k.path, "layer": k.layer, "origin": k.origin,
        "origin_line": k.origin_line, "origin_path": k.origin_path, "condition": k.condition,
        "repeat": {p: _dump_int(c) for p, c in k.repeat.items()}, "persistent": k.persistent, "tied_to": k.tied_to,
    }


def _load_key(d: Dict[str, Any]) -> KeySpec:
    d = dict(d)
    d["shape"] = None if d["shape"] is None else tuple(_load_int(x) for x in d["shape"])
    d["repeat"] = {p: _load_int(c) for p, c in d["repeat"].items()}
    return KeySpec(**d)


def dump_prediction(p: Prediction) -> Dict[str, Any]:
    return {"target": p.target, "keys": [_dump_key(k) for k in p.keys],
            "non_persistent": [_dump_key(k) for k in p.non_persistent],
            "unresolved": [[u.line, u.message, u.path, u.kind, u.key] for u in p.unresolved],
            "warnings": list(p.warnings), "modules": [[m, q] for m, q in p.modules.items()]}


def load_prediction(d: Dict[str, Any]) -> Prediction:
    return Prediction(target=d["target"], keys=[_load_key(k) for k in d["keys"]],
                      unresolved=[Unresolved(line, msg, path, kind, key) for line, msg, path, kind, key in d["unresolved"]],
                      non_persistent=[_load_key(k) for k in d["non_persistent"]],
                      warnings=[w for w in d.get("warnings", ()) if isinstance(w, str)],
                      modules={str(m): str(q) for m, q in d["modules"]})


# -- lookup and store ---------------------------------------------------------------------------

def lookup(path: str, class_name: str, bindings: Dict[str, Any]) -> Optional[Prediction]:
    from statedict_lint.source import locate

    d = cache_dir()
    if d is None:
        return None
    payload = usercache.read_entry(os.path.join(d, key_for(path, class_name, bindings) + ".json"))
    if payload is None:
        return None
    try:
        entry = json.loads(payload)
        files, finds, roots = locate.reads_from_json(entry)
        if not locate.reads_unchanged(files, finds, roots):
            return None
        pred = load_prediction(entry["prediction"])
    except Exception:  # noqa: BLE001 - a malformed entry is a miss, whatever its shape
        return None
    locate.replay(files, finds, roots)
    pred.bindings = dict(bindings)
    return pred


def store(path: str, class_name: str, bindings: Dict[str, Any], pred: Prediction, log: Any) -> None:
    """Store ``pred`` with what its evaluation read (``log``: a ``source.locate.ReadLog``)."""
    from statedict_lint.source import locate

    if log.unstable or not log.files:
        return  # a file changed while it was read: the result belongs to no single state of the files
    d = cache_dir()
    if d is None:
        return
    entry = {**locate.reads_to_json(log), "prediction": dump_prediction(pred)}
    usercache.write_entry(os.path.join(d, key_for(path, class_name, bindings) + ".json"),
                          json.dumps(entry).encode())
