"""`statedict-lint keys FILE.py:Class [--set ...] [--config ...] [--format text|json]`."""

from __future__ import annotations

import contextlib
import gc
import json
import os
import sys
from typing import Any, Dict, Iterator, List

from statedict_lint.predict import bindings
from statedict_lint.findings import display_path
from statedict_lint.predict.symbolic import Sym, render, render_shape
from statedict_lint.predict.template import Prediction
from statedict_lint.torchfacts import DTYPE_BYTES


def add_parser(sub: Any) -> None:
    p = sub.add_parser("keys", help="predict the state_dict of an nn.Module class from its source",
                       description="Predict every state_dict key, shape and dtype of CLASS without importing "
                                   "torch or the model's code.")
    p.add_argument("target", metavar="FILE.py:CLASS|DIR",
                   help="the class, or a Hugging Face folder whose config.json names it (bound as from_pretrained does)")
    bindings.add_arguments(p)
    p.add_argument("--format", choices=["text", "json"], default="text")
    p.add_argument("--no-cache", action="store_true",
                   help="do not read or write the prediction cache (keyed by the content of every file read)")
    p.set_defaults(run=run)


@contextlib.contextmanager
def _long_lived() -> Iterator[None]:
    """Imports, then ``gc.freeze()`` when they loaded modules: modules and classes (libcst's ~220 node classes
    among them) live as long as the process; the collector need not walk them at every collection of the
    evaluation (~4% of a cold `keys`). Garbage made later is collected as usual; the collector is off only while
    modules import (they make long-lived objects, no garbage to speak of). Nothing is frozen when the modules
    were loaded already (a second `main()` in one process)."""
    enabled = gc.isenabled()
    before = len(sys.modules)
    gc.disable()
    try:
        yield
    finally:
        if len(sys.modules) > before:
            gc.freeze()
        if enabled:
            gc.enable()


def run(args: Any) -> int:
    with _long_lived():
        from statedict_lint.hf.check import print_notes, resolve

        if args.no_cache:
            from statedict_lint.predict.api import predict
    t = resolve(args.target, args.sets, args.configs, None)
    print_notes(t)
    path, cls, b = t.path, t.cls, t.bindings
    with t.confinement():  # a folder's own code (auto_map): imports stay inside the folder
        if args.no_cache:
            pred = predict(path, cls, b)
        else:
            from statedict_lint.predict.cache import lookup

            hit = lookup(path, cls, b)  # a hit needs no libcst at all
            if hit is None:
                with _long_lived():
                    from statedict_lint.predict.api import predict_cached
                hit = predict_cached(path, cls, b)
            pred = hit
    bindings.warn_unread(pred)
    if args.format == "json":
        sys.stdout.write(json.dumps(to_json(pred), indent=2) + "\n")
    else:
        sys.stdout.write(format_text(pred))
    return 0


def to_json(pred: Prediction) -> Dict[str, Any]:
    """``Prediction.to_json`` plus a ``path`` (the file the key's layer or the unresolved item is in, relative
    to the working directory when inside it) on every key and unresolved item: additive, the other fields are
    the stable ones."""
    data = pred.to_json()
    own = pred.target.rpartition(":")[0]
    shown: Dict[str, str] = {}  # (a few files for many keys)

    def path(p: str) -> str:
        if p not in shown:
            shown[p] = display_path(p)
        return shown[p]

    for k in pred.keys:
        data["keys"][k.key]["path"] = path(k.path or own)
    for entry, u in zip(data["unresolved"], pred.unresolved):
        entry["path"] = path(u.path or own)
    return data


def totals(pred: Prediction) -> Dict[str, Any]:
    """Parameter count and bytes over distinct tensors; ints when concrete, Sym when symbolic, None if unknown."""
    params: Any = 0
    nbytes: Any = 0
    for k in pred.keys:
        if k.tied_to or k.kind == "extra_state":
            continue
        if k.condition is not None or k.shape is None or any(d is None for d in k.shape) or k.dtype is None:
            return {"parameters": None, "bytes": None}
        n: Any = 1
        for d in k.shape:
            n = n * d
        for count in k.repeat.values():
            if not isinstance(count, (int, Sym)):
                return {"parameters": None, "bytes": None}
            n = n * count
        if k.kind == "parameter":
            params = params + n
        nbytes = nbytes + n * DTYPE_BYTES.get(k.dtype, 0)
    return {"parameters": params, "bytes": nbytes}


def _human(n: int) -> str:
    x = float(n)
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if abs(x) < 1024 or unit == "TB":
            return f"{x:.0f} {unit}" if unit == "B" else f"{x:.1f} {unit}"
        x = x / 1024
    return str(x)


_CONDITIONAL = "some keys exist only if "


def unbound(pred: Prediction) -> List[str]:
    """The constructor values the prediction is symbolic in: names in shapes and repetition counts, and the
    switches its conditions depend on (``config.bias``)."""
    from statedict_lint.check.solve import switches

    names = list(pred.variables())
    conds = [k.condition for k in pred.keys if k.condition]
    conds += [u.message[len(_CONDITIONAL):] for u in pred.unresolved if u.message.startswith(_CONDITIONAL)]
    names += [n for n in switches(conds) if n not in names]
    return sorted(n for n in names if not n.startswith("{"))


