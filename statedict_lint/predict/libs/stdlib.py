"""The Python standard library as far as model code uses it: math, copy, functools, collections,
dataclasses, itertools, typing, enum, abc, warnings/logging (no state), os/sys (run-time environment)."""

from __future__ import annotations

import itertools
import math
from collections import OrderedDict
from typing import Any, Dict, List, Optional

from statedict_lint.predict.engine_api import Engine
from statedict_lint.predict.libs import NOT_MINE, LibraryModel, register
from statedict_lint.predict.libs._common import TypingAlias, raise_
from statedict_lint.predict.symbolic import Sym, is_int, is_intlike
from statedict_lint.predict.values import (
    ClassValue,
    ContextGenerator,
    Entry,
    FunctionValue,
    InstanceValue,
    Intrinsic,
    ModuleValue,
    NamespaceValue,
    Opaque,
    ParamValue,
    Partial,
    Repeated,
    StarUnknown,
    TensorSpec,
    Unknown,
)

STDLIB_NAMESPACES = {
    "math", "copy", "functools", "collections", "typing", "dataclasses", "itertools", "warnings", "logging",
    "os", "sys", "abc", "enum", "numbers", "operator", "types", "typing_extensions", "collections.abc", "inspect", "re", "json", "argparse",
    "importlib", "importlib.util", "contextlib",
}

# what the analysing machine has is not what the machine building the model has: never a value
RUNTIME_ENVIRONMENT = frozenset((
    "os.environ", "os.getenv", "os.environb", "os.name", "os.cpu_count", "sys.version_info", "sys.version",
    "sys.platform", "sys.argv", "sys.hexversion", "sys.byteorder", "sys.maxsize", "sys.implementation",
    "os.path.exists", "os.path.isfile", "os.path.isdir", "os.listdir", "os.getcwd",
))

ENUM_BASES = ("enum.Enum", "enum.IntEnum", "enum.Flag", "enum.IntFlag", "enum.StrEnum")


def _deepcopy(lib: LibraryModel, v: Any, memo: Optional[dict] = None) -> Any:
    return deep_clone(v)


def deep_clone(v: Any) -> Any:
    """copy.deepcopy over evaluator values: modules, parameters and tensors are copied (ties inside kept)."""
    memo: Dict[int, Any] = {}

    def cp(x: Any) -> Any:
        t = type(x)
        if t in (int, float, str, bool, type(None), Sym, bytes):
            return x
        if id(x) in memo:
            return memo[id(x)]
        if t is list:
            out: Any = []
            memo[id(x)] = out
            out.extend(cp(i) for i in x)
            return out
        if t is tuple:
            return tuple(cp(i) for i in x)
        if t is dict:
            out = {}
            memo[id(x)] = out
            for k, i in x.items():
                out[k] = cp(i)
            return out
        if t is TensorSpec:
            out = TensorSpec(x.shape, x.dtype, x.line, x.path, x.why)
            memo[id(x)] = out
            return out
        if t is ParamValue:
            out = ParamValue(None)  # type: ignore[arg-type]  # (its tensor set below, once memo breaks cycles)
            memo[id(x)] = out
            out.tensor = cp(x.tensor)
            return out
        if t is ModuleValue:
            out = ModuleValue(x.cls, x.name)
            memo[id(x)] = out
            for table in ("params", "buffers", "children", "unknown_attrs"):
                src = getattr(x, table)
                dst = {}
                for k, e in src.items():
                    ne = Entry(cp(e.value), e.line, e.path, e.condition, e.persistent, e.run, e.placeholder, e.ctx)
                    dst[k] = ne
                setattr(out, table, dst)
            out.attrs = {k: cp(i) for k, i in x.attrs.items()}
            out.origin, out.origin_line, out.origin_path = x.origin, x.origin_line, x.origin_path
            out.extra_state, out.container = x.extra_state, x.container
            return out
        if t is InstanceValue:
            out = InstanceValue(x.cls)
            memo[id(x)] = out
            out.attrs = {k: cp(i) for k, i in x.attrs.items()}
            out.tainted, out.frozen = x.tainted, x.frozen
            out.items = None if x.items is None else tuple(cp(i) for i in x.items)
            return out
        if t is Repeated:
            return Repeated(cp(x.value), x.count, x.placeholder)
        return x

    return cp(v)


