"""Python builtins (``range``, ``len``, ``int``, ``isinstance``, ...) over the evaluator's value domain (the methods
of plain Python values are in ``pymethods.py``)."""

from __future__ import annotations

from typing import Any, Dict, List

from statedict_lint.predict.libs._common import TypingAlias, ceil_div, raise_
from statedict_lint.predict.libs.pymethods import sort_items
from statedict_lint.predict.libs.stdlib import _ordered_dict
from statedict_lint.predict.libs.torch import TorchDir
from statedict_lint.predict.signals import EvalRaise
from statedict_lint.predict.symbolic import Sym, is_int, is_intlike
from statedict_lint.predict.values import (
    UNKNOWN_BOOL,
    BoundMethod,
    ClassValue,
    Entry,
    FunctionValue,
    GeneratorValue,
    InstanceValue,
    Intrinsic,
    ModuleValue,
    NamespaceValue,
    Opaque,
    ParamValue,
    Partial,
    Repeated,
    SymRange,
    TensorSpec,
    Unknown,
)

# -- Python builtins -----------------------------------------------------------------------------


def python_builtins(ev: Any) -> Dict[str, Any]:
    """The builtins namespace of the evaluated code, each builtin modelled over the value domain."""
    builtins: Dict[str, Any] = {}
    builtins.update(_numeric_builtins(ev))
    builtins.update(_container_builtins(ev))
    builtins.update(_iterator_builtins(ev))
    builtins.update(_attribute_builtins(ev))
    builtins.update(_object_builtins(ev))
    return builtins


def _num(x: Any) -> Any:
    return x.sym() if isinstance(x, Opaque) else x