def status(pred: Prediction) -> str:
    """``complete``; ``symbolic: 5 constructor values unbound (...)`` when only unbound values stand between the
    prediction and concrete keys; ``INCOMPLETE: N unresolved`` when some code could not be followed."""
    if pred.complete:
        return "complete"
    parts = []
    names = unbound(pred)
    if names:
        parts.append(f"symbolic: {len(names)} constructor value{'s' if len(names) != 1 else ''} unbound "
                     f"({', '.join(names)})")
    code = [u for u in pred.unresolved if not u.message.startswith(_CONDITIONAL)]
    if code or not names:
        parts.append(f"INCOMPLETE: {len(code)} unresolved" if code else "INCOMPLETE")
    return "; ".join(parts)


def _target(target: str) -> str:
    path, sep, cls = target.rpartition(":")
    return f"{display_path(path)}:{cls}" if sep and path else target


def format_text(pred: Prediction) -> str:
    out: List[str] = []
    own = os.path.abspath(pred.target.rsplit(":", 1)[0])
    other: Dict[str, bool] = {}  # (a few files for many keys)

    def elsewhere(path: str) -> bool:
        """Is ``path`` another file than the target's? (then lines are shown with their file)"""
        if path not in other:
            other[path] = os.path.abspath(path) != own
        return other[path]

    out.append(f"{_target(pred.target)}: {len(pred.keys)} keys ({status(pred)})")
    rows = []
    shared: Dict[str, List[str]] = {}  # first key of a tied group -> the keys tied to it
    for k in pred.keys:
        if k.tied_to:
            shared.setdefault(k.tied_to, []).append(k.key)
    for k in pred.keys:
        kind = {"parameter": "param", "buffer": "buffer", "extra_state": "extra"}[k.kind]
        notes = []
        if k.repeat:
            notes.append(", ".join(f"{p} < {render(c)}" for p, c in k.repeat.items()))
        if k.condition:
            notes.append(f"only if {k.condition}")
        if k.tied_to:
            notes.append(f"tied: same tensor as {k.tied_to}")
        elif k.key in shared:
            notes.append(f"tied: same tensor as {', '.join(shared[k.key])}")
        where = str(k.line) if k.line else "-"
        if k.path and elsewhere(k.path):
            where = f"{display_path(k.path)}:{k.line}"
        rows.append((k.key, render_shape(k.shape), k.dtype or "?", kind, where, "; ".join(notes)))
    if rows:
        widths = [max(len(r[i]) for r in rows + [("key", "shape", "dtype", "kind", "line", "")]) for i in range(5)]
        header = ("key", "shape", "dtype", "kind", "line")
        out.append("  ".join(h.ljust(w) for h, w in zip(header, widths)).rstrip())
        group = None
        for r in rows:
            g = r[0].rsplit(".", 1)[0] if "." in r[0] else ""
            if g != group and group is not None and g.split(".")[0] != (group or "").split(".")[0]:
                out.append("")
            group = g
            line = "  ".join(c.ljust(w) for c, w in zip(r[:5], widths))
            out.append((line + ("  " + r[5] if r[5] else "")).rstrip())
    if pred.non_persistent:
        out.append("")
        out.append("non-persistent buffers (not in the state_dict): " + ", ".join(k.key for k in pred.non_persistent))
    t = totals(pred)
    out.append("")
    if pred.unresolved and t["parameters"] is not None:  # the keys above are not all there is
        shown = f"{t['parameters']:,}" if isinstance(t["parameters"], int) else render(t["parameters"])
        out.append(f"parameters: {shown} in the keys listed; not known in total (the prediction is incomplete)")
    elif isinstance(t["parameters"], int):
        out.append(f"parameters: {t['parameters']:,}   size: {_human(t['bytes'])} ({t['bytes']:,} bytes)")
    elif isinstance(t["parameters"], Sym):
        out.append(f"parameters: {render(t['parameters'])}")
        out.append(f"bytes: {render(t['bytes'])}")
    elif unbound(pred) and not [u for u in pred.unresolved if not u.message.startswith(_CONDITIONAL)]:
        out.append("parameters: depends on the unbound values (bind them with --set to count)")
    else:
        out.append("parameters: not known (some shapes, dtypes or keys are unsettled)")
    conditional = [u for u in pred.unresolved if u.message.startswith(_CONDITIONAL)]
    code = [u for u in pred.unresolved if not u.message.startswith(_CONDITIONAL)]
    # the heading says what kind of condition it is (render sets the kind; a condition of no known kind is
    # worded as the general case)
    for title, items in (("keys that exist only for some values of an unbound switch:",
                          [u for u in conditional if u.kind == "switch"]),
                         ("keys that a state_dict hook, an override or code not followed may rename, drop or change:",
                          [u for u in conditional if u.kind == "hook"]),
                         ("keys that exist only under a condition that cannot be decided here:",
                          [u for u in conditional if u.kind not in ("switch", "hook")]),
                         ("unresolved:", code)):
        if not items:
            continue
        out.append("")
        out.append(title)
        for u in items:
            loc = f"line {u.line}" if u.line else "-"
            if u.path and elsewhere(u.path):
                loc = f"{display_path(u.path)}:{u.line}"
            out.append(f"  {loc}: {u.message}")
    from statedict_lint.report.escape import text  # key names from source: no control characters to the terminal

    return "\n".join(text(line) for line in out) + "\n"
