"""The shapes a transformers 5 ``WeightConverter`` produces while loading, computed without tensors.

``convert(ops, ...)`` follows ``WeightConverter.convert`` and the ``ConversionOps`` of transformers 5.23's
``core_model_loading.py`` step by step -- the same dict of pattern -> tensor(s) flows through the same
operations, with shapes (tuples of ints) instead of tensors:

* ``MergeModulelist(dim)``: each pattern's list of tensors stacked (``torch.stack``: equal shapes, a new dim);
  the pattern is renamed to the single target when it is the only input;
* ``Concatenate(dim)``: the inputs, in the converter's source-pattern order, joined with ``torch.cat``;
* ``Chunk(dim)``: one tensor cut into ``len(targets)`` pieces by ``torch.chunk`` (which may make fewer);
* ``Split(dim)``: cut into pieces sized like each target parameter of the model (``torch.split``);
* ``Transpose(dim0, dim1, check_dims)``; ``Interleave(dim)`` (same shape; the size along ``dim`` must be even).

Where torch or transformers would raise (unequal shapes stacked, sizes that do not add up, "Undefined
Operation"), the result is a ``ConversionError``: from_pretrained records it and raises at the end of loading.
Any other operation (``PermuteForRope``, ``Chunk`` with ``num_shards_attribute``, ...), negative or
unreadable arguments, and inputs whose shapes are unknown are ``NotModelled`` with the reason: never a guess.
"""

from __future__ import annotations

import math
from typing import Any, Dict, List, Optional, Sequence, Tuple

from statedict_lint.hf.conversion import Op

Shape = Tuple[int, ...]

# operation -> its parameters and their defaults, as the classes of core_model_loading.py declare them
SIGNATURES: Dict[str, Tuple[Tuple[str, Any], ...]] = {
    "MergeModulelist": (("dim", 0),),
    "Concatenate": (("dim", 0), ("num_shards_attribute", None)),
    "Chunk": (("dim", 0), ("num_shards_attribute", None)),
    "Split": (("dim", 0),),
    "Transpose": (("dim0", 0), ("dim1", 1), ("check_dims", False)),
    "Interleave": (("dim", 0), ("inverse", False)),
}


class ConversionError(Exception):
    """transformers would raise while converting (from_pretrained then raises after its report)."""


class NotModelled(Exception):
    """The result cannot be computed exactly here; the message says why."""


def bind(op: Op) -> Dict[str, Any]:
    """The operation's arguments by name; NotModelled for an operation or argument this module does not know."""
    sig = SIGNATURES.get(op.name)
    if sig is None:
        raise NotModelled(f"{op.name} is not modelled")
    if not op.readable:
        raise NotModelled(f"the arguments of {op.name} cannot be read")
    if len(op.args) > len(sig):
        raise NotModelled(f"{op} has more arguments than {op.name} takes")
    out = {name: default for name, default in sig}
    for (name, _d), v in zip(sig, op.args):
        out[name] = v
    for k, v in op.kwargs:
        if k not in out:
            raise NotModelled(f"{op}: {op.name} takes no argument {k}")
        out[k] = v
    for name, v in out.items():
        if name.startswith("dim"):
            if not isinstance(v, int) or isinstance(v, bool) or v < 0:
                raise NotModelled(f"{op}: only non-negative integer dims are modelled")
    if op.name == "Chunk" and out["num_shards_attribute"] is not None:
        raise NotModelled(f"{op}: the number of pieces comes from the config")
    return out


def _first(v: Any) -> Shape:
    return v[0] if isinstance(v, list) else v


def _check_dim(shape: Shape, dim: int, what: str) -> None:
    if dim >= len(shape):
        raise ConversionError(f"{what}: dim {dim} is out of range for a {len(shape)}-d tensor {list(shape)}")


def convert(ops: Sequence[Op], collected: Dict[str, List[Optional[Shape]]], sources: List[str], targets: List[str],
            layer: str, model: Dict[str, Optional[Shape]], parameters: Any) -> Dict[str, Shape]:
    """WeightConverter.convert on shapes: ``collected`` is {source pattern: [shape of each tensor, in load
    order]}; ``sources``/``targets`` the converter's processed patterns; ``layer`` the first target key (the
    key the converter was collected under); ``model`` the model's state_dict shapes; ``parameters`` the set of
    the model's parameter names. Returns {target pattern: shape}, in transformers' order."""
    for shapes in collected.values():
        for s in shapes:
            if s is None:
                raise NotModelled("a tensor it takes has no known shape")
    d: Dict[str, Any] = {k: list(v) for k, v in collected.items()}
    for op in ops:
        a = bind(op)
        d = _step(op, a, d, sources, targets, layer, model, parameters)
    return {k: _first(v) for k, v in d.items()}


