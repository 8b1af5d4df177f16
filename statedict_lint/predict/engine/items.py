"""Item access and iteration: subscripts (read and write), iterators and iterating values."""

from __future__ import annotations

from typing import Any, List, Optional

from statedict_lint.predict.engine.base import EngineBase
from statedict_lint.predict.engine.budget import MAX_UNROLL
from statedict_lint.predict.engine.common import _hashable_key, _same_plain
from statedict_lint.predict.signals import EvalRaise
from statedict_lint.predict.symbolic import Sym, is_int
from statedict_lint.predict.values import (
    ClassValue,
    DictView,
    GeneratorValue,
    InstanceValue,
    ModuleValue,
    NamespaceValue,
    Opaque,
    ParamValue,
    Repeated,
    SymKey,
    SymRange,
    SymSlice,
    TensorSpec,
    Unknown,
    maybe_state,
)
from statedict_lint.source.loader import SourceFile


class ItemsMixin(EngineBase):

    def setitem(self, obj: Any, key: Any, value: Any) -> None:
        if isinstance(obj, (list, dict)):
            if isinstance(obj, dict):
                key = _hashable_key(key)
            if isinstance(key, (Unknown, Opaque, Sym, SymKey)):
                if isinstance(obj, dict):
                    obj[key if isinstance(key, SymKey) else SymKey(key)] = value
                    return
                obj[:] = [Repeated(Unknown("list element set at a symbolic index"), Unknown("?"), "?")]
                return
            try:
                obj[key] = value
            except (IndexError, TypeError, KeyError):
                raise EvalRaise("item assignment out of range", self.line, self.path)
        elif isinstance(obj, ModuleValue):
            self.torch.container_setitem(obj, key, value)
        elif isinstance(obj, (TensorSpec, ParamValue)):
            return  # in-place writes into a tensor keep its shape and dtype
        elif isinstance(obj, Unknown):
            # a write into a container we cannot see (`groups[unknown_index][k] = v`): it may alias one we track,
            # so later conclusions (a KeyError, say) are not certain any more
            if self.loading:  # at import (registries filled by decorators): the tables of this module
                self.taint_module_state(self.path_modules.get(self.path),
                                        f"a write into a value that cannot be known (line {self.line})")
            else:
                self.lost_writes.append((self.line, self.path))

    def getitem(self, obj: Any, key: Any) -> Any:
        if isinstance(obj, Unknown):
            return obj
        if isinstance(key, Opaque):
            key = key.sym()
        if isinstance(obj, Opaque):
            obj.used_as_value = True
            if isinstance(key, str):
                return Opaque(f"{obj.name}[{key!r}]", "", obj.line, obj.path)
            if is_int(key):
                return Opaque(f"{obj.name}[{key}]", "", obj.line, obj.path)
            return self.unknown(f"item of unbound parameter `{obj.name}`")
        if isinstance(obj, dict):
            if isinstance(key, (Unknown, Sym)):
                return self.unknown("dict lookup with an unknown key", maybe_state=any(maybe_state(v) for v in obj.values()))
            try:
                found = obj[_hashable_key(key)]
                sk = [k for k in obj if isinstance(k, SymKey)]
                if sk:  # a key that cannot be known may be this one, written with another value
                    why = sk[0].key.reason if isinstance(sk[0].key, Unknown) else "a key set under an unknown name"
                    return self.unknown(f"dict lookup: the dict may hold this key with another value ({why})",
                                        maybe_state=any(maybe_state(v) for v in obj.values()))
                return found
            except KeyError:
                sk = [k for k in obj if isinstance(k, SymKey)]
                if sk:
                    why = sk[0].key.reason if isinstance(sk[0].key, Unknown) else "a key set under an unknown name"
                    return self.unknown(f"dict lookup: the dict may hold other keys ({why})")
                if isinstance(key, InstanceValue) and key.value_key() is None and (
                        getattr(key.cls, "is_dataclass", False)
                        or (isinstance(key.cls, ClassValue) and key.cls.find("__eq__")[0] is not None)):
                    # an object that may compare by value: equality the evaluator cannot reproduce
                    return self.unknown(f"dict lookup with a `{key.cls.name}` key, compared by an __eq__ that is "
                                        "not modelled", maybe_state=any(maybe_state(v) for v in obj.values()))
                raise EvalRaise(f"KeyError: {key!r}", self.line, self.path)
            except TypeError:
                return self.unknown("unhashable dict key", False)
        if isinstance(obj, (list, tuple, str)):
            return self._seq_getitem(obj, key)
        if isinstance(obj, InstanceValue) and obj.items is not None:
            return self._seq_getitem(obj.items, key)
        if isinstance(obj, ModuleValue):
            return self.torch.container_getitem(obj, key)
        if isinstance(obj, (TensorSpec, ParamValue)):
            return self.torch.tensor_getitem(obj, key)
        if isinstance(obj, SymRange):
            return self.unknown("item of a symbolic range", False)
        if isinstance(obj, ClassValue):
            return obj  # typing generics: List[int] etc.
        if isinstance(obj, NamespaceValue):
            return obj
        return self.unknown("subscript of an unsupported value")

    def _seq_getitem(self, obj: Any, key: Any) -> Any:
        has_rep = any(isinstance(x, Repeated) for x in obj) if not isinstance(obj, str) else False
        if isinstance(key, (Unknown, Sym, SymSlice)):
            if not isinstance(obj, str) and obj and all(_same_plain(obj[0], x) for x in obj[1:]) and not has_rep \
                    and not isinstance(key, SymSlice):
                return obj[0]
            return self.unknown("item at a symbolic index", maybe_state=any(maybe_state(x) for x in obj) if not isinstance(obj, str) else False)
        if has_rep:
            first = next(i for i, x in enumerate(obj) if isinstance(x, Repeated))
            if is_int(key) and 0 <= key < first:
                return obj[key]
            return self.unknown("item of a list of symbolic length")
        try:
            return obj[key]
        except IndexError:
            raise EvalRaise("index out of range", self.line, self.path)
        except TypeError:
            return self.unknown("unsupported index", False)

    # -- iteration ---------------------------------------------------------------------------
    def iterator(self, items: List[Any]) -> GeneratorValue:
        """A one-shot iterator over ``items``."""
        return GeneratorValue(items, len(self.conditions))

    def take(self, g: GeneratorValue, n: Optional[int] = None) -> Any:
        """Advance the iterator ``g`` by ``n`` items (None: to its end): the items taken, or Unknown."""
        ms = any(maybe_state(x) for x in g.items)
        if g.pos is None:
            return self.unknown("an iterator advanced by code whose effect on it cannot be known", maybe_state=ms)
        if len(self.conditions) > g.depth:
            # consumed in one branch of an undecidable condition only: where it stands afterwards is not known
            g.pos = None
            return self.unknown("an iterator consumed under an undecidable condition", maybe_state=ms)
        rest = g.items[g.pos:] if n is None else g.items[g.pos:g.pos + n]
        if n is not None and any(isinstance(x, Repeated) for x in rest):
            g.pos = None
            return self.unknown("next() on an iterator of symbolic length", maybe_state=ms)
        g.pos += len(rest)
        return list(rest)

    def iterate_unordered(self, v: Any) -> Any:
        """``iterate`` for callers whose result does not depend on the order of the items (sorted(), min(),
        sum(), any(), set()): a set's items in any order."""
        if isinstance(v, (set, frozenset)):
            return list(v)
        return self.iterate(v)

    def iterate(self, v: Any, sf: Optional[SourceFile] = None) -> Any:
        """A list of items, a SymRange, or Unknown."""
        if isinstance(v, (list, tuple)):
            return list(v)
        if isinstance(v, InstanceValue) and v.items is not None:
            return list(v.items)
        if isinstance(v, GeneratorValue):
            return self.take(v)
        if isinstance(v, (str, bytes)):
            return list(v)
        if isinstance(v, dict):
            if any(isinstance(k, SymKey) for k in v):
                return self.unknown("iteration over a dict holding keys that cannot be known",
                                    maybe_state=any(maybe_state(x) for x in v.values()))
            return list(v.keys())
        if isinstance(v, (set, frozenset)):
            if len(v) <= 1 or all(_seed_free_hash(x) for x in v):
                # numbers (and tuples of them) hash the same in every process: CPython's own order, which the
                # evaluator's real set, built by the same steps, has too
                return list(v)
            # str/bytes hashes change with PYTHONHASHSEED, objects hash by address: the order is not knowable
            # (callers that do not depend on it use iterate_unordered: sorted(), min(), sum(), ...)
            return self.unknown("the iteration order of a set of strings or objects differs from run to run "
                                "(PYTHONHASHSEED); sort it first", maybe_state=any(maybe_state(x) for x in v))
        if isinstance(v, range):
            n = _range_len(v)
            if n > MAX_UNROLL:
                return self.too_large(f"a loop of {n} iterations" if n < 10 ** 30 else "a loop over a huge range")
            return list(v)
        if isinstance(v, SymRange):
            return v
        if isinstance(v, DictView):
            if any(isinstance(k, SymKey) for k in v.d):
                return self.unknown("iteration over a dict holding keys that cannot be known",
                                    maybe_state=any(maybe_state(x) for x in v.d.values()))
            return v.items()
        if isinstance(v, ModuleValue):
            return self.torch.container_iter(v)
        if isinstance(v, Unknown):
            return v
        if isinstance(v, Opaque):
            v.used_as_value = True
            return self.unknown(f"iteration over unbound parameter `{v.name}`", False)
        if isinstance(v, (TensorSpec, ParamValue)):
            return self.unknown("iteration over a tensor", False)
        return self.unknown("iteration over an unsupported value")

    def _maybe_repeated(self, items: List[Any]) -> List[Any]:
        if not self.repeat:
            return items
        ph, count = self.repeat[-1]
        return [x if isinstance(x, Repeated) else Repeated(x, count, ph) for x in items]


# -- helpers ------------------------------------------------------------------------------------

def _range_len(r: range) -> int:
    try:
        return len(r)
    except OverflowError:
        return 1 << 64


def _seed_free_hash(v: Any) -> bool:
    """Values whose hash (so their place in a set) is the same in every Python process."""
    if isinstance(v, (int, float, bool, complex, type(None))):
        return True
    return isinstance(v, tuple) and all(_seed_free_hash(x) for x in v)
