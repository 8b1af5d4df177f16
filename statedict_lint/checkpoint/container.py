"""Find the state_dict inside a checkpoint's object tree and describe what else the file holds."""

from __future__ import annotations

from collections import OrderedDict, deque
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional, Tuple

from statedict_lint.checkpoint.records import Checkpoint, Inert, TensorRecord
from statedict_lint.errors import UserError

# preferred container keys, best first (the EMA copies come after the live weights)
PREFERRED = ["state_dict", "model_state_dict", "model", "module", "net", "network", "model_state", "weights",
             "params", "state_dict_ema", "model_ema", "ema_state_dict", "ema", "ema_model"]
MAX_DEPTH = 4


@dataclass
class Found:
    path: List[str]  # dict keys from the root to the state_dict ([] when the file is the state_dict itself)
    state_dict: "OrderedDict[str, Any]"
    kind: str  # "state_dict" | "lightning" | "container"
    versions: Optional[Dict[str, Any]]  # the state_dict's _metadata (module prefix -> {"version": n})
    others: Dict[str, str] = field(default_factory=dict)  # other top-level entries -> short description
    alternatives: List[str] = field(default_factory=list)  # other state_dict-like entries
    explicit: bool = False

    @property
    def dotted(self) -> str:
        return ".".join(self.path)


def is_state_dict(obj: Any) -> bool:
    if not isinstance(obj, dict) or not obj:
        return False
    tensors = 0
    for k, v in obj.items():
        if not isinstance(k, str):
            return False
        if isinstance(v, TensorRecord):
            tensors += 1
        elif not k.endswith("_extra_state"):
            return False
    return tensors > 0


def _mostly_tensors(obj: Any, explicit: bool = False) -> bool:
    """A dict with string keys whose values are tensors but for a few plain values (no nested dicts: that would
    be a container) -- with ``explicit`` (named by --key), any dict of string keys holding a tensor."""
    if not isinstance(obj, dict) or not obj or not all(isinstance(k, str) for k in obj):
        return False
    tensors = sum(1 for v in obj.values() if isinstance(v, TensorRecord))
    if explicit:
        return tensors > 0
    return tensors * 2 > len(obj) and not any(isinstance(v, dict) for v in obj.values())


def _candidates(root: Any) -> List[List[str]]:
    """Paths to the state_dict-like dicts, breadth-first. Each dict is visited once, at its shortest path: a
    pickle's memo lets one dict appear under many parents (100 children a level share the level below),
    which without the visited set makes the walk exponential in the depth."""
    out: List[List[str]] = []
    queue: "deque[Tuple[List[str], Any]]" = deque([([], root)])
    seen = {id(root)}
    while queue:
        path, obj = queue.popleft()
        if is_state_dict(obj):
            out.append(path)
            continue
        if isinstance(obj, dict) and len(path) < MAX_DEPTH:
            for k, v in obj.items():
                if isinstance(k, str) and isinstance(v, dict) and id(v) not in seen:
                    seen.add(id(v))
                    queue.append((path + [k], v))
    return out


def _rank(path: List[str]) -> Tuple[int, int, int]:
    if not path:
        return (0, 0, 0)
    last = path[-1]
    pref = PREFERRED.index(last) if last in PREFERRED else len(PREFERRED)
    return (1, pref, len(path))


def _get(root: Any, path: List[str]) -> Any:
    obj = root
    for k in path:
        obj = obj[k]
    return obj


def _resolve_key(root: Any, dotted: str) -> List[str]:
    """--key a.b.c: walk dict keys, each step taking the longest key that matches (keys may hold dots)."""
    path: List[str] = []
    obj = root
    rest = dotted
    while rest:
        if not isinstance(obj, dict):
            raise UserError(f"--key {dotted}: {'.'.join(path) or 'the file'} is not a dict")
        parts = rest.split(".")
        for n in range(len(parts), 0, -1):
            k = ".".join(parts[:n])
            if k in obj:
                path.append(k)
                obj = obj[k]
                rest = ".".join(parts[n:])
                break
        else:
            keys = [str(k) for k in obj.keys()][:8]
            raise UserError(f"--key {dotted}: no entry {parts[0]!r} (has: {', '.join(keys) or 'nothing'})")
    return path


def describe(v: Any) -> str:
    if isinstance(v, TensorRecord):
        return f"tensor {v.dtype}{list(v.shape)}"
    if isinstance(v, int) and not isinstance(v, bool) and v.bit_length() > 64:
        return f"int of {v.bit_length()} bits"  # Python refuses to print ints of over 4,300 digits
    if isinstance(v, (bool, int, float)) or v is None:
        return repr(v)
    if isinstance(v, str):
        return repr(v if len(v) <= 40 else v[:37] + "...")
    if isinstance(v, dict):
        n = _count_tensors(v)
        return f"dict of {len(v)}" + (f", {n} tensors" if n else "")
    if isinstance(v, (list, tuple)):
        n = _count_tensors(v)
        return f"{type(v).__name__} of {len(v)}" + (f", {n} tensors" if n else "")
    if isinstance(v, Inert):
        return v.name
    return type(v).__name__


def _count_tensors(obj: Any) -> int:
    n = 0
    stack = [obj]
    seen: set = set()
    while stack:
        o = stack.pop()
        if id(o) in seen:
            continue
        seen.add(id(o))
        if isinstance(o, TensorRecord):
            n += 1
        elif isinstance(o, dict):
            stack.extend(o.values())
        elif isinstance(o, (list, tuple)):
            stack.extend(o)
    return n


def find_state_dict(ck: Checkpoint, key: Optional[str] = None) -> Found:
    root = ck.root
    explicit = key is not None
    if key:
        path = _resolve_key(root, key)
        obj = _get(root, path)
        if not (is_state_dict(obj) or _mostly_tensors(obj, explicit=True)):
            raise UserError(f"--key {key}: that entry is not a dict of tensors ({describe(obj)})")
        cands = [path]
    else:
        cands = _candidates(root)
        if not cands and _mostly_tensors(root):
            cands = [[]]  # a state_dict with a few non-tensor values: torch's load reports those, and so does check
        if not cands:
            raise UserError(f"{ck.path}: no state_dict found (holds {describe(root)}"
                            + (f": {', '.join(str(k) for k in list(root)[:6])}" if isinstance(root, dict) else "")
                            + ")")
        cands.sort(key=_rank)
        path = cands[0]
    sd = _get(root, path)
    kind = "state_dict" if not path else "container"
    if isinstance(root, dict) and ("pytorch-lightning_version" in root or (
            path == ["state_dict"] and any(k in root for k in ("optimizer_states", "global_step", "lr_schedulers",
                                                               "loops", "callbacks")))):
        kind = "lightning"
    others: Dict[str, str] = {}
    if path and isinstance(root, dict):
        for k, v in root.items():
            if str(k) != path[0]:
                others[str(k)] = describe(v)
    versions = getattr(sd, "__dict__", {}).get("_metadata") if isinstance(sd, OrderedDict) else None
    if not isinstance(versions, dict):
        versions = None
    return Found(path=path, state_dict=sd, kind=kind, versions=versions, others=others,
                 alternatives=[".".join(p) for p in cands if p != path], explicit=explicit)
