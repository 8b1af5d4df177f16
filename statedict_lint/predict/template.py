"""The predicted state_dict: what every consumer (keys, check, diff, lock, lint) reads.

A ``Prediction`` lists ``KeySpec`` entries in torch's state_dict order. A key may hold ``{i}``
placeholders when its repetition count is symbolic (``repeat`` maps each placeholder to its count).
A shape element is an ``int``, a ``Sym`` (symbolic expression) or ``None`` (unknown); ``shape`` itself is
``None`` when even the rank is unknown. ``dtype`` is a torch dtype name without the ``torch.`` prefix
(``"float32"``, ``"int64"``) or ``None`` when unknown. Anything the predictor could not settle is listed
in ``unresolved`` with its source line and the reason, and makes ``complete`` false.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional, Tuple, Union

from statedict_lint.predict.symbolic import Sym, render

ShapeElem = Union[int, Sym, None]

PLACEHOLDER = re.compile(r"\{([^{}]+)\}")  # `{i}` in a symbolic key
PLACEHOLDER_NAMES = "ijklmnpq"  # the placeholders of nested repetitions, outermost first; then i8, i9, ...


def placeholder(depth: int) -> str:
    """The name of the placeholder at nesting ``depth`` (0: ``i``, 1: ``j``, ..., 8: ``i8``)."""
    return PLACEHOLDER_NAMES[depth] if depth < len(PLACEHOLDER_NAMES) else f"i{depth}"


def key_pattern(key: str) -> "re.Pattern[str]":
    """The concrete keys a symbolic key stands for: ``h.{i}.w`` matches ``h.0.w``, ``h.11.w``; each
    placeholder's index is a group (``int(m.group(1))``). A key without placeholders matches only itself."""
    out, pos = "", 0
    for m in PLACEHOLDER.finditer(key):
        out += re.escape(key[pos:m.start()]) + r"([0-9]+)"
        pos = m.end()
    return re.compile(out + re.escape(key[pos:]) + r"\Z")


@dataclass
class KeySpec:
    key: str
    shape: Optional[Tuple[ShapeElem, ...]]
    dtype: Optional[str]
    kind: str  # "parameter" | "buffer" | "extra_state"
    line: int  # source line that created the tensor (0 when unknown)
    path: str = ""  # source file of that line
    layer: str = ""  # qualified class of the owning module, e.g. "torch.nn.Linear"
    origin: str = ""  # the constructor call that made the owning module, e.g. "nn.Linear(n_embd, 3 * n_embd)"
    origin_line: int = 0
    origin_path: str = ""
    condition: Optional[str] = None  # set when the key exists only on one branch of an unknown condition
    repeat: Dict[str, Any] = field(default_factory=dict)  # placeholder -> count (int or Sym)
    persistent: bool = True
    tied_to: Optional[str] = None  # key of the first entry sharing the same tensor

    @property
    def shape_known(self) -> bool:
        return self.shape is not None and all(isinstance(d, int) for d in self.shape)

    def shape_json(self) -> Optional[List[Any]]:
        if self.shape is None:
            return None
        return [d if isinstance(d, int) else (render(d) if isinstance(d, Sym) else None) for d in self.shape]

    def numel(self) -> Optional[int]:
        if not self.shape_known:
            return None
        n = 1
        for d in self.shape or ():
            if not isinstance(d, int):  # (shape_known: every dim is an int)
                return None
            n *= d
        return n


@dataclass
class Unresolved:
    line: int
    message: str
    path: str = ""
    # for "some keys exist only if ...": what the condition is -- "switch" (an unbound constructor value, bind it
    # with --set), "hook" (torch's state_dict may rename or drop keys: a hook, an override, code not followed),
    # "condition" (anything else the tool cannot decide: the run-time environment, an unknown value)
    kind: str = ""
    # the keys this line leaves unsettled, as data: a key or a module prefix P (every key equal to P or under
    # ``P.``; "" for the whole model), None when it names no key (verify reads it instead of parsing the message)
    key: Optional[str] = None

    def to_json(self) -> Dict[str, Any]:
        return {"line": self.line, "message": self.message}

    def explains(self, key: str) -> bool:
        """Whether ``key`` is one of the keys this line leaves unsettled."""
        p = self.key
        return p is not None and (p == "" or key == p or key.startswith(p + "."))


@dataclass
class Prediction:
    target: str
    keys: List[KeySpec] = field(default_factory=list)
    unresolved: List[Unresolved] = field(default_factory=list)
    non_persistent: List[KeySpec] = field(default_factory=list)  # buffers registered persistent=False
    bindings: Dict[str, Any] = field(default_factory=dict)
    warnings: List[str] = field(default_factory=list)  # bindings the class never reads (predict/api.py)
    # module path ("" for the root) -> qualified class name, in module order (kept by the prediction cache)
    modules: Dict[str, str] = field(default_factory=dict)

    @property
    def complete(self) -> bool:
        if self.unresolved:
            return False
        for k in self.keys:
            if k.kind == "extra_state":  # an arbitrary object, not a tensor: nothing to settle but the key
                if k.condition is not None:
                    return False
                continue
            if k.condition is not None or k.dtype is None or k.shape is None:
                return False
            if any(not isinstance(d, int) for d in k.shape):  # unknown or symbolic
                return False
            if k.repeat:
                return False
        return True

    def variables(self) -> List[str]:
        names: set = set()
        for k in self.keys:
            for d in k.shape or ():
                if isinstance(d, Sym):
                    names |= d.variables()
            for count in k.repeat.values():
                if isinstance(count, Sym):
                    names |= count.variables()
        return sorted(names)

    def to_json(self) -> Dict[str, Any]:
        keys: Dict[str, Any] = {}
        for k in self.keys:
            entry: Dict[str, Any] = {"shape": k.shape_json(), "dtype": k.dtype, "kind": k.kind, "line": k.line}
            if k.repeat:
                entry["repeat"] = {p: render(c) for p, c in k.repeat.items()}
            if k.condition is not None:
                entry["condition"] = k.condition
            if k.tied_to:
                entry["tied_to"] = k.tied_to
            keys[k.key] = entry
        return {
            "target": self.target,
            "keys": keys,
            "unresolved": [u.to_json() for u in self.unresolved],
            "complete": self.complete,
        }
