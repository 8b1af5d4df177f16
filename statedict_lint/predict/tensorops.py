"""Shape and dtype rules of tensor operations used to build buffers (relative-position tables, masks).

Shapes are tuples of int | Sym | None (unknown element); functions return None when even the rank is
unknown. Only rules that torch documents and that can be decided from shapes alone are modelled.
"""

from __future__ import annotations

import re
from typing import Any, Dict, List, Optional, Sequence, Tuple

from statedict_lint.predict.symbolic import Sym, is_int, is_intlike

Shape = Optional[Tuple[Any, ...]]

_FLOAT_RANK = {"float16": 1, "bfloat16": 1, "float32": 2, "float64": 3}
_INT_RANK = {"bool": 0, "uint8": 1, "int8": 1, "int16": 2, "int32": 3, "int64": 4}


def promote(a: Optional[str], b: Optional[str]) -> Optional[str]:
    """torch.result_type for two tensors of the same rank class (dimensioned operands)."""
    if a is None or b is None:
        return None
    if a == b:
        return a
    if a in _FLOAT_RANK and b in _FLOAT_RANK:
        if {a, b} == {"float16", "bfloat16"}:
            return "float32"
        return a if _FLOAT_RANK[a] > _FLOAT_RANK[b] else b
    if a in _FLOAT_RANK and b in _INT_RANK:
        return a
    if b in _FLOAT_RANK and a in _INT_RANK:
        return b
    if a in _INT_RANK and b in _INT_RANK:
        if "uint8" in (a, b) and "int8" in (a, b):
            return "int16"
        return a if _INT_RANK[a] > _INT_RANK[b] else b
    return None


def broadcast(a: Shape, b: Shape) -> Shape:
    if a is None or b is None:
        return None
    n = max(len(a), len(b))
    a2 = (1,) * (n - len(a)) + tuple(a)
    b2 = (1,) * (n - len(b)) + tuple(b)
    out: List[Any] = []
    for x, y in zip(a2, b2):
        if x is None or y is None:
            out.append(x if y == 1 else y if x == 1 else None)
        elif x == 1:
            out.append(y)
        elif y == 1:
            out.append(x)
        elif _eq(x, y):
            out.append(x)
        else:
            if is_int(x) and is_int(y):
                raise ValueError(f"shapes {a} and {b} cannot be broadcast")
            out.append(None)
    return tuple(out)


def _eq(x: Any, y: Any) -> bool:
    if isinstance(x, Sym) or isinstance(y, Sym):
        return isinstance(x, Sym) and isinstance(y, Sym) and x == y
    return x == y


def norm_dim(d: Any, rank: int) -> Optional[int]:
    if not is_int(d):
        return None
    if d < 0:
        d += rank
    return d if 0 <= d < rank else None


def reduce(shape: Shape, dim: Any, keepdim: bool) -> Shape:
    if shape is None:
        return None
    if dim is None:
        return tuple(1 for _ in shape) if keepdim else ()
    dims = dim if isinstance(dim, (tuple, list)) else (dim,)
    idx = [norm_dim(d, len(shape)) for d in dims]
    if any(i is None for i in idx):
        return None
    if keepdim:
        return tuple(1 if i in idx else x for i, x in enumerate(shape))
    return tuple(x for i, x in enumerate(shape) if i not in idx)


def reduce_dtype(op: str, dtype: Optional[str]) -> Optional[str]:
    if dtype is None:
        return None
    if op in ("sum", "prod", "cumsum", "cumprod"):
        return "int64" if dtype in _INT_RANK else dtype
    if op in ("argmax", "argmin"):
        return "int64"
    if op in ("any", "all"):
        return "bool"
    if op in ("mean", "std", "var", "norm"):
        return dtype if dtype in _FLOAT_RANK else None
    return dtype  # max, min, amax, amin