def _numeric_builtins(ev: Any) -> Dict[str, Any]:
    """Numbers and strings: range, int, float, str, bool, min, max, sum, abs, round, divmod, pow."""

    def b_range(*args: Any) -> Any:
        args = tuple(_num(a) for a in args)
        if any(isinstance(a, Unknown) for a in args):
            return ev.unknown("range over an unknown bound", maybe_state=False)
        if not all(is_intlike(a) for a in args):
            raise EvalRaise("range() needs integers", ev.line, ev.path)
        start, stop, step = (0, args[0], 1) if len(args) == 1 else (args[0], args[1], 1) if len(args) == 2 else args
        if all(is_int(a) for a in (start, stop, step)):
            return range(start, stop, step)
        if not is_int(step):
            return ev.unknown("range with a symbolic step", maybe_state=False)
        count = ceil_div(stop - start, step)
        if is_int(count):
            return range(0, 0) if count <= 0 else ev.unknown("range of mixed bounds", False)
        return SymRange(start, stop, step, count)

    def b_int(x: Any = 0, base: Any = None) -> Any:
        x = _num(x)
        if isinstance(x, Sym):
            return x
        if isinstance(x, Unknown):
            return x.as_value()
        try:
            return int(x) if base is None else int(x, base)
        except (TypeError, ValueError) as exc:
            raise EvalRaise(f"int() fails: {exc}", ev.line, ev.path)

    def b_float(x: Any = 0.0) -> Any:
        if isinstance(x, (Unknown, Sym, Opaque)):
            return ev.unknown("float of a symbolic value", False)
        try:
            return float(x)
        except (TypeError, ValueError) as exc:
            raise EvalRaise(f"float() fails: {exc}", ev.line, ev.path)

    def b_str(x: Any = "") -> Any:
        x = _num(x)
        if isinstance(x, Sym):
            return "{" + x.render().replace("{", "").replace("}", "") + "}"
        if isinstance(x, (int, float, str, bool, type(None))):
            return str(x)
        return ev.unknown("str() of a value that is not concrete", False)

    def b_bool(x: Any = False) -> Any:
        t = ev.truth(x)

        return ev.unknown("truth value cannot be decided", False) if t is UNKNOWN_BOOL else t

    def _minmax(name: str, *args: Any, **k: Any) -> Any:
        items = list(args) if len(args) > 1 else ev.iterate_unordered(args[0]) if args else []
        if not isinstance(items, list):
            return ev.unknown(f"{name}() over unknown values", False)
        items = [_num(i) for i in items]
        if any(isinstance(i, (Unknown, Repeated)) for i in items):
            return ev.unknown(f"{name}() of unknown values", False)
        if any(isinstance(i, Sym) for i in items):
            if all(is_intlike(i) for i in items):
                uniq: List[Any] = []
                for i in items:
                    if not any(_eq(i, u) for u in uniq):
                        uniq.append(i)
                return uniq[0] if len(uniq) == 1 else Sym.atom(name, *uniq)
            return ev.unknown(f"{name}() of symbolic values", False)
        if "key" in k:
            return ev.unknown(f"{name}() with key=", False)
        if not items:
            if "default" in k:
                return k["default"]
            raise EvalRaise(f"{name}() of an empty sequence", ev.line, ev.path)
        try:
            return (min if name == "min" else max)(items)
        except TypeError:
            return ev.unknown(f"{name}() of mixed values", False)

    def b_sum(it: Any, start: Any = 0) -> Any:
        items = ev.iterate_unordered(it)
        if not isinstance(items, list):
            return ev.unknown("sum of unknown values", False)
        total = start
        for i in items:
            total = ev.binop("+", total, i)
        return total

    def b_abs(x: Any) -> Any:
        x = _num(x)
        if isinstance(x, (int, float)):
            return abs(x)
        return ev.unknown("abs of a symbolic value", False)

    def b_round(x: Any, n: Any = None) -> Any:
        if isinstance(x, (int, float)) and (n is None or is_int(n)):
            return round(x) if n is None else round(x, n)
        return ev.unknown("round of a symbolic value", False)

    def b_divmod(a: Any, b: Any) -> Any:
        return (ev.binop("//", a, b), ev.binop("%", a, b))

    def b_pow(a: Any, b: Any, m: Any = None) -> Any:
        return ev.binop("**", a, b)

    return {
        "range": Intrinsic("range", b_range),
        "int": Intrinsic("int", b_int),
        "float": Intrinsic("float", b_float),
        "str": Intrinsic("str", b_str),
        "bool": Intrinsic("bool", b_bool),
        "min": Intrinsic("min", lambda *a, **k: _minmax("min", *a, **k)),
        "max": Intrinsic("max", lambda *a, **k: _minmax("max", *a, **k)),
        "sum": Intrinsic("sum", b_sum),
        "abs": Intrinsic("abs", b_abs),
        "round": Intrinsic("round", b_round),
        "divmod": Intrinsic("divmod", b_divmod),
        "pow": Intrinsic("pow", b_pow),
    }


