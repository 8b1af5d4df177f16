"""The methods of plain Python values (``list.append``, ``dict.get``, ``str.format``, ...) over the evaluator's
value domain, and sorting of evaluated items."""

from __future__ import annotations

from collections import OrderedDict
from typing import Any, Dict, List

from statedict_lint.predict.engine_api import Engine
from statedict_lint.predict.libs._common import raise_
from statedict_lint.predict.symbolic import Sym, is_int
from statedict_lint.predict.values import (
    DictView,
    GeneratorValue,
    formattable,
    Intrinsic,
    Opaque,
    Repeated,
    SymKey,
    Unknown,
)


def sort_items(ev: Engine, items: List[Any], key: Any, reverse: Any, what: str) -> Any:
    """``sorted(items, key=key, reverse=reverse)`` exactly as Python sorts (stable; the key called once per item,
    in order), or Unknown when an item or a sort key is not a plain Python value (its order cannot be known)."""
    if any(isinstance(i, Repeated) for i in items):
        return ev.unknown(f"{what} of a sequence of unknown length")
    rev = ev.truth(reverse)
    if rev is not True and rev is not False:
        return ev.unknown(f"{what} with an unknown reverse=", False)
    keys = items if key is None else [ev.call(key, [i], {}) for i in items]
    if not all(formattable(k) for k in keys):
        return ev.unknown(f"{what} by values that are not known", maybe_state=not all(formattable(i) for i in items))
    try:
        order = sorted(range(len(items)), key=lambda j: keys[j], reverse=rev)
    except TypeError:
        return ev.unknown(f"{what} of values that do not compare", maybe_state=not all(formattable(i) for i in items))
    return [items[j] for j in order]


def taint_dict(obj: Dict[Any, Any], u: Unknown) -> None:
    """A dict whose keys or their order can no longer be known: it holds one unknown key (nothing is claimed)."""
    obj.clear()
    obj[SymKey(u)] = u