def stack(shapes: Sequence[Shape], dim: Any) -> Shape:
    known = [s for s in shapes if s is not None]
    if not shapes or len(known) != len(shapes):
        return None
    first = known[0]
    if any(len(s) != len(first) for s in known):
        return None
    d = norm_dim(dim, len(first) + 1)
    if d is None:
        return None
    merged = []
    for i in range(len(first)):
        vals = [s[i] for s in known]
        merged.append(vals[0] if all(_eq(v, vals[0]) for v in vals) else None)
    return tuple(merged[:d]) + (len(shapes),) + tuple(merged[d:])


def cat(shapes: Sequence[Shape], dim: Any) -> Shape:
    known = [s for s in shapes if s is not None]
    if not shapes or len(known) != len(shapes):
        return None
    first = known[0]
    if any(len(s) != len(first) for s in known):
        return None
    d = norm_dim(dim, len(first))
    if d is None:
        return None
    out: List[Any] = []
    for i in range(len(first)):
        vals = [s[i] for s in known]
        if i == d:
            total: Any = 0
            for v in vals:
                if v is None or total is None:
                    total = None
                else:
                    total = total + v
            out.append(total)
        else:
            out.append(vals[0] if all(_eq(v, vals[0]) for v in vals) else None)
    return tuple(out)


def meshgrid(shapes: Sequence[Shape], indexing: str) -> Optional[List[Shape]]:
    sizes = []
    for s in shapes:
        if s is None or len(s) > 1:
            return None
        sizes.append(s[0] if s else 1)
    if indexing == "xy" and len(sizes) >= 2:
        sizes[0], sizes[1] = sizes[1], sizes[0]
    return [tuple(sizes) for _ in shapes]


# -- einops -------------------------------------------------------------------------------------

_TOKEN = re.compile(r"\(|\)|\.\.\.|[A-Za-z_][A-Za-z0-9_]*|\d+")


def _parse_side(side: str) -> Optional[List[List[str]]]:
    """'b (h w) c' -> [['b'], ['h', 'w'], ['c']]; anonymous axes '1' kept as '1'."""
    groups: List[List[str]] = []
    cur: Optional[List[str]] = None
    for tok in _TOKEN.findall(side):
        if tok == "(":
            if cur is not None:
                return None
            cur = []
        elif tok == ")":
            if cur is None:
                return None
            groups.append(cur)
            cur = None
        elif cur is not None:
            cur.append(tok)
        else:
            groups.append([tok])
    if cur is not None:
        return None
    if re.sub(r"[\s()A-Za-z0-9_.]", "", side):
        return None
    return groups


def einops_shape(op: str, shape: Shape, pattern: Any, axes: Dict[str, Any]) -> Shape:
    """Output shape of einops.rearrange / repeat / reduce, or None when it cannot be decided."""
    if shape is None or not isinstance(pattern, str) or "->" not in pattern:
        return None
    left_s, right_s = pattern.split("->", 1)
    left, right = _parse_side(left_s), _parse_side(right_s)
    if left is None or right is None or any("..." in g for g in left + right):
        return None
    if len(left) != len(shape):
        return None
    sizes: Dict[str, Any] = {k: v for k, v in axes.items() if is_intlike(v)}
    for group, dim in zip(left, shape):
        unknown = [a for a in group if a not in sizes and not a.isdigit()]
        known: Any = 1
        for a in group:
            if a.isdigit():
                known = known * int(a)
            elif a in sizes:
                known = known * sizes[a]
        if len(unknown) == 1:
            if dim is None:
                sizes[unknown[0]] = None
            elif is_int(dim) and is_int(known):
                if known == 0 or dim % known:
                    return None
                sizes[unknown[0]] = dim // known
            elif known == 1:
                sizes[unknown[0]] = dim
            else:
                sizes[unknown[0]] = dim // known if isinstance(dim // known, (int, Sym)) else None
        elif len(unknown) > 1:
            return None
    out: List[Any] = []
    for group in right:
        total: Any = 1
        for a in group:
            if a.isdigit():
                total = total * int(a) if total is not None else None
            elif a in sizes:
                total = total * sizes[a] if total is not None and sizes[a] is not None else None
            else:
                return None  # a new axis without a given length
        out.append(total)
    if op == "reduce":
        return tuple(out)
    return tuple(out)