def _container_builtins(ev: Any) -> Dict[str, Any]:
    """Containers: len, list, tuple, dict, set, frozenset, sorted, any, all."""

    def b_len(x: Any) -> Any:
        if isinstance(x, (list, tuple)):
            if any(isinstance(i, Repeated) for i in x):
                total: Any = 0
                for i in x:
                    if isinstance(i, Repeated):
                        if isinstance(i.count, Unknown):
                            return ev.unknown("length of a list of unknown length", False)
                        total = total + i.count
                    else:
                        total = total + 1
                return total
            return len(x)
        if isinstance(x, (str, dict, set, frozenset, bytes)):
            return len(x)
        if isinstance(x, range):
            return len(x)
        if isinstance(x, SymRange):
            return x.count
        if isinstance(x, ModuleValue):
            return ev.torch.container_len(x)
        if isinstance(x, (TensorSpec, ParamValue)):
            s = x.shape if isinstance(x, ParamValue) else x.shape
            return s[0] if s else ev.unknown("len of a tensor", False)
        if isinstance(x, Opaque):
            x.used_as_value = True
            return Sym.var(f"len({x.name})")
        return ev.unknown("len() of an unknown value", False)

    def b_list(x: Any = ()) -> Any:
        if isinstance(x, SymRange):
            return [Repeated(ev.unknown("element of a symbolic range", False), x.count, "?")]
        items = ev.iterate(x)
        if isinstance(items, Unknown):
            return [Repeated(items, items, "?")]
        return list(items)

    def b_tuple(x: Any = ()) -> Any:
        r = b_list(x)
        return tuple(r) if isinstance(r, list) else r

    def b_dict(*a: Any, **k: Any) -> Any:
        if a:
            d = _ordered_dict(ev.libs["stdlib"], a[0])
            if isinstance(d, Unknown):
                return d
        else:
            d = {}
        d.update(k)
        return d

    def b_sorted(it: Any, key: Any = None, reverse: Any = False) -> Any:
        items = ev.iterate_unordered(it)
        if not isinstance(items, list):
            return ev.unknown("sorted() cannot be evaluated", False)
        return sort_items(ev, items, key, reverse, "sorted()")

    def b_anyall(name: str, it: Any) -> Any:
        items = ev.iterate_unordered(it)
        if not isinstance(items, list):
            return ev.unknown(f"{name}() of unknown values", False)
        vals = [ev.truth(i) for i in items]

        if name == "any":
            if any(v is True for v in vals):
                return True
            return False if all(v is False for v in vals) else ev.unknown("any() cannot be decided", False)
        if any(v is False for v in vals):
            return False
        return True if all(v is True for v in vals) else ev.unknown("all() cannot be decided", False)

    return {
        "len": Intrinsic("len", b_len),
        "list": Intrinsic("list", b_list),
        "tuple": Intrinsic("tuple", b_tuple),
        "dict": Intrinsic("dict", b_dict),
        "set": Intrinsic("set", lambda x=(): set(x) if isinstance(x, (list, tuple, set)) and all(_plain_hashable(i) for i in x) else ev.unknown("set()", False)),
        "frozenset": Intrinsic("frozenset", lambda x=(): frozenset(x) if isinstance(x, (list, tuple, set)) and all(_plain_hashable(i) for i in x) else ev.unknown("frozenset()", False)),
        "sorted": Intrinsic("sorted", b_sorted),
        "any": Intrinsic("any", lambda it: b_anyall("any", it)),
        "all": Intrinsic("all", lambda it: b_anyall("all", it)),
    }


