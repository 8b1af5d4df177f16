"""`--loader torch`: the same table built with torch.load(weights_only=True, map_location="meta") (needs torch)."""

from __future__ import annotations

import os
from collections import OrderedDict
from typing import Any

from statedict_lint.checkpoint.records import Checkpoint, TensorRecord
from statedict_lint.errors import UserError


def _convert(obj: Any, torch: Any, memo: dict) -> Any:
    if id(obj) in memo:
        return memo[id(obj)]
    if isinstance(obj, torch.Tensor):
        out: Any = TensorRecord(dtype=str(obj.dtype).replace("torch.", ""), shape=tuple(obj.shape),
                                is_parameter=isinstance(obj, torch.nn.Parameter))
    elif isinstance(obj, dict):
        out = OrderedDict() if isinstance(obj, OrderedDict) else {}
        for k, v in obj.items():
            out[k] = _convert(v, torch, memo)
        meta = getattr(obj, "_metadata", None)
        if meta is not None and isinstance(out, OrderedDict):
            out._metadata = meta  # type: ignore[attr-defined]  # (where torch's state_dict() keeps it)
    elif isinstance(obj, list):
        out = [_convert(v, torch, memo) for v in obj]
    elif isinstance(obj, tuple):
        out = tuple(_convert(v, torch, memo) for v in obj)
    else:
        out = obj
    memo[id(obj)] = out
    return out


def read_with_torch(path: str) -> Checkpoint:
    try:
        import torch
    except ImportError:
        raise UserError("--loader torch needs torch installed") from None
    from statedict_lint.checkpoint.readers import _pick_in_directory

    if os.path.isdir(path):
        path = _pick_in_directory(path)
    if not os.path.isfile(path):
        raise UserError(f"no such file: {path}")
    try:
        if path.endswith(".safetensors"):
            from safetensors import safe_open

            root: Any = OrderedDict()
            with safe_open(path, framework="pt") as f:
                meta = f.metadata()
                for k in f.keys():
                    sl = f.get_slice(k)
                    root[k] = TensorRecord(dtype=str(sl.get_dtype()), shape=tuple(sl.get_shape()), file=path)
            from statedict_lint.checkpoint.readers import SAFETENSORS_DTYPES

            for rec in root.values():
                rec.dtype = SAFETENSORS_DTYPES.get(rec.dtype, rec.dtype)
            return Checkpoint(path=path, format="safetensors (safe_open)", root=root, files=[path], metadata=meta,
                              size=os.path.getsize(path))
        obj = torch.load(path, weights_only=True, map_location="meta")
    except UserError:
        raise
    except Exception as exc:
        raise UserError(f"{path}: torch.load failed: {str(exc).splitlines()[0] if str(exc) else type(exc).__name__}") \
            from None
    return Checkpoint(path=path, format="torch.load", root=_convert(obj, torch, {}), files=[path],
                      size=os.path.getsize(path))
