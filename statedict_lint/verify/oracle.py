"""The judge of `statedict-lint verify`: every difference between a static prediction and the state_dict torch
builds (``runtime.TorchTable``), each judged ``wrong`` (the prediction made a concrete claim torch contradicts) or
``unsettled`` (the prediction had said it could not know); and the config attributes torch's object gets from its
class's own defaults, handed to the prediction so both sides see the same config."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Dict, List

from statedict_lint.predict.symbolic import render_shape

if TYPE_CHECKING:  # (the predictor and torch are imported when verify runs)
    from statedict_lint.predict.template import KeySpec, Prediction
    from statedict_lint.verify.runtime import Entry, TorchTable


@dataclass
class Difference:
    what: str  # "missing" (torch has it, not predicted) | "extra" | "shape" | "dtype" | "kind" | "order" | "tied"
    key: str
    predicted: Any
    torch: Any
    verdict: str  # "wrong" | "unsettled"
    line: int = 0  # source line of the prediction's entry (0 when none)
    note: str = ""

    def to_json(self) -> Dict[str, Any]:
        d = {"what": self.what, "key": self.key, "predicted": self.predicted, "torch": self.torch,
             "verdict": self.verdict, "line": self.line}
        if self.note:
            d["note"] = self.note
        return d


def _is_int(d: Any) -> bool:
    return isinstance(d, int) and not isinstance(d, bool)


def compare(pred: Prediction, table: TorchTable) -> List[Difference]:
    """Every difference between a Prediction and a runtime.TorchTable, each judged wrong or unsettled."""
    out: List[Difference] = []
    real = table.by_key()
    torch_order = {k: i for i, k in enumerate(table.keys())}
    complete = pred.complete
    matched: set = set()
    from statedict_lint.predict.template import key_pattern

    patterns = [(k, key_pattern(k.key)) for k in pred.keys if "{" in k.key]

    def fields(spec: KeySpec, key: str, e: Entry) -> None:
        if spec.kind != e.kind:
            out.append(Difference("kind", key, spec.kind, e.kind, "wrong", spec.line))
        if spec.kind == "extra_state" or e.kind == "extra_state":
            return
        if e.shape is None and spec.shape is None:  # an uninitialized (Lazy*) tensor: unknown on both sides
            if spec.dtype is not None and spec.dtype != e.dtype:
                out.append(Difference("dtype", key, spec.dtype, e.dtype, "wrong", spec.line))
            return
        if spec.shape is None or e.shape is None or len(spec.shape) != len(e.shape) or \
                any(not _is_int(d) or d != t for d, t in zip(spec.shape, e.shape)):
            if spec.shape is None:
                verdict = "unsettled"
            elif e.shape is None or len(spec.shape) != len(e.shape):
                verdict = "wrong"
            else:
                verdict = "wrong" if any(_is_int(d) and d != t for d, t in zip(spec.shape, e.shape)) else "unsettled"
            out.append(Difference("shape", key, render_shape(spec.shape),
                                  list(e.shape) if e.shape is not None else None, verdict, spec.line))
        if spec.dtype != e.dtype:
            out.append(Difference("dtype", key, spec.dtype, e.dtype, "unsettled" if spec.dtype is None else "wrong",
                                  spec.line))

    sure: List[str] = []
    for spec in pred.keys:
        if "{" in spec.key:
            continue
        e = real.get(spec.key)
        if e is None:
            if spec.condition is not None:
                out.append(Difference("extra", spec.key, render_shape(spec.shape), None, "unsettled", spec.line,
                                      f"predicted only if {spec.condition}"))
            else:
                out.append(Difference("extra", spec.key, render_shape(spec.shape), None, "wrong", spec.line,
                                      "predicted for sure; torch has no such key"))
            continue
        matched.add(spec.key)
        fields(spec, spec.key, e)
        if spec.condition is not None:
            out.append(Difference("extra", spec.key, render_shape(spec.shape), list(e.shape or ()), "unsettled",
                                  spec.line, f"exists here; the prediction had it only if {spec.condition}"))
        else:
            sure.append(spec.key)
        if (spec.tied_to or None) != (e.tied_to or None) and complete:
            out.append(Difference("tied", spec.key, spec.tied_to, e.tied_to, "wrong", spec.line))
    for spec, pat in patterns:
        hits = [k for k in real if k not in matched and pat.match(k)]
        for k in hits:
            matched.add(k)
            fields(spec, k, real[k])
        if not hits:
            out.append(Difference("extra", spec.key, render_shape(spec.shape), None, "unsettled", spec.line,
                                  "repeated key: torch has no repetition of it"))
    for key, e in real.items():
        if key in matched:
            continue
        verdict = "wrong" if complete else "unsettled"
        line, note = 0, "the prediction said it was complete"
        if not complete:
            line, note = _behind(pred, key)
        shape = list(e.shape) if e.shape is not None else None
        out.append(Difference("missing", key, None, shape, verdict, line, note))
    positions = [torch_order[k] for k in sure]
    if positions != sorted(positions):
        torch_seq = [k for k in table.keys() if k in set(sure)]
        first = next(i for i, (a, b) in enumerate(zip(sure, torch_seq)) if a != b)
        out.append(Difference("order", sure[first], sure[max(0, first - 1):first + 3],
                              torch_seq[max(0, first - 1):first + 3], "wrong", 0,
                              "keys predicted for sure come in another order than torch's state_dict"))
    return out


def _behind(pred: Prediction, key: str) -> tuple:
    """The unresolved line that explains a key the incomplete prediction does not list, when one does (the most
    specific: the longest key prefix; ``Unresolved.key``, never the message text)."""
    best = None
    for u in pred.unresolved:
        if u.key is not None and u.explains(key) and (best is None or len(u.key) > len(best.key or "")):
            best = u
    if best is not None:
        return best.line, f"not predicted: {best.message}"
    return 0, "not predicted (the prediction is incomplete)"


def _literal(v: Any) -> bool:
    if v is None or isinstance(v, (bool, int, float, str)):
        return True
    if isinstance(v, (list, tuple)):
        return all(_literal(x) for x in v)
    return False


def config_defaults(path: str, cls: str, b: Dict[str, Any]) -> Dict[str, Any]:
    """``--set config.n_layer=2`` builds, for torch, ``GPTConfig(n_layer=2)`` with the class's own defaults for
    the rest (``statedict_lint.verify.runtime``); ``keys`` leaves the attributes nobody bound free. To compare like
    with like, the other literal attributes of the object torch is given become bindings of the prediction."""
    import dataclasses

    from statedict_lint.verify import runtime

    heads = {name.partition(".")[0] for name in b if "." in name}
    if not heads:
        return {}
    mod = runtime.load_user_module(path)
    klass = getattr(mod, cls, None)
    if not isinstance(klass, type):
        return {}
    kwargs = runtime.arguments(mod, klass, dict(b))
    out: Dict[str, Any] = {}
    for head in sorted(heads):
        obj = kwargs.get(head)
        if obj is None or isinstance(obj, (dict, list, tuple, str, int, float, bool)):
            continue
        if dataclasses.is_dataclass(obj):
            names = [f.name for f in dataclasses.fields(obj)]
        else:
            names = [n for n in dir(obj) if not n.startswith("_")]
        for n in names:
            try:
                v = getattr(obj, n)
            except Exception:  # noqa: BLE001 - a property of the user's config object
                continue
            if f"{head}.{n}" not in b and _literal(v):
                out[f"{head}.{n}"] = v
    return out