def _iterator_builtins(ev: Any) -> Dict[str, Any]:
    """Iterators: the one-shot ones (zip, enumerate, reversed, map, filter), next, iter."""

    def b_zip(*its: Any, **k: Any) -> Any:
        lists = [ev.iterate(i) for i in its]
        if any(not isinstance(x, list) or any(isinstance(y, Repeated) for y in x) for x in lists):
            return ev.unknown("zip over sequences of unknown length")
        return list(zip(*lists))

    def b_enumerate(it: Any, start: Any = 0) -> Any:
        items = ev.iterate(it)
        if not isinstance(items, list) or any(isinstance(y, Repeated) for y in items):
            if isinstance(items, SymRange):
                return ev.unknown("enumerate over a symbolic range")
            return items if isinstance(items, Unknown) else ev.unknown("enumerate over a sequence of unknown length")
        return [(start + i, v) for i, v in enumerate(items)]

    def b_reversed(it: Any) -> Any:
        items = ev.iterate(it)
        if not isinstance(items, list) or any(isinstance(i, Repeated) for i in items):
            return ev.unknown("reversed() of a sequence of unknown length")
        return list(reversed(items))

    def b_map(fn: Any, *its: Any) -> Any:
        lists = [ev.iterate(i) for i in its]
        if any(not isinstance(x, list) or any(isinstance(y, Repeated) for y in x) for x in lists):
            if isinstance(fn, (Unknown, Opaque)):  # it gets every item: hand it what they come from (modules)
                ev.call(fn, list(its), {})
            return ev.unknown("map over unknown values")
        return [ev.call(fn, list(args), {}) for args in zip(*lists)]

    def b_filter(fn: Any, it: Any) -> Any:
        items = ev.iterate(it)
        if not isinstance(items, list):
            return ev.unknown("filter over unknown values")
        out = []
        for i in items:
            t = ev.truth(i if fn is None else ev.call(fn, [i], {}))
            if t is not True and t is not False:
                return ev.unknown("filter cannot be decided")
            if t:
                out.append(i)
        return out

    def b_next(it: Any, *default: Any) -> Any:
        if isinstance(it, GeneratorValue):
            got = ev.take(it, 1)
            if isinstance(got, Unknown):
                return got
            if got:
                return got[0]
            if default:
                return default[0]
            raise raise_(ev, "StopIteration: next() of an exhausted iterator")
        items = ev.iterate(it)
        if isinstance(items, list) and items and not isinstance(items[0], Repeated):
            return items[0]
        if isinstance(items, list) and not items and default:
            return default[0]
        return ev.unknown("next() cannot be evaluated")

    def b_iter(it: Any) -> Any:
        if isinstance(it, (GeneratorValue, SymRange, Unknown)):
            return it
        if isinstance(it, list):
            return ev.iterator(it)  # a list iterator sees the list as it is when it runs
        items = ev.iterate(it)
        return ev.iterator(items) if isinstance(items, list) else items

    def lazy(fn: Any) -> Any:
        """zip/map/filter/enumerate/reversed return one-shot iterators. An iterator they are given is read
        lazily in Python (when the result runs, maybe partly): where it stands afterwards is left unknown."""
        def run(*a: Any, **k: Any) -> Any:
            given = [x for x in a if isinstance(x, GeneratorValue)]
            out = fn(*a, **k)
            for g in given:
                g.pos = None
            if len({id(g) for g in given}) < len(given):
                return ev.unknown("the same iterator passed twice", maybe_state=True)
            return ev.iterator(out) if isinstance(out, list) else out
        return run

    return {
        "zip": Intrinsic("zip", lazy(b_zip)),
        "enumerate": Intrinsic("enumerate", lazy(b_enumerate)),
        "reversed": Intrinsic("reversed", lazy(b_reversed)),
        "map": Intrinsic("map", lazy(b_map)),
        "filter": Intrinsic("filter", lazy(b_filter)),
        "next": Intrinsic("next", b_next),
        "iter": Intrinsic("iter", b_iter),
    }