def _shallow_copy(lib: LibraryModel, v: Any = None) -> Any:
    """``copy.copy``: a new list/dict/set/plain object holding the same items (never the same object)."""
    if isinstance(v, (list, dict, set)):
        return type(v)(v) if not isinstance(v, OrderedDict) else OrderedDict(v)
    if isinstance(v, InstanceValue):
        out = InstanceValue(v.cls, dict(v.attrs), v.tainted, v.frozen, v.items)
        return out
    return v  # a module: torch's shallow copy shares its parameter, buffer and submodule tables


def _partial(lib: LibraryModel, func: Any, *args: Any, **kwargs: Any) -> Any:
    return Partial(func, list(args), dict(kwargs))


def _ordered_dict(lib: LibraryModel, src: Any = None, **kwargs: Any) -> Any:
    out: Dict[Any, Any] = OrderedDict()  # a real OrderedDict: ParameterDict keeps its order, sorts a plain dict
    if src is not None:
        if isinstance(src, dict):
            out.update(src)
        else:
            items = lib.ev.iterate(src)
            if not isinstance(items, list):
                return lib.ev.unknown("OrderedDict of unknown items")
            for it in items:
                if isinstance(it, Repeated):
                    return lib.ev.unknown("OrderedDict of a symbolic number of items")
                if not isinstance(it, (tuple, list)) or len(it) != 2:
                    return lib.ev.unknown("OrderedDict item is not a pair")
                k = it[0]
                if isinstance(k, Sym):
                    k = "{" + k.render().replace("{", "").replace("}", "") + "}"
                if isinstance(k, (Unknown, Opaque)):
                    return lib.ev.unknown("OrderedDict key cannot be known")
                out[k] = it[1]
    out.update(kwargs)
    return out


def _dc_field(lib: LibraryModel, *a: Any, **k: Any) -> Any:
    if "default" in k:
        return k["default"]
    if "default_factory" in k:
        return lib.ev.call(k["default_factory"], [], {})
    return lib.ev.unknown("dataclass field without default", maybe_state=False)


DATACLASS_OPTIONS = ("init", "repr", "eq", "order", "unsafe_hash", "frozen", "match_args", "kw_only", "slots",
                     "weakref_slot")


def _dataclass_deco(lib: LibraryModel, cls: Any = None, **k: Any) -> Any:
    """``@dataclass`` / ``@dataclass(...)`` / ``dataclasses.dataclass(cls, ...)``: the class gets the
    ``__init__`` the engine writes from its fields (``Evaluator._dataclass_init``) under these options."""
    if cls is None:
        return Intrinsic("dataclass", lambda c: _dataclass_deco(lib, c, **k))
    if not isinstance(cls, ClassValue):
        return lib.ev.unknown("dataclass() of a value that is not a known class")
    for opt, v in k.items():
        if opt not in DATACLASS_OPTIONS:
            raise raise_(lib.ev, f"dataclass() got an unexpected keyword argument '{opt}'")
        if not isinstance(v, bool) and opt in ("init", "frozen", "kw_only"):
            cls.taint = Unknown(f"@dataclass option `{opt}` of class `{cls.name}` cannot be known", lib.ev.line,
                                lib.ev.path)
    cls.is_dataclass = True
    cls.dc_options = dict(k)
    return cls


