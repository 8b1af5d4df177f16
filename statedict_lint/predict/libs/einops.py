"""einops: ``rearrange``/``repeat``/``reduce`` over tensor specs, and its stateless layers."""

from __future__ import annotations

from typing import Any

from statedict_lint.predict import tensorops
from statedict_lint.predict.libs import NOT_MINE, LibraryModel, register
from statedict_lint.predict.values import (
    NamespaceValue,
    Opaque,
    ParamValue,
    TensorSpec,
)


def _einops(lib: LibraryModel, op: str, tensor: Any = None, pattern: Any = None, *rest: Any, **axes: Any) -> Any:
    line, path = lib._where()
    t = tensor.tensor if isinstance(tensor, ParamValue) else tensor
    if not isinstance(t, TensorSpec):
        return lib.ev.unknown(f"einops.{op} of a value that is not a known tensor", maybe_state=False)
    axes = {k: (v.sym() if isinstance(v, Opaque) else v) for k, v in axes.items()}
    shape = tensorops.einops_shape(op, t.shape, pattern, axes)
    dtype = t.dtype
    if op == "reduce":
        reduction = rest[0] if rest else axes.get("reduction")
        dtype = tensorops.reduce_dtype(reduction if isinstance(reduction, str) else "", t.dtype) if reduction in (
            "sum", "mean", "max", "min", "prod", "any", "all") else None
    return TensorSpec(shape, dtype, line, path, "" if shape is not None else f"einops.{op} pattern {pattern!r} "
                      "cannot be resolved from the input shape")


@register
class Einops(LibraryModel):
    name = "einops"
    roots = ("einops",)
    maybe_state = True
    functions = {
        "einops.rearrange": lambda lib, *a, **k: _einops(lib, "rearrange", *a, **k),
        "einops.repeat": lambda lib, *a, **k: _einops(lib, "repeat", *a, **k),
        "einops.reduce": lambda lib, *a, **k: _einops(lib, "reduce", *a, **k),
    }

    def attribute(self, full: str) -> Any:
        if full in ("einops.layers", "einops.layers.torch"):
            return NamespaceValue(full)
        if full.startswith("einops.layers.torch.") and full.split(".")[-1] in ("Rearrange", "Reduce"):
            return self.ev.torch._stateless_class(full.split(".")[-1], full)
        return NOT_MINE