def _attribute_builtins(ev: Any) -> Dict[str, Any]:
    """Attributes: dir, hasattr, getattr, setattr, delattr, vars, locals, globals."""

    def b_dir(*args: Any) -> Any:
        if len(args) == 1 and isinstance(args[0], NamespaceValue) and args[0].scope is None and \
                args[0].qualname.split(".")[0] == "torch":
            return TorchDir(args[0].qualname)
        return ev.unknown("dir() is not modelled", False)

    def b_hasattr(obj: Any, name: Any) -> Any:
        if not isinstance(name, str):
            return ev.unknown("hasattr with an unknown name", False)
        if isinstance(obj, Opaque) and obj.bound and name in obj.bound:
            return True
        if isinstance(obj, (ModuleValue, InstanceValue)):
            found, _ = obj.lookup(name) if isinstance(obj, ModuleValue) else (name in obj.attrs, None)
            if found:
                return True
            if isinstance(obj.cls, ClassValue) and obj.cls.find(name)[1] is not None:
                return True
            if isinstance(obj, ModuleValue) and name in ("register_buffer", "forward", "training"):
                return True
            if isinstance(obj, ModuleValue) and obj.opened is not None:  # code not followed may have set it
                return Unknown(f"hasattr(`{name}`): {obj.opened.reason}", obj.opened.line, obj.opened.path, False)
            return False
        if isinstance(obj, ClassValue):
            return obj.find(name)[1] is not None
        if isinstance(obj, NamespaceValue) and obj.scope is None and TorchDir(obj.qualname).contains(name):
            return True  # feature checks of torch >= 2.0, the version the catalog models
        if isinstance(obj, NamespaceValue) and obj.scope is not None:
            found, _ = obj.scope.lookup(name)
            return True if found else ev.unknown(f"hasattr on module `{obj.qualname}`", False)
        return ev.unknown("hasattr on an unknown value", False)

    def b_getattr(obj: Any, name: Any, *default: Any) -> Any:
        if not isinstance(name, str):
            return ev.unknown("getattr with a name that cannot be known")
        if isinstance(obj, Opaque):
            obj.used_as_value = True
            if obj.bound and name in obj.bound:  # `--set args.use_norm=True`
                return obj.bound[name]
            return Opaque(f"{obj.name}.{name}", "", obj.line, obj.path)
        if default:
            h = b_hasattr(obj, name)
            if h is False:
                return default[0]
            if h is not True:
                if isinstance(obj, dict):
                    return default[0]
                return ev.unknown(f"getattr(..., {name!r}, default) on a value that cannot be inspected")
        try:
            return ev.getattr(obj, name)
        except EvalRaise:
            if default:
                return default[0]
            raise

    def b_setattr(obj: Any, name: Any, value: Any) -> None:
        if isinstance(name, Sym):
            name = "{" + name.render().replace("{", "").replace("}", "") + "}"
        if not isinstance(name, str):
            why = Unknown(f"setattr with a name that cannot be known (line {ev.line}) may have set any attribute",
                          ev.line, ev.path)
            if isinstance(obj, ModuleValue):
                obj.unknown_attrs[f"<setattr at line {ev.line}>"] = Entry(why, ev.line, ev.path)
                for k in list(obj.attrs):
                    obj.attrs[k] = Unknown(why.reason, ev.line, ev.path, False)
            elif isinstance(obj, InstanceValue):
                obj.tainted = obj.tainted or why
            elif isinstance(obj, ClassValue) and obj.node is not None:
                obj.taint = obj.taint or why
            return None
        ev.setattr(obj, name, value)
        return None

    def b_delattr(obj: Any, name: Any) -> None:
        if not isinstance(name, str):
            why = Unknown(f"delattr with a name that cannot be known (line {ev.line}) may have removed any attribute",
                          ev.line, ev.path)
            if isinstance(obj, ModuleValue):
                for t in (obj.params, obj.buffers, obj.children):
                    for e in t.values():
                        e.value = why
            elif isinstance(obj, InstanceValue):
                obj.tainted = obj.tainted or why
            return None
        ev.delattr(obj, name)
        return None

    return {
        "dir": Intrinsic("dir", b_dir),
        "hasattr": Intrinsic("hasattr", b_hasattr),
        "getattr": Intrinsic("getattr", b_getattr),
        "setattr": Intrinsic("setattr", b_setattr),
        "delattr": Intrinsic("delattr", b_delattr),
        "vars": Intrinsic("vars", lambda *a: a[0].attrs if len(a) == 1 and isinstance(a[0], InstanceValue)
                          and a[0].tainted is None else ev.unknown("vars()", False)),
        "locals": Intrinsic("locals", lambda *a: ev.unknown("locals()", False)),
        "globals": Intrinsic("globals", lambda *a: ev.unknown("globals()", False)),
    }