def _dc_replace(lib: LibraryModel, obj: Any = None, /, **changes: Any) -> Any:
    ev = lib.ev
    if not isinstance(obj, InstanceValue) or not isinstance(obj.cls, ClassValue) or not any(
            c.is_dataclass for c in obj.cls.mro()) or obj.tainted is not None:
        return ev.unknown("dataclasses.replace of a value that is not a known dataclass instance", False)
    kwargs: Dict[str, Any] = {}
    for f in ev.dataclass_fields(obj.cls):
        if f["initvar"] or not f["init"]:
            if f["initvar"] and f["name"] not in changes and not f["has_default"]:
                raise raise_(ev, f"InitVar '{f['name']}' must be specified with replace()")
            continue
        if f["name"] not in changes:
            if f["name"] not in obj.attrs:
                return ev.unknown(f"field `{f['name']}` of the replaced dataclass is not known", False)
            kwargs[f["name"]] = obj.attrs[f["name"]]
    kwargs.update(changes)
    return ev.instantiate(obj.cls, [], kwargs)


def _dc_asdict(lib: LibraryModel, obj: Any = None, **k: Any) -> Any:
    ev = lib.ev
    if not isinstance(obj, InstanceValue) or not isinstance(obj.cls, ClassValue) or obj.tainted is not None:
        return ev.unknown("dataclasses.asdict of a value that is not a known dataclass instance", False)
    out: Dict[str, Any] = {}
    for f in ev.dataclass_fields(obj.cls):
        if f["initvar"]:
            continue
        if f["name"] not in obj.attrs:
            return ev.unknown(f"field `{f['name']}` is not known", False)
        v = obj.attrs[f["name"]]
        if isinstance(v, InstanceValue) and isinstance(v.cls, ClassValue) and any(c.is_dataclass for c in v.cls.mro()):
            v = _dc_asdict(lib, v)
        out[f["name"]] = deep_clone(v) if isinstance(v, (list, dict)) else v
    return out


def _is_dataclass(lib: LibraryModel, obj: Any = None) -> Any:
    cls = obj.cls if isinstance(obj, InstanceValue) else obj
    if isinstance(cls, ClassValue):
        return any(c.is_dataclass for c in cls.mro()) if cls.has_unknown_base() is None else \
            lib.ev.unknown("is_dataclass of a class with an unknown base", False)
    return lib.ev.unknown("is_dataclass of a value that is not known", False)


def _dc_fields(lib: LibraryModel, obj: Any = None) -> Any:
    """``dataclasses.fields(cls_or_obj)``: Field objects with ``name``, ``type``, ``default``,
    ``default_factory`` (``dataclasses.MISSING`` when absent), ``init``, ``kw_only``; InitVars are no fields."""
    ev = lib.ev
    cls = obj.cls if isinstance(obj, InstanceValue) else obj
    if not isinstance(cls, ClassValue) or not any(c.is_dataclass for c in cls.mro()) or cls.tainted() is not None:
        return ev.unknown("dataclasses.fields of a value that is not a known dataclass", False)
    stdlib = lib if isinstance(lib, Stdlib) else None
    field_cls = stdlib._intrinsic_class("Field", "dataclasses.Field", "field") if stdlib else None
    out = []
    for f in ev.dataclass_fields(cls):
        if f["initvar"]:
            continue
        fo = InstanceValue(field_cls)
        fo.attrs.update(name=f["name"], init=f["init"], kw_only=f["kw_only"], type=Unknown("field type", 0, "", False))
        fo.attrs["default"] = ev.dataclass_default(f) if f["has_default"] and f.get("factory") is None else MISSING
        fo.attrs["default_factory"] = ev.dataclass_factory(f) if f.get("factory") is not None else MISSING
        out.append(fo)
    return tuple(out)


class _Missing:
    """``dataclasses.MISSING``: one sentinel object (compared with ``is``)."""

    def __repr__(self) -> str:
        return "MISSING"


MISSING = _Missing()


