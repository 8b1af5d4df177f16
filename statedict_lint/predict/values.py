"""The evaluator's value domain.

Concrete Python values (int, float, str, bool, None, tuple, list, dict) are represented by themselves;
symbolic integers by ``Sym``. Everything else is one of the classes below. ``Unknown`` carries the source
line and the reason, and poisons only what depends on it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable, Dict, List, Optional, Tuple

from statedict_lint.predict.symbolic import Sym

if TYPE_CHECKING:  # annotations only: the value domain imports neither libcst nor the engine
    import libcst as cst

    from statedict_lint.predict.engine.scopes import Frame, ModuleScope
    from statedict_lint.source.loader import SourceFile


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


class TableView(Unknown):
    """``module._modules`` / ``_parameters`` / ``_buffers`` read directly: unknown, but what removes items through it
    (``clear()``, ``pop()``, ``del view[k]``, ...) calls ``forget``: what the table held is not claimed any more."""

    __slots__ = ("forget",)

    def __init__(self, reason: str, line: int, path: str, forget: Callable[[], None]) -> None:
        super().__init__(reason, line, path, True)
        self.forget = forget

    def __deepcopy__(self, memo: dict) -> "TableView":
        return self


TABLE_MUTATORS = frozenset(("clear", "pop", "popitem", "update", "setdefault", "__delitem__", "__setitem__",
                            "move_to_end", "__ior__", "discard", "remove"))


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
    # state_dict hooks registered on this module (line, path, what): the keys torch saves are not the registered ones
    state_hooks: List[Tuple[int, str, str]] = field(default_factory=list)
    # handed to code that is not followed (an unknown function, an unmodelled Module method): a name it does not
    # hold may have been added there, so reading one is this Unknown -- never a false AttributeError
    opened: Optional[Unknown] = None

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
    tainted: Optional[Unknown] = None  # handed to code that is not modelled: its attributes cannot be known
    frozen: bool = False  # an instance of a frozen dataclass: `obj.x = v` raises, object.__setattr__ does not
    items: Optional[tuple] = None  # a NamedTuple instance: its items, in field order

    def value_key(self) -> Optional[tuple]:
        """What a frozen ``@dataclass`` (eq=True, its own __eq__/__hash__) instance is hashed and compared by:
        its exact class and its field values, when they are all known hashable values; else None."""
        names = getattr(self.cls, "dc_key_fields", None)
        if not self.frozen or names is None or self.tainted is not None:
            return None
        vals = []
        for n in names:
            if n not in self.attrs or not _key_value(self.attrs[n]):
                return None
            vals.append(self.attrs[n])
        return (id(self.cls), tuple(vals))

    def __eq__(self, other: object) -> bool:
        if self is other:
            return True
        if not isinstance(other, InstanceValue):
            return NotImplemented
        a = self.value_key()
        return a is not None and a == other.value_key()

    def __hash__(self) -> int:
        k = self.value_key()
        return hash(k) if k is not None else object.__hash__(self)


def _key_value(v: Any) -> bool:
    """A value hashed and compared the same way by the evaluator and by Python."""
    if isinstance(v, (int, float, str, bytes, bool, type(None), complex)):
        return True
    if isinstance(v, tuple):
        return all(_key_value(x) for x in v)
    return isinstance(v, InstanceValue) and v.value_key() is not None


@dataclass(eq=False)
class ContextGenerator:
    """``f(...)`` where ``f`` is decorated with ``contextlib.contextmanager``: run by a ``with`` statement (the
    generator's code up to its ``yield`` on enter, the rest on exit)."""

    func: Any  # FunctionValue
    args: List[Any]
    kwargs: Dict[str, Any]

    def __deepcopy__(self, memo: dict) -> "ContextGenerator":
        return self


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


# -- the engine's own values: classes, functions and helper values of the interpreted code ------------

UNKNOWN_BOOL = object()  # a truth value the evaluator cannot decide


class FunctionValue:
    def __init__(self, node: cst.FunctionDef | cst.Lambda, scope: "ModuleScope", closure: Optional["Frame"],
                 name: str, defaults: Dict[str, Any], owner: Any = None) -> None:
        self.node = node
        self.scope = scope
        self.closure = closure
        self.name = name
        self.defaults = defaults
        self.owner = owner  # ClassValue when defined in a class body
        self.decorators: List[str] = []
        self.sf: SourceFile = scope.sf  # where the function is written (catalog chunks differ from scope.sf)
        self.setter: Optional["FunctionValue"] = None  # a property's setter (``@x.setter``)

    def __deepcopy__(self, memo: dict) -> "FunctionValue":
        return self

    def __repr__(self) -> str:
        return f"<function {self.name}>"


class ClassValue:
    def __init__(self, name: str, qualname: str, bases: List[Any], scope: Optional["ModuleScope"],
                 node: Optional[cst.ClassDef]) -> None:
        self.name = name
        self.qualname = qualname
        self.bases = bases
        self.scope = scope
        self.node = node
        self.attrs: Dict[str, Any] = {}
        self.is_dataclass = False
        self.fields: List[Tuple[str, Any, Any]] = []  # (name, default node or None, annotation)
        self.intrinsic: str = ""  # "Module" for torch.nn.Module, container names, "object"
        self.dc_options: Dict[str, Any] = {}  # keyword options of @dataclass(...) (kw_only, frozen, init, ...)
        # the fields a frozen dataclass's generated __eq__/__hash__ compare (InstanceValue.value_key), or None
        self.dc_key_fields: Optional[Tuple[str, ...]] = None
        # why the class cannot be modelled exactly (a decorator or metaclass that is not modelled, a class
        # handed to unmodelled code): instances and attributes of it, and of its subclasses, are unknown
        self.taint: Optional[Unknown] = None
        # a collections.namedtuple(...) class: its fields with their defaults (predict/libs/stdlib.py)
        self.nt_fields: Optional[List[Tuple[str, Any]]] = None
        self.enum_members: Optional[Dict[str, Any]] = None  # an Enum's members made so far (engine/classes.py)
        self._mro: Optional[List["ClassValue"]] = None
        self.sf: Optional[SourceFile] = scope.sf if scope is not None else None

    def __deepcopy__(self, memo: dict) -> "ClassValue":
        return self

    def __repr__(self) -> str:
        return f"<class {self.qualname}>"

    def mro(self) -> List["ClassValue"]:
        if self._mro is None:
            seqs = [b.mro() for b in self.bases if isinstance(b, ClassValue)]
            seqs.append([b for b in self.bases if isinstance(b, ClassValue)])
            out = [self]
            seqs = [list(s) for s in seqs]
            while True:
                seqs = [s for s in seqs if s]
                if not seqs:
                    break
                for s in seqs:
                    head = s[0]
                    if not any(head in t[1:] for t in seqs):
                        break
                else:  # inconsistent MRO: fall back to depth-first
                    head = seqs[0][0]
                out.append(head)
                for s in seqs:
                    if s and s[0] is head:
                        del s[0]
            self._mro = out
        return self._mro

    def is_module(self) -> bool:
        return any(c.intrinsic == "Module" for c in self.mro())

    def is_enum(self) -> bool:
        return any(c.intrinsic == "enum" for c in self.mro())

    def tainted(self) -> Optional[Unknown]:
        for c in self.mro():
            if c.taint is not None:
                return c.taint
        return None

    def user_hook(self, name: str) -> Tuple[Any, Any]:
        """``name`` (a dunder hook like ``__setattr__``) defined by a class read from source -- not by torch's
        own classes (the catalog) nor by a library model's intrinsic classes."""
        for c in self.mro():
            if c.intrinsic or c.qualname.startswith("torch."):
                continue
            if name in c.attrs:
                return c.attrs[name], c
        return None, None

    def has_unknown_base(self) -> Optional[Unknown]:
        for c in self.mro():
            for b in c.bases:
                if isinstance(b, Unknown):
                    return b
        return None

    def find(self, name: str) -> Tuple[Any, Any]:
        for c in self.mro():
            if name in c.attrs:
                return c.attrs[name], c
        return None, None


class SymRange:
    def __init__(self, start: Any, stop: Any, step: Any, count: Any) -> None:
        self.start, self.stop, self.step, self.count = start, stop, step, count


class SymSlice:
    def __init__(self, lo: Any, hi: Any, st: Any) -> None:
        self.lo, self.hi, self.st = lo, hi, st


class SymKey:
    """A dict key that is not known (symbolic or unknown)."""

    def __init__(self, key: Any) -> None:
        self.key = key


class StarUnknown:
    def __init__(self, value: Unknown) -> None:
        self.value = value


class StarUnknownTuple(StarUnknown):
    pass


class GeneratorValue:
    """A one-shot iterator (a generator expression, iter(), zip(), map(), enumerate(), filter(), reversed()):
    ``items[pos:]`` are still to come (``items`` may be the live list iter() was given); ``pos`` None once where
    it stands cannot be known. ``depth``: the number of undecidable conditions it was made under (consumed under
    more, in one branch only, it is left unknown)."""

    def __init__(self, items: List[Any], depth: int = 0) -> None:
        self.items = items
        self.pos: Optional[int] = 0
        self.depth = depth


class DictView:
    def __init__(self, d: dict, kind: str) -> None:
        self.d, self.kind = d, kind

    def items(self) -> List[Any]:
        if self.kind == "keys":
            return list(self.d.keys())
        if self.kind == "values":
            return list(self.d.values())
        return [tuple(kv) for kv in self.d.items()]


def maybe_state(v: Any) -> bool:
    if isinstance(v, Unknown):
        return v.maybe_state
    if isinstance(v, (ModuleValue, TensorSpec, ParamValue, BufferMarker, Opaque)):
        return True
    if isinstance(v, (list, tuple)):
        return any(maybe_state(x) for x in v)
    if isinstance(v, dict):
        return any(maybe_state(x) for x in v.values())
    return False


def formattable(v: Any) -> bool:
    """True when Python's own formatting (str.format, f-strings, %, format()) of ``v`` gives exactly what the real
    program prints: plain Python values only, all the way down (a TensorSpec or ModuleValue would format as the
    evaluator's object, or raise)."""
    if isinstance(v, (int, float, str, bytes, bool, type(None), complex)):
        return True
    if isinstance(v, (tuple, list)):
        return all(formattable(x) for x in v)
    if isinstance(v, dict):
        return all(formattable(k) and formattable(x) for k, x in v.items())
    return False
