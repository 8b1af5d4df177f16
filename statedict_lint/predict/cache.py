"""On-disk cache of predictions, keyed by the content of every file the evaluation read.

A cached entry stores the prediction and the SHA-1 of each source file the evaluator parsed (the model's
file, the project files and installed packages it imported, the catalog) plus the module names it could
*not* find. An entry is used only when every file still has the same content and every missing module
is still missing, so a hit is always what a fresh evaluation would give. This module does not import
libcst: a hit costs a JSON read and a few hashes.

Location: ``$STATEDICT_LINT_CACHE_DIR``, else ``$XDG_CACHE_HOME/statedict-lint``, else
``~/.cache/statedict-lint``. Errors writing or reading the cache are ignored (it is only a cache).
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
import tempfile
from typing import Any, Dict, List, Optional

from statedict_lint import __version__
from statedict_lint.predict.symbolic import Atom, Sym
from statedict_lint.predict.template import KeySpec, Prediction, Unresolved

FORMAT = 1


def cache_dir() -> str:
    d = os.environ.get("STATEDICT_LINT_CACHE_DIR")
    if d:
        return d
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "statedict-lint")


def _sha(path: str) -> Optional[str]:
    try:
        with open(path, "rb") as fh:
            return hashlib.sha1(fh.read()).hexdigest()
    except OSError:
        return None


def _binding_json(v: Any) -> Any:
    from statedict_lint.bindings import CallRef, NameRef

    if isinstance(v, NameRef):
        return {"name": v.name}
    if isinstance(v, CallRef):
        return {"call": v.text}
    if isinstance(v, (list, tuple)):
        return [type(v).__name__] + [_binding_json(x) for x in v]
    if isinstance(v, dict):
        return {"dict": sorted((str(k), _binding_json(x)) for k, x in v.items())}
    return repr(v)


_TOOL_DIGEST: Optional[str] = None


def _tool_digest() -> str:
    """Hash of the predictor's own source: a changed evaluator never reuses old entries."""
    global _TOOL_DIGEST
    if _TOOL_DIGEST is None:
        h = hashlib.sha1()
        pkg = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
        for sub in ("predict", os.path.join("predict", "catalog"), "source"):
            folder = os.path.join(pkg, sub)
            for name in sorted(os.listdir(folder)):
                if name.endswith(".py"):
                    h.update(name.encode())
                    h.update((_sha(os.path.join(folder, name)) or "").encode())
        _TOOL_DIGEST = h.hexdigest()
    return _TOOL_DIGEST


def key_for(path: str, class_name: str, bindings: Dict[str, Any]) -> str:
    material = json.dumps({
        "v": [__version__, FORMAT, _tool_digest()], "path": os.path.abspath(path), "class": class_name,
        "bindings": sorted((k, _binding_json(v)) for k, v in bindings.items()),
        "cwd": os.getcwd(), "sys.path": sys.path, "python": sys.version_info[:2],
    }, sort_keys=True, default=str)
    return hashlib.sha1(material.encode()).hexdigest()


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
            "unresolved": [[u.line, u.message, u.path] for u in p.unresolved]}


def load_prediction(d: Dict[str, Any]) -> Prediction:
    return Prediction(target=d["target"], keys=[_load_key(k) for k in d["keys"]],
                      unresolved=[Unresolved(line, msg, path) for line, msg, path in d["unresolved"]],
                      non_persistent=[_load_key(k) for k in d["non_persistent"]])


# -- lookup and store ---------------------------------------------------------------------------

def lookup(path: str, class_name: str, bindings: Dict[str, Any]) -> Optional[Prediction]:
    entry_path = os.path.join(cache_dir(), key_for(path, class_name, bindings) + ".json")
    try:
        with open(entry_path, encoding="utf-8") as fh:
            entry = json.load(fh)
        for dep, digest in entry["files"].items():
            if _sha(dep) != digest:
                return None
        if entry["missing"]:
            from importlib.machinery import PathFinder

            for name in entry["missing"]:
                top = name.split(".")[0]
                if PathFinder.find_spec(top, entry["roots"] + [p for p in sys.path if p]) is not None:
                    return None
        pred = load_prediction(entry["prediction"])
    except (OSError, ValueError, KeyError, TypeError):
        return None
    pred.bindings = dict(bindings)
    return pred


def store(path: str, class_name: str, bindings: Dict[str, Any], pred: Prediction, files: List[str],
          missing: List[str], roots: List[str]) -> None:
    digests = {}
    for f in files:
        d = _sha(f)
        if d is None:
            return
        digests[f] = d
    entry = {"files": digests, "missing": sorted(set(missing)), "roots": roots, "prediction": dump_prediction(pred)}
    d = cache_dir()
    try:
        os.makedirs(d, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=d, suffix=".tmp")
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(entry, fh)
        os.replace(tmp, os.path.join(d, key_for(path, class_name, bindings) + ".json"))
    except OSError:
        return