class CachedFunction(Intrinsic):
    """A function wrapped by ``functools.lru_cache`` / ``functools.cache``: the same arguments give the same
    object (a mutation of a cached result is seen by the next call), least recently used entries evicted past
    ``maxsize``. What the evaluation cannot follow makes results unknown, never a fresh value taken as cached
    (or the reverse): arguments it cannot hash like Python (unknown values, objects), a result cached or
    reused under an undecidable condition (branches share this cache), any other use of the wrapper's
    attributes (``cache_clear()`` is followed)."""

    def __init__(self, lib: LibraryModel, func: Any, maxsize: Any, typed: Any) -> None:
        super().__init__(f"lru_cache({getattr(func, 'name', '?')})", self._call)
        self.lib, self.func, self.maxsize, self.typed = lib, func, maxsize, typed
        self.cache: "OrderedDict[Any, Any]" = OrderedDict()
        self.poisoned: Optional[str] = None  # why a cached result can no longer be trusted

    def _key(self, args: List[Any], kwargs: Dict[str, Any]) -> Any:
        def plain(v: Any) -> bool:
            if type(v) in (int, float, str, bool, type(None), bytes):
                return True
            if type(v) is tuple:
                return all(plain(x) for x in v)
            return False

        items = list(args) + [x for kv in kwargs.items() for x in kv]
        if not all(plain(v) for v in items):
            return None
        key: Any = (tuple(args), ("<kw>",) + tuple(kwargs.items()) if kwargs else ())
        if self.typed is True:
            key = (key, tuple(type(v).__name__ for v in items))
        return key

    def _call(self, *args: Any, **kwargs: Any) -> Any:
        ev = self.lib.ev
        fname = getattr(self.func, "name", "?")
        if self.maxsize == 0:
            return ev.call(self.func, list(args), dict(kwargs))
        if not (self.maxsize is None or is_int(self.maxsize)) or not isinstance(self.typed, bool):
            return ev.unknown(f"`@lru_cache` of `{fname}` with arguments that cannot be evaluated")
        if self.poisoned is not None:
            return ev.unknown(f"result of cached function `{fname}`: {self.poisoned}")
        key = self._key(list(args), kwargs)
        if key is None:
            return ev.unknown(f"result of cached function `{fname}`: its arguments are not plain values, "
                              f"whether the call reuses a cached result cannot be told")
        if key in self.cache:
            if ev.conditions:
                self.poisoned = "the cache is used under an undecidable condition"
                return ev.unknown(f"result of cached function `{fname}`: {self.poisoned}")
            self.cache.move_to_end(key)
            return self.cache[key]
        out = ev.call(self.func, list(args), dict(kwargs))
        if ev.conditions:
            self.poisoned = "the cache is filled under an undecidable condition"
            return out
        if isinstance(out, Unknown):
            return out
        self.cache[key] = out
        if self.maxsize is not None and len(self.cache) > max(self.maxsize, 0):
            self.cache.popitem(last=False)
        return out

    def attr(self, name: str) -> Any:
        if name == "cache_clear":
            def clear() -> None:
                self.cache.clear()
                self.poisoned = None
            return Intrinsic("cache_clear", clear)
        if name == "__wrapped__":
            return self.func
        self.poisoned = f"attribute `{name}` of the cached function is used, which is not modelled"
        return self.lib.ev.unknown(f"attribute `{name}` of an `lru_cache` wrapper")


def _lru_cache(lib: LibraryModel, maxsize: Any = 128, typed: Any = False) -> Any:
    if callable_value(maxsize):  # `@lru_cache` without parentheses (Python 3.8+)
        return CachedFunction(lib, maxsize, 128, typed)
    return Intrinsic("lru_cache(...)", lambda f: CachedFunction(lib, f, maxsize, typed))


def callable_value(v: Any) -> bool:
    return isinstance(v, (FunctionValue, Intrinsic, Partial))


def _wraps(lib: LibraryModel, wrapped: Any = None, *a: Any, **k: Any) -> Any:
    """``functools.wraps(f)(g)`` is ``g`` (its metadata changes; nothing construction code reads)."""
    return Intrinsic("functools.wraps(...)", lambda g: g)


def _namespace(lib: LibraryModel, cls: ClassValue, *a: Any, **kw: Any) -> Any:
    if a or "**" in kw:
        return lib.ev.unknown(f"{cls.qualname} with arguments that are not known", False)
    obj = InstanceValue(cls)
    obj.attrs.update(kw)
    return obj


