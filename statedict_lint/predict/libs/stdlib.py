"""The Python standard library as far as model code uses it: math, copy, functools, collections,
dataclasses, itertools, typing, enum, abc, warnings/logging (no state), os/sys (run-time environment)."""

from __future__ import annotations

import itertools
import math
from collections import OrderedDict
from typing import Any, Callable, Dict, List, Optional

from statedict_lint.predict.engine_api import Engine
from statedict_lint.predict.libs import NOT_MINE, LibraryModel, register
from statedict_lint.predict.libs._common import TypingAlias, raise_
from statedict_lint.predict.symbolic import Sym, is_int, is_intlike
from statedict_lint.predict.values import (
    ClassValue,
    Entry,
    InstanceValue,
    Intrinsic,
    ModuleValue,
    NamespaceValue,
    Opaque,
    ParamValue,
    Partial,
    Repeated,
    TensorSpec,
    Unknown,
)

STDLIB_NAMESPACES = {
    "math", "copy", "functools", "collections", "typing", "dataclasses", "itertools", "warnings", "logging",
    "os", "sys", "abc", "enum", "numbers", "operator", "types", "typing_extensions", "collections.abc", "inspect", "re", "json", "argparse",
}

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
            out = ParamValue(None)  # type: ignore[arg-type]
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
            return out
        if t is Repeated:
            return Repeated(cp(x.value), x.count, x.placeholder)
        return x

    return cp(v)


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


def _dataclass_deco(lib: LibraryModel, cls: Any = None, **k: Any) -> Any:
    if cls is None:
        return Intrinsic("dataclass", lambda c: _dataclass_deco(lib, c))
    if isinstance(cls, ClassValue):
        cls.is_dataclass = True
    return cls


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
    functions: Dict[str, Callable[..., Any]] = {}  # STDLIB_FUNCTIONS, below the class

    def __init__(self, ev: Engine) -> None:
        super().__init__(ev)
        self._enum_classes: Dict[str, Any] = {}  # enum.Enum & co. as base classes (see _enum_base)

    def provides(self, dotted: str) -> bool:
        return dotted in STDLIB_NAMESPACES

    def attribute(self, full: str) -> Any:
        ev = self.ev
        attr = full.split(".")[-1]
        if full in ("collections.abc", "os.path"):
            return NamespaceValue(full)
        if full in ("abc.ABC", "abc.ABCMeta"):  # as a base class: only a metaclass, no state
            return TypingAlias(full)
        if full.startswith(("typing.", "typing_extensions.", "collections.abc.", "numbers.", "types.")):
            return TypingAlias(full)
        if full in ("math.pi", "math.e", "math.inf", "math.tau", "math.nan"):
            return getattr(math, attr)
        if full.startswith("math.") and hasattr(math, attr):
            return Intrinsic(full, lambda *a, **k: self.math_call(attr, a, k))
        if full in ENUM_BASES:
            return self._enum_base(full)
        if full.startswith("warnings.") or full.startswith("logging."):
            return Intrinsic(full, lambda *a, **k: Unknown(f"result of `{full}`", ev.line, ev.path, False))
        return NOT_MINE

    def _enum_base(self, full: str) -> Any:
        """``enum.Enum`` and friends: a base whose subclasses' members are plain values, never state."""
        if full not in self._enum_classes:
            c = ClassValue(full.split(".")[-1], full, [], None, None)  # type: ignore[arg-type]
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
    "copy.copy": lambda lib, v: v if not isinstance(v, list) else list(v),
    "functools.partial": _partial,
    "collections.OrderedDict": _ordered_dict,
    "dataclasses.field": _dc_field,
    "dataclasses.dataclass": _dataclass_deco,
    "itertools.chain": _itertools_chain,
    "itertools.product": _itertools_product,
    "itertools.repeat": lambda lib, x, n=None: [x] * n if is_int(n) and 0 <= n <= 10_000 else
    lib.ev.unknown("itertools.repeat without a known count", maybe_state=False),
    "typing.cast": lambda lib, t, v: v,
    "warnings.warn": lambda lib, *a, **k: None,
}