def _object_builtins(ev: Any) -> Dict[str, Any]:
    """Objects and types (isinstance, issubclass, type, callable, object, super, ...), the constants, and the exception classes."""

    def b_isinstance(obj: Any, cls: Any) -> Any:
        classes = cls if isinstance(cls, tuple) else (cls,)
        results = [_isinstance(ev, obj, c) for c in classes]
        if any(r is True for r in results):
            return True
        if all(r is False for r in results):
            return False
        return ev.unknown("isinstance of a value whose type is unknown", False)

    def b_issubclass(c: Any, parent: Any) -> Any:
        if isinstance(c, ClassValue) and isinstance(parent, ClassValue):
            return parent in c.mro()
        return ev.unknown("issubclass cannot be decided", False)

    def b_type(obj: Any, *rest: Any) -> Any:
        if rest:
            return ev.unknown("type() with three arguments")
        if isinstance(obj, (ModuleValue, InstanceValue)):
            return obj.cls
        for t in (bool, int, float, str, list, tuple, dict):
            if type(obj) is t:  # (the whole namespace: this factory's own table holds only its builtins)
                return ev.builtins[t.__name__]
        return ev.unknown("type of an unknown value", False)

    def b_callable(x: Any) -> Any:
        if isinstance(x, (FunctionValue, ClassValue, Intrinsic, BoundMethod, Partial)):
            return True
        if isinstance(x, (int, float, str, type(None), list, tuple, dict)):
            return False
        return ev.unknown("callable() cannot be decided", False)

    def b_exception(name: str) -> Any:
        return Intrinsic(name, lambda *a, **k: _ExceptionValue(name))

    builtins: Dict[str, Any] = {
        "isinstance": Intrinsic("isinstance", b_isinstance),
        "issubclass": Intrinsic("issubclass", b_issubclass),
        "type": Intrinsic("type", b_type),
        "print": Intrinsic("print", lambda *a, **k: None),
        "callable": Intrinsic("callable", b_callable),
        "super": Intrinsic("super", lambda *a: ev.unknown("super() outside a method")),
        "object": _object_class(ev),
        "None": None,
        "True": True,
        "False": False,
        "NotImplemented": NotImplemented,
        "id": Intrinsic("id", lambda x: ev.unknown("id()", False)),
        "hash": Intrinsic("hash", lambda x: ev.unknown("hash()", False)),
        "repr": Intrinsic("repr", lambda x: repr(x) if isinstance(x, (int, float, str, bool, type(None))) else ev.unknown("repr()", False)),
        "__import__": Intrinsic("__import__", lambda *a, **k: ev.unknown("__import__()")),
        "OrderedDict": Intrinsic("OrderedDict", lambda *a, **k: _ordered_dict(ev.libs["stdlib"], *a, **k)),
    }
    for exc in ("ValueError", "TypeError", "KeyError", "IndexError", "NotImplementedError", "RuntimeError",
                "AssertionError", "AttributeError", "ImportError", "ModuleNotFoundError", "Exception",
                "ZeroDivisionError", "StopIteration", "NameError", "OSError", "Warning", "UserWarning",
                "DeprecationWarning"):
        builtins[exc] = b_exception(exc)
    return builtins


_ITERABLE = {"Iterable", "Collection", "Container", "Sized", "Reversible"}


def _abstract_isinstance(obj: Any, name: str) -> Any:
    """isinstance against numbers.*, collections.abc.*, types.* for values whose type is known."""

    short = name.split(".")[-1]
    plain = (int, float, str, bool, list, tuple, dict, set, type(None), Sym)
    if name.startswith("numbers."):
        if isinstance(obj, (bool, int, Sym)):
            return short in ("Integral", "Rational", "Real", "Complex", "Number")
        if isinstance(obj, float):
            return short in ("Real", "Complex", "Number")
        if isinstance(obj, plain) or isinstance(obj, (ModuleValue, ClassValue, FunctionValue, TensorSpec)):
            return False
        return None
    if name.startswith("collections.abc.") or name.startswith("typing."):
        if isinstance(obj, (int, float, bool, type(None), Sym)):
            return False if short in _ITERABLE | {"Sequence", "Mapping", "MutableSequence", "MutableMapping",
                                                   "Set", "Iterator", "Generator"} else None
        if isinstance(obj, (list, tuple, str)):
            if short in _ITERABLE or short == "Sequence":
                return True
            if short in ("Mapping", "MutableMapping", "Set", "Iterator", "Generator"):
                return False
            if short == "MutableSequence":
                return isinstance(obj, list)
        if isinstance(obj, dict):
            return True if short in _ITERABLE | {"Mapping", "MutableMapping"} else \
                False if short in ("Sequence", "MutableSequence", "Set") else None
        if isinstance(obj, (ClassValue, FunctionValue, Partial)):
            return True if short == "Callable" else False if short in _ITERABLE | {"Sequence", "Mapping"} else None
        return None
    if name.startswith("types."):
        if short in ("FunctionType", "LambdaType"):
            if isinstance(obj, FunctionValue):
                return True
            if isinstance(obj, plain) or isinstance(obj, (ClassValue, Partial, ModuleValue, InstanceValue)):
                return False
        return None
    return None