def _namedtuple(lib: LibraryModel, typename: Any = None, field_names: Any = None, *, defaults: Any = None,
                rename: Any = False, module: Any = None) -> Any:
    """``collections.namedtuple("Dims", ["inp", "out"], defaults=[2])``: a class whose instances are tuples."""
    ev = lib.ev
    if isinstance(field_names, str):
        names: Any = field_names.replace(",", " ").split()
    else:
        names = ev.iterate(field_names) if field_names is not None else None
    if not isinstance(typename, str) or not isinstance(names, list) or not all(isinstance(n, str) for n in names):
        return ev.unknown("namedtuple with names that are not known", False)
    dvals = ev.iterate(defaults) if defaults is not None else []
    if not isinstance(dvals, list):
        return ev.unknown("namedtuple with defaults that are not known", False)
    base = lib.attribute("typing.NamedTuple")
    cls = ClassValue(typename, typename, [base], None, None)
    cls.sf = None
    first_default = len(names) - len(dvals)
    cls.nt_fields = [(n, dvals[i - first_default] if i >= first_default else _NO_DEFAULT) for i, n in enumerate(names)]
    return cls


_NO_DEFAULT = object()


def _find_spec(lib: LibraryModel, name: Any = None, package: Any = None) -> Any:
    """``importlib.util.find_spec(name)``: whether a module is installed where the model runs -- not knowable
    from here (the analysing machine's packages need not be the ones at run time), unless it is the standard
    library or torch, which the model needs anyway."""
    ev = lib.ev
    if isinstance(name, str) and (name.split(".")[0] in ("torch",) or name in STDLIB_NAMESPACES):
        return Unknown(f"module spec of `{name}`", ev.line, ev.path, False)  # not None: a truthy value
    return Unknown(f"whether module `{name}` is installed where the model runs (importlib.util.find_spec)",
                   ev.line, ev.path, False)


def _import_module(lib: LibraryModel, name: Any = None, package: Any = None) -> Any:
    ev = lib.ev
    if isinstance(name, str) and not name.startswith("."):
        return ev.import_module(name, ev.line, ev.path)
    return ev.unknown("importlib.import_module of a name that is not known")


def _itertools_chain(lib: LibraryModel, *its: Any) -> Any:
    out: List[Any] = []
    for it in its:
        items = lib.ev.iterate(it)
        if not isinstance(items, list):
            return lib.ev.unknown("chain over unknown items")
        out.extend(items)
    return out


def _itertools_product(lib: LibraryModel, *its: Any, repeat: Any = 1) -> Any:
    """``itertools.product`` over known finite iterables (timm's attention-bias tables); unknown otherwise."""
    pools: List[List[Any]] = []
    for it in its:
        items = lib.ev.iterate(it)
        if not isinstance(items, list) or any(isinstance(x, (Unknown, Repeated)) for x in items):
            return lib.ev.unknown("product over unknown items", maybe_state=False)
        pools.append(items)
    if not is_int(repeat) or repeat < 0:
        return lib.ev.unknown("product with an unknown repeat", maybe_state=False)
    size = 1
    for p in pools:
        size *= len(p)
    if size ** repeat > 100_000:
        return lib.ev.unknown("product too large to unroll", maybe_state=False)
    return [tuple(t) for t in itertools.product(*pools, repeat=repeat)]


