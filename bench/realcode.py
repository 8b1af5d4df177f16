"""Run the predictor over real model code and judge every claim against torch.

    python bench/realcode.py FOLDER [--root IMPORT_ROOT] [--out results.json] [--timeout 60]

For every nn.Module class in every .py file under FOLDER the static prediction is made, and, when the
class can be built without arguments (or with guessed values for commonly named ones: ``dim=32``,
``depth=2``, ``config=<the file's only *Config class>()``, see INT_GUESS), torch builds it on the meta
device in a child process with the same arguments. Each class is classified:

* exact          prediction complete and identical to torch (keys, order, shapes, dtypes)
* honest-partial prediction incomplete, and every unconditional concrete claim is true
* wrong          a claimed key, shape or dtype differs from torch (a bug), or complete but different
* symbolic       the class needs constructor arguments; the symbolic prediction is not judged
* torch-failed   torch itself could not build the class (missing dependency, needs a GPU, ...)
* error          the predictor raised (a bug)

The FOLDER's code is never committed to this repository; fetch public repositories to a temp dir.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from typing import Any, Dict, List

CHILD = r'''
import sys, json, importlib, importlib.util, os, warnings, traceback
warnings.filterwarnings("ignore")
path, root, classes, stubs = sys.argv[1], sys.argv[2], json.loads(sys.argv[3]), json.loads(sys.argv[4])
sys.path.insert(0, root)
if stubs:  # modules that cannot be installed here (e.g. torchvision): importable placeholders
    import importlib.abc, importlib.machinery, types
    class _AnyMeta(type):
        def __getattr__(cls, name):
            if name.startswith("__"):
                raise AttributeError(name)
            return _make(name)
    def _make(name):
        return _AnyMeta(name, (), {"__init__": lambda self, *a, **k: None, "__call__": lambda self, *a, **k: self})
    class _Stub(types.ModuleType):
        def __getattr__(self, name):
            if name == "__version__":
                return "0.0.0"
            if name.startswith("__"):
                raise AttributeError(name)
            return _make(name)
    class _Finder(importlib.abc.MetaPathFinder, importlib.abc.Loader):
        def find_spec(self, name, path=None, target=None):
            if name.split(".")[0] in stubs:
                return importlib.machinery.ModuleSpec(name, self, is_package=True)
            return None
        def create_module(self, spec):
            m = _Stub(spec.name)
            m.__path__ = []
            return m
        def exec_module(self, module):
            pass
    sys.meta_path.insert(0, _Finder())
out = {}
try:
    import torch
    rel = os.path.relpath(path, root)[:-3].replace(os.sep, ".")
    if rel.endswith(".__init__"):
        rel = rel[:-9]
    try:
        mod = importlib.import_module(rel)
    except Exception:
        spec = importlib.util.spec_from_file_location("sdl_real_mod", path)
        mod = importlib.util.module_from_spec(spec)
        sys.modules["sdl_real_mod"] = mod
        spec.loader.exec_module(mod)
except BaseException as exc:
    print(json.dumps({"__import__": f"{type(exc).__name__}: {exc}"[:300]}))
    sys.exit(0)
for name, kwargs in classes.items():
    try:
        cls = getattr(mod, name)
        kw = {k: eval(v, vars(mod)) for k, v in kwargs.items()}
        with torch.device("meta"):
            m = cls(**kw)
        sd = m.state_dict(keep_vars=True)
        out[name] = [[k, list(v.shape) if hasattr(v, "shape") else None,
                      str(v.dtype).replace("torch.", "") if hasattr(v, "dtype") else None] for k, v in sd.items()]
    except BaseException as exc:
        out[name] = f"{type(exc).__name__}: {exc}"[:300]
print(json.dumps(out))
'''


# Values the harness tries for required constructor parameters, by name (the torch side gets the same).
INT_GUESS = {
    "dim": 32, "d_model": 32, "hidden_size": 32, "embed_dim": 32, "hidden_dim": 32, "n_embd": 32, "width": 32,
    "in_features": 8, "out_features": 8, "in_channels": 3, "out_channels": 8, "in_chans": 3, "channels": 8,
    "in_dim": 16, "out_dim": 16, "input_dim": 16, "output_dim": 16, "inplanes": 16, "planes": 16,
    "depth": 2, "num_layers": 2, "n_layers": 2, "n_layer": 2, "layers": 2, "heads": 4, "num_heads": 4,
    "n_head": 4, "nhead": 4, "num_classes": 10, "vocab_size": 100, "ntoken": 100, "image_size": 32, "img_size": 32,
    "patch_size": 8, "mlp_dim": 64, "dim_head": 8, "ninp": 16, "nhid": 16, "nlayers": 2, "latent_dim": 8,
    "kernel_size": 3, "num_tokens": 100, "seq_len": 16, "max_seq_len": 16, "block_size": 16,
}


def guess_args(path: str, cls: str) -> Any:
    """Constructor keyword arguments as source strings, or None when some required one cannot be guessed."""
    import ast

    tree = ast.parse(open(path, encoding="utf-8").read())
    configs = [n.name for n in tree.body if isinstance(n, ast.ClassDef) and n.name.endswith("Config")]
    for node in tree.body:
        if isinstance(node, ast.ClassDef) and node.name == cls:
            for item in node.body:
                if isinstance(item, ast.FunctionDef) and item.name == "__init__":
                    a = item.args
                    pos = (a.posonlyargs + a.args)[1:]
                    required = pos[: len(pos) - len(a.defaults)] + [
                        k for k, d in zip(a.kwonlyargs, a.kw_defaults) if d is None]
                    out = {}
                    for arg in required:
                        if arg.arg in INT_GUESS:
                            out[arg.arg] = str(INT_GUESS[arg.arg])
                        elif arg.arg in ("config", "cfg", "args") and len(configs) == 1:
                            out[arg.arg] = f"{configs[0]}()"
                        else:
                            return None
                    return out
            return {}
    return None


def judge(pred: Any, real: List[list]) -> str:
    got = [(k.key, list(k.shape) if k.shape is not None else None, k.dtype) for k in pred.keys]
    want = [tuple(r) for r in real]
    if pred.complete:
        return "exact" if [tuple(g) for g in got] == want else "wrong"
    real_map = {r[0]: (r[1], r[2]) for r in real}
    for k in pred.keys:
        if k.condition is not None or k.repeat or "{" in k.key or k.kind == "extra_state":
            continue
        if k.key not in real_map:
            return "wrong"
        shape, dtype = real_map[k.key]
        if k.shape is not None:
            if len(k.shape) != len(shape):
                return "wrong"
            for a, b in zip(k.shape, shape):
                if isinstance(a, int) and a != b:
                    return "wrong"
        if k.dtype is not None and k.dtype != dtype:
            return "wrong"
    return "honest-partial"


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("folder")
    ap.add_argument("--root", default=None, help="folder to put on sys.path for the torch side (default: FOLDER)")
    ap.add_argument("--out", default=None)
    ap.add_argument("--timeout", type=float, default=120)
    ap.add_argument("--stub", action="append", default=[],
                    help="top-level module to replace by a placeholder on the torch side (not installable here)")
    ap.add_argument("-v", action="store_true")
    args = ap.parse_args()
    from statedict_lint.predict.bindings import parse_value
    from statedict_lint.errors import UserError
    from statedict_lint.predict.api import module_classes, predict

    root = os.path.abspath(args.root or args.folder)
    files = sorted(os.path.join(d, f) for d, _, fs in os.walk(args.folder) for f in fs if f.endswith(".py"))
    results: List[Dict[str, Any]] = []
    t_pred = 0.0
    for path in files:
        try:
            classes = module_classes(path)
        except (UserError, RecursionError) as exc:
            results.append({"file": path, "class": None, "outcome": "error", "detail": str(exc)[:200]})
            continue
        preds: Dict[str, Any] = {}
        todo: Dict[str, Dict[str, str]] = {}
        for cls, _line in classes:
            t0 = time.perf_counter()
            try:
                preds[cls] = predict(path, cls, {})
            except UserError as exc:
                preds[cls] = exc
            except Exception as exc:  # noqa: BLE001 - a crash is a finding
                preds[cls] = RuntimeError(f"{type(exc).__name__}: {exc}")
            t_pred += time.perf_counter() - t0
            guessed = guess_args(path, cls)
            if guessed:
                try:
                    preds[cls] = predict(path, cls, {k: parse_value(v) for k, v in guessed.items()})
                except UserError as exc:
                    preds[cls] = exc
                except Exception as exc:  # noqa: BLE001 - a crash is a finding
                    preds[cls] = RuntimeError(f"{type(exc).__name__}: {exc}")
            if not isinstance(preds[cls], Exception) and guessed is not None:
                todo[cls] = guessed
        real: Dict[str, Any] = {}
        if todo:
            try:
                proc = subprocess.run([sys.executable, "-c", CHILD, path, root, json.dumps(todo),
                                       json.dumps(args.stub)], capture_output=True,
                                      text=True, timeout=args.timeout)
                last = proc.stdout.strip().splitlines()[-1] if proc.stdout.strip() else "{}"
                real = json.loads(last)
            except (subprocess.TimeoutExpired, json.JSONDecodeError) as exc:
                real = {"__import__": f"{type(exc).__name__}"}
        for cls, _line in classes:
            p = preds[cls]
            row: Dict[str, Any] = {"file": os.path.relpath(path, args.folder), "class": cls}
            if isinstance(p, UserError):
                row.update(outcome="user-error", detail=str(p)[:200])
            elif isinstance(p, Exception):
                row.update(outcome="error", detail=str(p)[:300])
            elif cls not in todo:
                row.update(outcome="symbolic", complete=p.complete, keys=len(p.keys))
            elif "__import__" in real:
                row.update(outcome="torch-failed", detail=real["__import__"])
            elif isinstance(real.get(cls), str):
                row.update(outcome="torch-failed", detail=real[cls])
            else:
                row.update(outcome=judge(p, real[cls]), keys=len(p.keys),
                           unresolved=[f"{u.line}: {u.message}" for u in p.unresolved][:5])
                if row["outcome"] == "wrong":
                    row["predicted"] = [(k.key, [str(d) for d in k.shape] if k.shape else None, k.dtype, k.condition)
                                        for k in p.keys][:60]
                    row["torch"] = real[cls][:60]
            results.append(row)
            if args.v:
                print(row["outcome"], row["file"], cls, row.get("detail", ""), flush=True)
    counts: Dict[str, int] = {}
    for r in results:
        counts[r["outcome"]] = counts.get(r["outcome"], 0) + 1
    summary = {"folder": args.folder, "files": len(files), "classes": sum(1 for r in results if r["class"]),
               "counts": counts, "predict_seconds": round(t_pred, 2)}
    print(json.dumps(summary, indent=1))
    if args.out:
        with open(args.out, "w") as fh:
            json.dump({"summary": summary, "results": results}, fh, indent=1)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
