"""The evaluator's value domain.

Concrete Python values (int, float, str, bool, None, tuple, list, dict) are represented by themselves;
symbolic integers by ``Sym``. Everything else is one of the classes below. ``Unknown`` carries the source
line and the reason, and poisons only what depends on it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Dict, List, Optional, Tuple

from statedict_lint.predict.symbolic import Sym


class Unknown:
    """A value the evaluator cannot know. ``maybe_state``: could it be a module, parameter or tensor?"""

    __slots__ = ("reason", "line", "path", "maybe_state")

    def __init__(self, reason: str, line: int = 0, path: str = "", maybe_state: bool = True) -> None:
        self.reason = reason
        self.line = line
        self.path = path
        self.maybe_state = maybe_state

    def as_value(self) -> "Unknown":
        return self if not self.maybe_state else Unknown(self.reason, self.line, self.path, False)

    def __repr__(self) -> str:
        return f"Unknown(line {self.line}: {self.reason})"

    def __deepcopy__(self, memo: dict) -> "Unknown":
        return self


class Opaque:
    """An unbound constructor parameter (or an attribute of one): ``config``, ``config.n_embd``.

    Used as an integer it becomes the symbolic variable of the same name. ``kind`` comes from the
    annotation when there is one: "int", "value" (bool/float/str/config objects), "module", "" (unknown).
    """

    __slots__ = ("name", "kind", "line", "path", "used_as_value", "bound")

    def __init__(self, name: str, kind: str = "", line: int = 0, path: str = "",
                 bound: Optional[Dict[str, Any]] = None) -> None:
        self.name = name
        self.kind = kind
        self.line = line
        self.path = path
        self.used_as_value = False
        self.bound = bound or {}  # attributes given with --set NAME.attr=VALUE

    def sym(self) -> Sym:
        self.used_as_value = True
        return Sym.var(self.name)

    def __repr__(self) -> str:
        return f"Opaque({self.name})"

    def __deepcopy__(self, memo: dict) -> "Opaque":
        return self


@dataclass(eq=False)
class TensorSpec:
    shape: Optional[Tuple[Any, ...]]  # elements: int | Sym | None (unknown); None: rank unknown
    dtype: Optional[str]
    line: int = 0
    path: str = ""
    why: str = ""  # reason when shape or dtype is unknown

    def same(self, other: "TensorSpec") -> bool:
        return self.shape == other.shape and self.dtype == other.dtype


@dataclass(eq=False)
class ParamValue:
    """An ``nn.Parameter``: a tensor registered as a parameter when assigned to a module."""

    tensor: TensorSpec

    @property
    def shape(self) -> Optional[Tuple[Any, ...]]:
        return self.tensor.shape


@dataclass(eq=False)
class BufferMarker:
    """``nn.Buffer(tensor, persistent=...)``: registered as a buffer when assigned to a module."""

    tensor: TensorSpec
    persistent: bool = True


@dataclass(eq=False)
class Repeated:
    """A list item standing for ``count`` items made by a loop with a symbolic trip count."""

    value: Any
    count: Any  # Sym
    placeholder: str  # "i", "j", ...


@dataclass(eq=False)
class Entry:
    """One registered name of a module: a parameter, buffer or child (or an unknown thing)."""

    value: Any  # ParamValue | TensorSpec | ModuleValue | None | Unknown
    line: int = 0
    path: str = ""
    condition: Optional[str] = None
    persistent: bool = True
    run: Any = None  # for container entries standing for a run of items: the count (int, Sym or Unknown)
    placeholder: Optional[Tuple[str, Any]] = None  # (placeholder, count) when the entry's name holds "{i}"
    ctx: Optional[List[Tuple[str, Any]]] = None  # enclosing symbolic loops when it was registered


@dataclass(eq=False)
class ModuleValue:
    cls: Any  # ClassValue (user or catalog) or a container name string
    name: str  # qualified class name for reports, e.g. "torch.nn.Linear", "model.Block"
    params: Dict[str, Entry] = field(default_factory=dict)
    buffers: Dict[str, Entry] = field(default_factory=dict)
    children: Dict[str, Entry] = field(default_factory=dict)
    attrs: Dict[str, Any] = field(default_factory=dict)
    unknown_attrs: Dict[str, Entry] = field(default_factory=dict)  # attributes that may hold state
    origin: Any = None  # (cst node, SourceFile) of the constructor call
    origin_line: int = 0
    origin_path: str = ""
    extra_state: bool = False
    container: str = ""  # "Sequential" | "ModuleList" | "ModuleDict" | "ParameterList" | "ParameterDict" | ""

    def lookup(self, name: str) -> Tuple[bool, Any]:
        for table in (self.params, self.buffers, self.children):
            if name in table:
                return True, table[name].value
        if name in self.attrs:
            return True, self.attrs[name]
        if name in self.unknown_attrs:
            return True, self.unknown_attrs[name].value
        return False, None

    def remove(self, name: str) -> None:
        for table in (self.params, self.buffers, self.children, self.unknown_attrs):
            table.pop(name, None)
        self.attrs.pop(name, None)


@dataclass(eq=False)
class InstanceValue:
    """An instance of a plain (non-Module) user class: config objects, dataclasses, helpers."""

    cls: Any
    attrs: Dict[str, Any] = field(default_factory=dict)


@dataclass(eq=False)
class Intrinsic:
    """A Python-level implementation of a library callable (torch.zeros, range, math.ceil, ...)."""

    name: str
    fn: Callable[..., Any]

    def __deepcopy__(self, memo: dict) -> "Intrinsic":
        return self


@dataclass(eq=False)
class BoundMethod:
    obj: Any
    func: Any  # FunctionValue | Intrinsic
    cls: Any = None  # class where the function was found (for super())


@dataclass(eq=False)
class Partial:
    func: Any
    args: List[Any]
    kwargs: Dict[str, Any]


@dataclass(eq=False)
class NamespaceValue:
    """A library namespace (``torch``, ``torch.nn``, ``math``) or a resolved user module."""

    qualname: str
    scope: Any = None  # ModuleScope for user/installed modules

    def __deepcopy__(self, memo: dict) -> "NamespaceValue":
        return self


@dataclass(eq=False)
class DtypeValue:
    name: str  # "float32"

    def __deepcopy__(self, memo: dict) -> "DtypeValue":
        return self


@dataclass(eq=False)
class DeviceValue:
    name: str

    def __deepcopy__(self, memo: dict) -> "DeviceValue":
        return self


@dataclass(eq=False)
class SuperValue:
    obj: Any
    after: Any  # class after which the MRO search starts


def is_unknown(v: Any) -> bool:
    return isinstance(v, Unknown)