@register
class Stdlib(LibraryModel):
    name = "stdlib"
    roots = tuple(sorted({n.split(".")[0] for n in STDLIB_NAMESPACES}))
    functions = {}  # STDLIB_FUNCTIONS, below the class

    def __init__(self, ev: Engine) -> None:
        super().__init__(ev)
        self._enum_classes: Dict[str, Any] = {}  # enum.Enum & co. as base classes (see _enum_base)

    def provides(self, dotted: str) -> bool:
        return dotted in STDLIB_NAMESPACES

    def attribute(self, full: str) -> Any:
        ev = self.ev
        attr = full.split(".")[-1]
        if full == "dataclasses.MISSING":
            return MISSING
        if full in RUNTIME_ENVIRONMENT:
            return Unknown(f"`{full}` depends on the environment where the model runs", ev.line, ev.path, False)
        if full in ("collections.abc", "os.path", "importlib.util"):
            return NamespaceValue(full)
        if full in ("abc.ABC", "abc.ABCMeta"):  # as a base class: only a metaclass, no state
            return TypingAlias(full)
        if full in ("typing.NamedTuple", "typing_extensions.NamedTuple"):
            return self._intrinsic_class("NamedTuple", "typing.NamedTuple", "namedtuple")
        if full in ("types.SimpleNamespace", "argparse.Namespace"):
            return self._intrinsic_class(attr, full, "namespace")
        if full.startswith(("typing.", "typing_extensions.", "collections.abc.", "numbers.", "types.")):
            return TypingAlias(full)
        if full in ("math.pi", "math.e", "math.inf", "math.tau", "math.nan"):
            return getattr(math, attr)
        if full.startswith("math.") and hasattr(math, attr):
            return Intrinsic(full, lambda *a, **k: self.math_call(attr, a, k))
        if full in ENUM_BASES:
            return self._enum_base(full)
        if full in ("logging.getLogger", "logging.Logger", "logging.LoggerAdapter", "logging.Logger.getChild"):
            # a logger: its methods (info, warning, setLevel, ...) are the no-state intrinsics below, so a module
            # handed to `log.info("%s", self)` is known to be left as it is
            return Intrinsic(full, lambda *a, **k: NamespaceValue("logging.Logger"))
        if full == "logging.root":
            return NamespaceValue("logging.Logger")
        if full.startswith("warnings.") or full.startswith("logging."):
            return Intrinsic(full, lambda *a, **k: Unknown(f"result of `{full}`", ev.line, ev.path, False))
        return NOT_MINE

    def _intrinsic_class(self, name: str, full: str, kind: str) -> Any:
        if full not in self._enum_classes:
            c = ClassValue(name, full, [], None, None)
            c.intrinsic = kind
            self._enum_classes[full] = c
        return self._enum_classes[full]

    def instantiate(self, cls: Any, args: List[Any], kwargs: Dict[str, Any]) -> Any:
        """NamedTuple classes (``class Dims(NamedTuple)``, ``collections.namedtuple``), SimpleNamespace and
        argparse.Namespace."""
        kind = next((c.intrinsic for c in cls.mro() if c.intrinsic in ("namedtuple", "namespace")), None)
        if kind is None:
            return NOT_MINE
        if kind == "namespace":
            return _namespace(self, cls, *args, **kwargs)
        ev = self.ev
        fields = cls.nt_fields
        if fields is None:  # class syntax: annotated names in the body, in order, with their defaults
            fields = [(n, cls.attrs[n] if n in cls.attrs else _NO_DEFAULT) for n, _d, _a in cls.fields]
        if any(isinstance(a, StarUnknown) for a in args) or "**" in kwargs:
            return ev.unknown(f"{cls.name}(...) with arguments that are not known", False)
        if len(args) > len(fields):
            raise raise_(ev, f"{cls.name}() takes {len(fields)} positional arguments but {len(args)} were given")
        values: List[Any] = []
        for i, (n, d) in enumerate(fields):
            if i < len(args):
                if n in kwargs:
                    raise raise_(ev, f"{cls.name}() got multiple values for argument '{n}'")
                values.append(args[i])
            elif n in kwargs:
                values.append(kwargs[n])
            elif d is not _NO_DEFAULT:
                values.append(d)
            else:
                raise raise_(ev, f"{cls.name}() missing required argument: '{n}'")
        extra = set(kwargs) - {n for n, _ in fields}
        if extra:
            raise raise_(ev, f"{cls.name}() got an unexpected keyword argument '{sorted(extra)[0]}'")
        obj = InstanceValue(cls)
        obj.attrs.update({n: v for (n, _), v in zip(fields, values)})
        obj.items = tuple(values)
        return obj

    def _enum_base(self, full: str) -> Any:
        """``enum.Enum`` and friends: a base whose subclasses' members are plain values, never state."""
        if full not in self._enum_classes:
            c = ClassValue(full.split(".")[-1], full, [], None, None)
            c.intrinsic = "enum"
            self._enum_classes[full] = c
        return self._enum_classes[full]

    # -- math --------------------------------------------------------------------------------
    def math_call(self, name: str, args: tuple, kwargs: Dict[str, Any]) -> Any:
        ev = self.ev
        args = tuple(a.sym() if isinstance(a, Opaque) else a for a in args)
        if any(isinstance(a, (Unknown, Sym)) for a in args):
            if name == "prod" and args and isinstance(args[0], (list, tuple)):
                pass
            elif name in ("floor", "ceil") and args and isinstance(args[0], Sym):
                return args[0]
            else:
                return ev.unknown(f"math.{name} of a value that is not concrete", maybe_state=False)
        if name == "prod":
            items = ev.iterate(args[0])
            if not isinstance(items, list):
                return ev.unknown("math.prod of an unknown sequence", maybe_state=False)
            r: Any = kwargs.get("start", 1)
            for x in items:
                x = x.sym() if isinstance(x, Opaque) else x
                if not is_intlike(x) and not isinstance(x, float):
                    return ev.unknown("math.prod of unknown values", maybe_state=False)
                if isinstance(x, float) and isinstance(r, Sym) or isinstance(r, float) and isinstance(x, Sym):
                    return ev.unknown("math.prod of mixed values", maybe_state=False)
                r = r * x
            return r
        try:
            return getattr(math, name)(*args, **kwargs)
        except (TypeError, ValueError, OverflowError) as exc:
            raise raise_(ev, f"math.{name} fails: {exc}")


