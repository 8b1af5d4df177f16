"""nn.Sequential, ModuleList, ModuleDict, ParameterList and ParameterDict: a mixin of ``TorchLib``."""

from __future__ import annotations

from collections import OrderedDict
from typing import Any, Dict, List

from statedict_lint.predict.libs import LibraryModel
from statedict_lint.predict.libs._common import raise_
from statedict_lint.predict.symbolic import Sym, is_int, is_intlike
from statedict_lint.predict.values import (
    Entry,
    Intrinsic,
    ModuleValue,
    Opaque,
    ParamValue,
    Repeated,
    SymRange,
    TensorSpec,
    Unknown,
)


class ContainerMixin(LibraryModel):  # (a part of TorchLib)

    # -- containers --------------------------------------------------------------------------
    def _table(self, m: ModuleValue) -> Dict[str, Entry]:
        return m.params if m.container in ("ParameterList", "ParameterDict") else m.children

    def _entries(self, m: ModuleValue) -> List[Entry]:
        if m.container in ("ParameterList", "ParameterDict"):  # they may hold modules too, as children
            return list(m.params.values()) + list(m.children.values())
        return list(m.children.values())

    def _next_index(self, m: ModuleValue) -> Any:
        if m.opened is not None:  # handed to code that was not followed: how many entries it holds is not known
            return Unknown(f"how many entries it holds is not known: {m.opened.reason}", m.opened.line, m.opened.path)
        idx: Any = 0
        tables = (m.params, m.children) if m.container in ("ParameterList", "ParameterDict") else (m.children,)
        for k in [k for t in tables for k in t if k.startswith("<unknown index")]:
            e = tables[0].get(k) or tables[-1][k]
            return Unknown(f"it follows an entry whose index cannot be known (line {e.line})", e.line, e.path)
        for e in self._entries(m):
            if e.condition is not None:  # an entry that exists only under a condition: where the next one goes
                return Unknown(f"the entry added at line {e.line} exists only if {e.condition}", e.line, e.path)
            rep = e.run
            if isinstance(rep, Unknown) or isinstance(idx, Unknown):
                return rep if isinstance(rep, Unknown) else idx
            idx = idx + (rep if rep is not None else 1)
        return idx

    def _append(self, m: ModuleValue, item: Any) -> None:
        ev = self.ev
        line, path = self._where()
        idx = self._next_index(m)
        if isinstance(item, Repeated):
            count = item.count
            if isinstance(count, Unknown) or isinstance(item.value, Unknown) and item.placeholder == "?":
                reason = item.value.reason if isinstance(item.value, Unknown) else count.reason
                e = Entry(Unknown(f"a run of entries of unknown length: {reason}", line, path), line, path)
                e.run = Unknown("?")
                self._table(m)[f"<unknown run at line {line}>"] = e
                return
            ph = item.placeholder
            pos = idx + Sym.var(f"{{{ph}}}")
            name = "{" + (pos.render() if isinstance(pos, Sym) else str(pos)).replace("{", "").replace("}", "") + "}"
            value = self._coerce_item(m, item.value)
            e = Entry(value, line, path)
            e.run = count
            e.placeholder = (ph, count)
            self._table(m)[name] = e
            return
        if isinstance(idx, Unknown):
            self._unindex_conditional(m)
            self._table(m)[f"<unknown index at line {line}>"] = Entry(
                Unknown(f"entry at an index that cannot be known: {idx.reason}", line, path), line, path)
            return
        name = str(idx) if is_int(idx) else "{" + idx.render().replace("{", "").replace("}", "") + "}"
        value = self._coerce_item(m, item)
        table = m.children if isinstance(value, ModuleValue) else self._table(m)
        table[name] = Entry(value, line, path)
        del ev

    def _unindex_conditional(self, m: ModuleValue) -> None:
        """Entries that exist only under a condition, once an entry follows them: the index each one gets
        depends on which exist, so none of them is claimed at its index."""
        for table in (m.params, m.children):
            if not any(e.condition is not None and k.isdigit() for k, e in table.items()):
                continue
            items = list(table.items())
            table.clear()
            for k, e in items:
                if e.condition is not None and k.isdigit():
                    k = f"<unknown index at line {e.line}>"
                    e = Entry(Unknown(f"entry at an index that cannot be known: it exists only if {e.condition} "
                                      f"and is followed by others", e.line, e.path), e.line, e.path)
                table[k] = e

    def _coerce_item(self, m: ModuleValue, v: Any) -> Any:
        if m.container in ("ParameterList", "ParameterDict"):
            if isinstance(v, TensorSpec):
                return ParamValue(v)
            if isinstance(v, (ParamValue, Unknown, ModuleValue)) or v is None:
                return v
            if isinstance(v, Opaque):
                return Unknown(f"parameter from unbound `{v.name}`", *self._where())
            raise raise_(self.ev, "ParameterList/Dict item is not a tensor")
        if isinstance(v, Opaque):
            return Unknown(f"submodule from unbound parameter `{v.name}`", *self._where())
        if isinstance(v, Unknown):
            return v if v.maybe_state else raise_(self.ev, "item is not a Module")
        if not isinstance(v, ModuleValue) and v is not None:
            raise raise_(self.ev, f"{m.container} item is not a Module")
        return v

    def container_extend(self, m: ModuleValue, src: Any) -> ModuleValue:
        items = self.ev.iterate(src)
        if isinstance(items, Unknown):
            self._append(m, Repeated(items, Unknown("?"), "?"))
            return m

        if isinstance(items, SymRange):
            self._append(m, Repeated(Unknown("symbolic range"), Unknown("?"), "?"))
            return m
        for it in items:
            if isinstance(it, tuple) and m.container in ("ModuleDict", "ParameterDict"):
                continue
            self._append(m, it)
        return m

    def container_update(self, m: ModuleValue, src: Any) -> ModuleValue:
        line, path = self._where()
        if isinstance(src, ModuleValue) and src.container in ("ModuleDict", "ParameterDict"):
            pairs = [(k, e.value) for k, e in self._table(src).items()]
        elif isinstance(src, dict):
            pairs = list(src.items())
            if m.container == "ParameterDict" and not isinstance(src, OrderedDict):
                # torch's ParameterDict.update sorts a plain mapping by key (an OrderedDict keeps its order)
                if all(isinstance(k, str) for k in src):
                    pairs.sort(key=lambda kv: kv[0])
                else:
                    self._table(m)[f"<unknown entries at line {line}>"] = Entry(
                        Unknown("entries of a plain dict are sorted by key, and some keys cannot be known",
                                line, path), line, path)
                    return m
        else:
            items = self.ev.iterate(src)
            if isinstance(items, Unknown) or not isinstance(items, list):
                self._table(m)[f"<unknown entries at line {line}>"] = Entry(
                    Unknown("entries cannot be known", line, path), line, path)
                return m
            pairs = []
            for it in items:
                if isinstance(it, (tuple, list)) and len(it) == 2:
                    pairs.append((it[0], it[1]))
                else:
                    self._table(m)[f"<unknown entries at line {line}>"] = Entry(
                        Unknown("entries cannot be known", line, path), line, path)
                    return m
        for k, v in pairs:
            if not isinstance(k, str):
                k = getattr(k, "key", k)
                if isinstance(k, Sym):
                    k = "{" + k.render().replace("{", "").replace("}", "") + "}"
                elif not isinstance(k, str):
                    self._table(m)[f"<unknown name at line {line}>"] = Entry(
                        Unknown("entry under a name that cannot be known", line, path), line, path)
                    continue
            value = self._coerce_item(m, v)
            tab = self._table(m)
            if k in tab:
                tab[k].value = value
            else:
                tab[k] = Entry(value, line, path)
        return m

    def container_len(self, m: ModuleValue) -> Any:
        if m.opened is not None:
            return Unknown(f"len() of `{m.name}`: {m.opened.reason}", m.opened.line, m.opened.path, False)
        return self._next_index(m) if m.container not in ("ModuleDict", "ParameterDict") else len(self._table(m))

    def container_iter(self, m: ModuleValue) -> Any:
        if m.opened is not None:
            return Unknown(f"iteration over `{m.name}`: {m.opened.reason}", m.opened.line, m.opened.path)
        tab = self._table(m)
        if any(e.run is not None for e in tab.values()):
            return self.ev.unknown("iteration over a container of symbolic length")
        if m.container in ("ModuleDict", "ParameterDict"):
            return list(tab.keys())
        if m.container:
            return [e.value for e in tab.values()]
        return self.ev.unknown("iteration over a module")

    def container_getitem(self, m: ModuleValue, key: Any) -> Any:
        ev = self.ev
        tab = self._table(m)
        if m.opened is not None and m.container:
            return Unknown(f"an entry of `{m.name}`: {m.opened.reason}", m.opened.line, m.opened.path)
        if not m.container:
            return ev.unknown(f"`{m.name}` is not subscriptable")
        if m.container in ("ModuleDict", "ParameterDict"):
            if isinstance(key, str) and key in tab:
                return tab[key].value
            if isinstance(key, str):
                raise raise_(ev, f"KeyError: {key!r}")
            return ev.unknown("lookup with a key that cannot be known")
        if any(e.run is not None for e in tab.values()):
            first = next(i for i, e in enumerate(tab.values()) if e.run is not None)
            if is_int(key) and 0 <= key < first:
                return list(tab.values())[key].value
            reps = [e for e in tab.values() if e.run is not None]
            if len(tab) == 1 and len(reps) == 1 and (is_intlike(key)):
                return reps[0].value  # every item is the same template
            return ev.unknown("item of a container of symbolic length")
        vals = list(tab.values())
        if is_int(key):
            try:
                return vals[key].value
            except IndexError:
                raise raise_(ev, "index out of range")
        if isinstance(key, slice):
            out = ModuleValue(m.cls, m.name)
            out.container = m.container
            for (name, e) in list(tab.items())[key]:
                (out.children if m.container == "Sequential" else self._table(out))[
                    name if m.container == "Sequential" else str(len(self._table(out)))] = Entry(e.value, e.line, e.path)
            return out
        return ev.unknown("item at an index that cannot be known")

    def container_setitem(self, m: ModuleValue, key: Any, value: Any) -> None:
        tab = self._table(m)
        line, path = self._where()
        if m.container in ("ModuleDict", "ParameterDict") and isinstance(key, str):
            value = self._coerce_item(m, value)
            if key in tab:
                tab[key].value = value
            else:
                tab[key] = Entry(value, line, path)
            return
        if is_int(key):
            names = list(tab)
            if -len(names) <= key < len(names):
                tab[names[key]].value = self._coerce_item(m, value)
                return
            raise raise_(self.ev, "index out of range")
        tab[f"<unknown item at line {line}>"] = Entry(Unknown("item set at an index that cannot be known", line, path), line, path)

    def container_delitem(self, m: ModuleValue, key: Any) -> None:
        tab = self._table(m)
        if isinstance(key, str) and key in tab:
            del tab[key]
            return
        if (is_int(key) or isinstance(key, slice)) and m.container in ("ModuleList", "Sequential"):
            names = list(tab)
            if any(e.run is not None for e in tab.values()) or any(n.startswith("<") for n in names):
                tab.clear()  # which entries remain, and under which numbers, cannot be known
                tab[f"<unknown deletion at line {self.ev.line}>"] = Entry(
                    Unknown("deletion from a container of unknown length", self.ev.line, self.ev.path),
                    self.ev.line, self.ev.path)
                return
            if isinstance(key, slice):
                gone = names[key]
            elif -len(names) <= key < len(names):
                gone = [names[key]]
            else:
                raise raise_(self.ev, "index out of range")
            for n in gone:
                del tab[n]
            if m.container in ("ModuleList", "Sequential"):  # torch renumbers (Sequential: even named entries)
                items = list(tab.values())
                tab.clear()
                for i, e in enumerate(items):
                    tab[str(i)] = e
            return
        raise raise_(self.ev, "cannot delete that item" if m.container != "ParameterList"
                     else "ParameterList does not support item deletion (AttributeError: __delitem__)")

    def _container_method(self, m: ModuleValue, name: str) -> Any:
        c = m.container
        if c in ("ModuleList", "Sequential", "ParameterList"):
            if name == "append":
                def append(v: Any) -> ModuleValue:
                    self._append(m, self._repeat_wrap(v))
                    return m  # (ModuleList.append returns the list)

                return Intrinsic(f"{c}.append", append)
            if name == "extend":
                return Intrinsic(f"{c}.extend", lambda v: self.container_extend(m, self._repeat_list(v)))
            if name == "insert" and c == "ModuleList":
                return Intrinsic("ModuleList.insert", lambda i, v: self._insert(m, i, v))
            if name == "pop" and c in ("ModuleList", "Sequential"):
                def pop(key: Any) -> Any:  # torch: v = self[key]; del self[key]; return v
                    v = self.container_getitem(m, key)
                    self.container_delitem(m, key)
                    return v

                return Intrinsic(f"{c}.pop", pop)
            if name == "__len__":
                return Intrinsic("len", lambda: self.container_len(m))
        if c in ("ModuleDict", "ParameterDict"):
            if name == "update":
                return Intrinsic(f"{c}.update", lambda v: self.container_update(m, v))
            if name in ("keys", "values", "items"):
                tab = self._table(m)
                if name == "keys":
                    return Intrinsic("keys", lambda: list(tab.keys()))
                if name == "values":
                    return Intrinsic("values", lambda: [e.value for e in tab.values()])
                return Intrinsic("items", lambda: [(k, e.value) for k, e in tab.items()])
            if name == "pop":
                return Intrinsic("pop", lambda k: self._table(m).pop(k).value if k in self._table(m) else raise_(self.ev, "KeyError"))
            if name == "clear":
                return Intrinsic(f"{c}.clear", lambda: self._table(m).clear())
        return None

    def _repeat_wrap(self, v: Any) -> Any:
        if self.ev.repeat and not isinstance(v, Repeated):
            ph, count = self.ev.repeat[-1]
            return Repeated(v, count, ph)
        return v

    def _repeat_list(self, v: Any) -> Any:
        items = self.ev.iterate(v)
        if isinstance(items, list):
            return [self._repeat_wrap(x) for x in items]
        return v

    def _insert(self, m: ModuleValue, index: Any, value: Any) -> None:
        tab = self._table(m)
        if not is_int(index) or any(e.run is not None for e in tab.values()):
            tab[f"<unknown insert at line {self.ev.line}>"] = Entry(Unknown("insert at an unknown position"), self.ev.line, self.ev.path)
            return
        items = list(tab.values())
        line, path = self._where()
        items.insert(index if index >= 0 else len(items) + index, Entry(self._coerce_item(m, value), line, path))
        tab.clear()
        for i, e in enumerate(items):
            tab[str(i)] = e