class _ExceptionValue:
    def __init__(self, name: str) -> None:
        self.name = name


def _object_class(ev: Any) -> Any:

    c = ClassValue("object", "builtins.object", [], None, None)
    c.intrinsic = "object"
    return c


def _plain_hashable(x: Any) -> bool:
    return isinstance(x, (int, float, str, bool, type(None), tuple, Sym)) and not isinstance(x, Repeated)


def _eq(a: Any, b: Any) -> bool:
    if isinstance(a, Sym) or isinstance(b, Sym):
        return isinstance(a, Sym) and isinstance(b, Sym) and a == b
    return a == b


def _isinstance(ev: Any, obj: Any, cls: Any) -> Any:

    if isinstance(obj, (Unknown,)):
        return None
    if isinstance(obj, Opaque):
        # An unbound value checked against `int` (e.g. `normalized_shape`, `kernel_size`) is modelled as
        # an integer symbol: symbolic results are never complete, and binding the value makes them exact.
        obj.used_as_value = True
        is_int_check = isinstance(cls, Intrinsic) and cls.name == "int" or isinstance(cls, TypingAlias) and \
            cls.name in ("numbers.Integral", "numbers.Number", "numbers.Real")
        if is_int_check and obj.kind == "seq":
            return False  # annotated as a list/tuple/sequence
        if is_int_check and obj.kind in ("", "int", "value"):
            return True
        return None
    if isinstance(cls, Intrinsic) and cls.name == "type":
        if isinstance(obj, ClassValue):
            return True
        if isinstance(obj, (int, float, str, bool, list, tuple, dict, type(None), Sym, ModuleValue, InstanceValue,
                            FunctionValue, Partial, TensorSpec, ParamValue)):
            return False
        return None
    if isinstance(cls, Intrinsic) and cls.name == "functools.partial":
        if isinstance(obj, Partial):
            return True
        if isinstance(obj, (int, float, str, bool, list, tuple, dict, type(None), Sym, ModuleValue, InstanceValue,
                            FunctionValue, ClassValue, TensorSpec, ParamValue)):
            return False
        return None
    if isinstance(cls, Intrinsic) and cls.name in ("torch.nn.Parameter", "torch.Tensor"):
        if isinstance(obj, ParamValue):
            return True
        if isinstance(obj, TensorSpec):
            return cls.name == "torch.Tensor"
        if isinstance(obj, (int, float, str, bool, list, tuple, dict, type(None), Sym, ModuleValue)):
            return False
        return None
    if isinstance(cls, Intrinsic):
        pytypes = {"int": int, "float": float, "str": str, "bool": bool, "list": list, "tuple": tuple, "dict": dict,
                   "set": set}
        t = pytypes.get(cls.name)
        if t is None:
            return None
        if isinstance(obj, Sym):
            return t is int
        if t is int and isinstance(obj, bool):
            return True
        if isinstance(obj, (int, float, str, bool, list, tuple, dict, set)):
            return isinstance(obj, t)
        return False
    if isinstance(cls, TypingAlias):
        return _abstract_isinstance(obj, cls.name)
    if isinstance(cls, ClassValue):
        if cls.intrinsic == "object":
            return True
        if isinstance(obj, (ModuleValue, InstanceValue)):
            if isinstance(obj.cls, ClassValue):
                return cls in obj.cls.mro()
            return None
        if isinstance(obj, (ParamValue,)):
            return cls.qualname in ("torch.nn.Parameter",)
        if isinstance(obj, (int, float, str, bool, list, tuple, dict, type(None), Sym, TensorSpec, FunctionValue)):
            return False
        return None
    if isinstance(cls, Intrinsic) or cls is None:
        return None
    if isinstance(cls, NamespaceValue):
        return None
    return None