Stdlib.functions = {
    "copy.deepcopy": _deepcopy,
    "copy.copy": _shallow_copy,
    "functools.partial": _partial,
    "collections.OrderedDict": _ordered_dict,
    "dataclasses.field": _dc_field,
    "dataclasses.dataclass": _dataclass_deco,
    "itertools.chain": _itertools_chain,
    "itertools.product": _itertools_product,
    "itertools.repeat": lambda lib, x, n=None: [x] * n if is_int(n) and 0 <= n <= 10_000 else
    lib.ev.unknown("itertools.repeat without a known count", maybe_state=False),
    "typing.cast": lambda lib, t, v: v,
    "dataclasses.replace": _dc_replace,
    "dataclasses.asdict": _dc_asdict,
    "dataclasses.is_dataclass": _is_dataclass,
    "dataclasses.fields": _dc_fields,
    "functools.wraps": _wraps,
    "functools.lru_cache": _lru_cache,
    "contextlib.contextmanager": lambda lib, f: Intrinsic(
        f"contextmanager({getattr(f, 'name', '?')})",
        lambda *a, **k: ContextGenerator(f, list(a), dict(k)) if isinstance(f, FunctionValue) else
        lib.ev.unknown("a @contextmanager over a function that is not read from source")),
    "functools.cache": lambda lib, f: CachedFunction(lib, f, None, False),
    # class and function decorators that return what they are given (metadata or type-checker hints only)
    **{f"{mod}.{name}": (lambda lib, x=None, *a, **k: x) for mod in ("typing", "typing_extensions")
       for name in ("final", "runtime_checkable", "no_type_check", "override")},
    **{f"{mod}.dataclass_transform": (lambda lib, *a, **k: Intrinsic("dataclass_transform(...)", lambda c: c))
       for mod in ("typing", "typing_extensions")},
    "functools.total_ordering": lambda lib, cls=None: cls,
    "enum.unique": lambda lib, cls=None: cls,
    "functools.update_wrapper": lambda lib, wrapper, wrapped=None, *a, **k: wrapper,
    "collections.namedtuple": _namedtuple,
    "importlib.util.find_spec": _find_spec,
    "importlib.import_module": _import_module,
    "warnings.warn": lambda lib, *a, **k: None,
}