class PythonValues:
    """Attributes of plain Python values (``dict.get``, ``list.append``, ``str.format``, ...)."""

    def __init__(self, ev: Engine) -> None:
        self.ev = ev

    # -- python values -----------------------------------------------------------------------
    def python_attr(self, obj: Any, name: str) -> Any:
        ev = self.ev
        if isinstance(obj, list):
            return self._list_attr(obj, name)
        if isinstance(obj, dict):
            return self._dict_attr(obj, name)
        if isinstance(obj, str):
            return self._str_attr(obj, name)
        if isinstance(obj, (tuple,)) and name in ("index", "count"):
            return Intrinsic(f"tuple.{name}", lambda *a: getattr(obj, name)(*a))
        if isinstance(obj, int) and name in ("bit_length", "real"):
            return getattr(obj, name)() if name == "bit_length" else obj
        if isinstance(obj, Sym):
            return ev.unknown(f"attribute `{name}` of a symbolic value", maybe_state=False)
        return self._unknown_attr(obj, name)

    def _unknown_attr(self, obj: Any, name: str) -> Any:
        return self.ev.unknown(f"attribute `{name}` is not known", maybe_state=not isinstance(obj, (int, float, str, bool, tuple, list, dict)))

    def _list_attr(self, obj: List[Any], name: str) -> Any:
        """``list.append``, ``list.extend``, ..."""
        ev = self.ev
        if name == "append":
            return Intrinsic("list.append", lambda x: obj.append(self.ev.torch._repeat_wrap(x)))
        if name == "extend":
            def extend(x: Any) -> None:
                items = ev.iterate(x)
                if isinstance(items, list):
                    obj.extend(self.ev.torch._repeat_wrap(i) for i in items)
                else:
                    obj.append(Repeated(items if isinstance(items, Unknown) else ev.unknown("symbolic"), Unknown("?"), "?"))
            return Intrinsic("list.extend", extend)
        if name == "insert":
            def insert(i: Any, x: Any) -> None:
                if is_int(i) and not ev.repeat:
                    obj.insert(i, x)
                else:
                    obj[:] = [Repeated(ev.unknown("list insert at an unknown position"), Unknown("?"), "?")]
            return Intrinsic("list.insert", insert)
        if name == "pop":
            def pop(i: Any = -1) -> Any:
                if any(isinstance(x, Repeated) for x in obj) or not is_int(i):
                    return ev.unknown("pop from a list of symbolic length")
                if not obj:
                    raise raise_(ev, "pop from an empty list")
                return obj.pop(i)
            return Intrinsic("list.pop", pop)
        if name in ("copy",):
            return Intrinsic("list.copy", lambda: list(obj))
        if name in ("reverse",):
            return Intrinsic("list.reverse", lambda: obj.reverse())
        if name == "sort":
            def sort(key: Any = None, reverse: Any = False) -> None:
                done = sort_items(ev, obj, key, reverse, "list.sort()")
                # sorted in place, or (order not known) every item of the list becomes unknown
                obj[:] = done if isinstance(done, list) else [Repeated(done, Unknown("?"), "?")]
            return Intrinsic("list.sort", sort)
        if name in ("index", "count", "remove", "clear"):
            def meth(*a: Any, **k: Any) -> Any:
                try:
                    return getattr(obj, name)(*a, **k)
                except (ValueError, TypeError):
                    return ev.unknown(f"list.{name} cannot be evaluated", False)
            return Intrinsic(f"list.{name}", meth)
        return self._unknown_attr(obj, name)

    def _dict_attr(self, obj: Dict[Any, Any], name: str) -> Any:
        """``dict.get``, ``dict.setdefault``, ..."""
        ev = self.ev
        if name in ("keys", "values", "items"):
            return Intrinsic(f"dict.{name}", lambda: DictView(obj, name))
        if name == "get":
            def get(k: Any, d: Any = None) -> Any:
                if isinstance(k, (Unknown, Opaque, Sym)):
                    return ev.unknown("dict.get with an unknown key")
                return obj.get(k, d)
            return Intrinsic("dict.get", get)
        if name == "move_to_end" and isinstance(obj, OrderedDict):
            def move_to_end(key: Any, last: Any = True) -> None:
                lt = ev.truth(last)
                if not formattable(key) or (lt is not True and lt is not False):
                    # which key moves, or where, is not known: so is the order of every key
                    taint_dict(obj, ev.unknown("OrderedDict.move_to_end of a key that cannot be known"))
                    return None
                try:
                    obj.move_to_end(key, last=lt)
                except KeyError:
                    raise raise_(ev, f"OrderedDict.move_to_end: no key {key!r}")
                return None
            return Intrinsic("OrderedDict.move_to_end", move_to_end)
        if name == "popitem":
            def popitem(last: Any = True) -> Any:
                lt = ev.truth(last) if isinstance(obj, OrderedDict) else True
                if lt is not True and lt is not False or any(isinstance(k, SymKey) for k in obj):
                    u = ev.unknown("dict.popitem of an item that cannot be known")
                    taint_dict(obj, u)
                    return u
                if not obj:
                    raise raise_(ev, "popitem(): dictionary is empty")
                return obj.popitem(last=lt) if isinstance(obj, OrderedDict) else obj.popitem()
            return Intrinsic("dict.popitem", popitem)
        if name in ("update", "pop", "setdefault", "copy", "clear"):
            def dm(*a: Any, **k: Any) -> Any:
                if name == "update" and a and not isinstance(a[0], dict):
                    items = ev.iterate(a[0])
                    if isinstance(items, list):
                        obj.update(dict(x for x in items))
                        return None
                    # entries that cannot be known: any key may be replaced or added
                    why = items.reason if isinstance(items, Unknown) else "update with entries that cannot be known"
                    u = Unknown(f"dict updated with a mapping that cannot be known: {why}", ev.line, ev.path)
                    for key in list(obj):
                        obj[key] = u
                    obj[SymKey(u)] = u
                    return None
                try:
                    return getattr(obj, name)(*a, **k)
                except (KeyError, TypeError):
                    raise raise_(ev, f"dict.{name} fails")
            return Intrinsic(f"dict.{name}", dm)
        return self._unknown_attr(obj, name)

    def _str_attr(self, obj: str, name: str) -> Any:
        """``str.format`` and the other methods of strings."""
        ev = self.ev
        if name == "format":
            def fmt(*a: Any, **k: Any) -> Any:
                a = tuple("{" + x.render().replace("{", "").replace("}", "") + "}" if isinstance(x, Sym) else x for x in a)
                if not all(formattable(x) for x in list(a) + list(k.values())):
                    return ev.unknown("formatted string with unknown parts", maybe_state=False)
                try:
                    return obj.format(*a, **k)
                except Exception:  # noqa: BLE001 - any failure of Python's formatting leaves the string unknown
                    return ev.unknown("str.format fails", maybe_state=False)
            return Intrinsic("str.format", fmt)
        if hasattr(str, name) and not name.startswith("_"):
            def sm(*a: Any, **k: Any) -> Any:
                a = tuple(ev.iterate(x) if isinstance(x, GeneratorValue) else x for x in a)  # "_".join(map(...))
                if any(not isinstance(x, (str, int, list, tuple, type(None))) for x in list(a) + list(k.values())):
                    return ev.unknown(f"str.{name} with unknown arguments", maybe_state=False)
                try:
                    return getattr(obj, name)(*a, **k)
                except (TypeError, ValueError) as exc:
                    raise raise_(ev, f"str.{name} fails: {exc}")
            return Intrinsic(f"str.{name}", sm)
        return self._unknown_attr(obj, name)