def _step(op: Op, a: Dict[str, Any], d: Dict[str, Any], sources: List[str], targets: List[str], layer: str,
          model: Dict[str, Optional[Shape]], parameters: Any) -> Dict[str, Any]:
    name = op.name
    if name == "MergeModulelist":
        n_in = len(d)
        out: Dict[str, Any] = {}
        for sp in list(d):
            v = d.pop(sp)
            if n_in == 1:
                if len(targets) != 1:
                    raise ConversionError(f"{op}: Undefined Operation (one input, {len(targets)} targets)")
                target = targets[0]
            else:
                target = sp
            if not isinstance(v, list):
                out[target] = v
                continue
            if any(s != v[0] for s in v):
                raise ConversionError(f"{op}: torch.stack of tensors of unequal shapes "
                                      f"({', '.join(str(list(s)) for s in sorted(set(v)))})")
            if a["dim"] > len(v[0]):
                raise ConversionError(f"{op}: dim {a['dim']} is out of range")
            s = list(v[0])
            s.insert(a["dim"], len(v))
            out[target] = tuple(s)
        return out
    if name == "Concatenate":
        if len(targets) > 1:
            raise ConversionError(f"{op}: Undefined Operation ({len(targets)} targets)")
        parts: List[Shape] = []
        for sp in sources:
            if sp not in d:
                continue
            v = d.pop(sp)
            parts.extend(v if isinstance(v, list) else [v])
        if not parts:
            raise ConversionError(f"{op}: torch.cat of no tensors (none of {', '.join(sources)} reached it)")
        dim = a["dim"]
        if any(len(p) == 1 and p[0] == 0 for p in parts):
            raise NotModelled(f"{op}: an empty 1-d tensor (torch.cat skips those)")
        if any(len(p) != len(parts[0]) for p in parts):
            raise ConversionError(f"{op}: torch.cat of tensors with different numbers of dims")
        _check_dim(parts[0], dim, str(op))
        for p in parts:
            if any(x != y for i, (x, y) in enumerate(zip(p, parts[0])) if i != dim):
                raise ConversionError(f"{op}: torch.cat of {list(parts[0])} and {list(p)} along dim {dim}")
        s = list(parts[0])
        s[dim] = sum(p[dim] for p in parts)
        return {targets[0]: tuple(s)}
    if name in ("Chunk", "Split"):
        if len(d) > 1:
            raise ConversionError(f"{op}: Undefined Operation ({len(d)} inputs)")
        t = _first(next(iter(d.values())))
        dim = a["dim"]
        _check_dim(t, dim, str(op))
        size = t[dim]
        if name == "Chunk":
            n = len(targets)
            if size == 0 or n == 0:
                raise NotModelled(f"{op}: chunks of an empty dimension")
            c = math.ceil(size / n)
            sizes = [c] * (size // c) + ([size % c] if size % c else [])
        else:
            sizes = []
            for tgt in targets:
                key = layer.replace(targets[0], tgt)
                if key not in parameters:
                    raise NotModelled(f"{op}: the parameter {key} it sizes a piece by is not in the model")
                ms = model.get(key)
                if ms is None or dim >= len(ms):
                    raise NotModelled(f"{op}: the shape of {key} is not known")
                sizes.append(ms[dim])
            if sum(sizes) != size:
                raise ConversionError(f"{op}: torch.split of size {size} into {sizes}")
        out = {}
        for tgt, piece in zip(targets, sizes):
            s = list(t)
            s[dim] = piece
            out[tgt] = tuple(s)
        return out
    if name == "Transpose":
        if len(d) != 1:
            raise ConversionError(f"{op}: Undefined Operation ({len(d)} inputs)")
        if len(targets) > 1:
            if len(sources) != 1:
                raise ConversionError(f"{op}: Undefined Operation")
            target = sources[0]
        else:
            target = targets[0]
        t = _first(next(iter(d.values())))
        if a["check_dims"]:
            known = model.get(layer)
            if layer not in parameters or known is None:
                raise NotModelled(f"{op}: the shape of the parameter {layer} it compares with is not known")
            if tuple(known) == tuple(t):
                return {target: t}
        _check_dim(t, max(a["dim0"], a["dim1"]), str(op))
        s = list(t)
        s[a["dim0"]], s[a["dim1"]] = s[a["dim1"]], s[a["dim0"]]
        return {target: tuple(s)}
    if name == "Interleave":
        t = _first(next(iter(d.values())))
        dim = a["dim"]
        _check_dim(t, dim, str(op))
        if t[dim] % 2:
            raise ConversionError(f"{op}: the size {t[dim]} along dim {dim} is odd (reshape fails)")
        return {targets[0]: t}
    raise NotModelled(f"{name} is not modelled")  # (bind() refuses these first)


def full_names(layer: str, result: Dict[str, Shape]) -> Optional[Dict[str, Shape]]:
    """The converter's targets as full keys (WeightConverter.convert: the prefix and suffix around the first
    result pattern found in ``layer``); None when no result pattern is part of ``layer``."""
    full = layer.replace("*.", "0.") if "*." in layer else layer
    for k in result:
        if k in full:
            prefix, _, suffix = full.partition(k)
            return {prefix + t + suffix: s for t, s in result.items()}
    return None
