"""Forking the evaluator's state for an undecidable condition, and merging the branches back.

``fork_copy`` copies every mutable value reachable from a frame's locals (modules, instances, lists,
dicts), remembering which copy belongs to which original. After each branch ran on its own copy,
``merge_outcomes`` writes the merged contents back into the original objects, so every other reference
to them (caller frames, enclosing modules) sees the result. What differs between branches becomes
*conditional* (module entries: the key exists only on one branch) or ``Unknown`` (plain values).
"""

from __future__ import annotations

from typing import Any, Dict, List, Optional, Tuple

from statedict_lint.predict.symbolic import Sym
from statedict_lint.predict.values import (
    BufferMarker, Entry, InstanceValue, ModuleValue, ParamValue, Repeated, TensorSpec, Unknown, maybe_state,
)

Pairs = Dict[int, Tuple[Any, Any]]  # id(original) -> (original, copy)


def fork_copy(roots: Dict[str, Any]) -> Tuple[Dict[str, Any], Dict[int, Any], Pairs]:
    memo: Dict[int, Any] = {}
    pairs: Pairs = {}

    def cp(v: Any) -> Any:
        t = type(v)
        if t in (int, float, str, bool, type(None), Sym, bytes):
            return v
        key = id(v)
        if key in memo:
            return memo[key]
        if t is list:
            out: Any = []
            memo[key] = out
            pairs[key] = (v, out)
            out.extend(cp(x) for x in v)
            return out
        if t is dict:
            out = {}
            memo[key] = out
            pairs[key] = (v, out)
            for k, x in v.items():
                out[k] = cp(x)
            return out
        if t is tuple:
            items = tuple(cp(x) for x in v)
            return v if all(a is b for a, b in zip(items, v)) else items
        if t is ModuleValue:
            out = ModuleValue(v.cls, v.name)
            memo[key] = out
            pairs[key] = (v, out)
            out.params = {k: _cp_entry(e, cp) for k, e in v.params.items()}
            out.buffers = {k: _cp_entry(e, cp) for k, e in v.buffers.items()}
            out.children = {k: _cp_entry(e, cp) for k, e in v.children.items()}
            out.unknown_attrs = {k: _cp_entry(e, cp) for k, e in v.unknown_attrs.items()}
            out.attrs = {k: cp(x) for k, x in v.attrs.items()}
            out.origin, out.origin_line, out.origin_path = v.origin, v.origin_line, v.origin_path
            out.extra_state, out.container = v.extra_state, v.container
            out.state_hooks, out.opened = list(v.state_hooks), v.opened
            return out
        if t is InstanceValue:
            out = InstanceValue(v.cls)
            memo[key] = out
            pairs[key] = (v, out)
            out.attrs = {k: cp(x) for k, x in v.attrs.items()}
            out.tainted, out.frozen = v.tainted, v.frozen
            out.items = None if v.items is None else tuple(cp(x) for x in v.items)
            return out
        if t is Repeated:
            out = Repeated(None, v.count, v.placeholder)
            memo[key] = out
            pairs[key] = (v, out)
            out.value = cp(v.value)
            return out
        return v  # immutable or shared (tensor specs, classes, functions, unknowns, namespaces)

    copied = cp(roots)
    return copied, memo, pairs


def _cp_entry(e: Entry, cp: Any) -> Entry:
    return Entry(cp(e.value), e.line, e.path, e.condition, e.persistent, e.run, e.placeholder, e.ctx)


def _join(a: Optional[str], b: Optional[str]) -> Optional[str]:
    if a is None:
        return b
    if b is None:
        return a
    return f"{a} and {b}"


def _translate(v: Any, back: Dict[int, Any], seen: set) -> Any:
    """Replace copies by their originals, recursing into fresh containers made in the branch."""
    key = id(v)
    if key in back:
        return back[key]
    t = type(v)
    if t in (list, dict, ModuleValue, InstanceValue, Repeated) and key not in seen:
        seen.add(key)
        _translate_contents(v, back, seen)
    elif t is tuple:
        items = tuple(_translate(x, back, seen) for x in v)
        return v if all(a is b for a, b in zip(items, v)) else items
    return v


def _translate_contents(v: Any, back: Dict[int, Any], seen: set) -> None:
    t = type(v)
    if t is list:
        v[:] = [_translate(x, back, seen) for x in v]
    elif t is dict:
        for k in list(v):
            v[k] = _translate(v[k], back, seen)
    elif t is ModuleValue:
        for table in (v.params, v.buffers, v.children, v.unknown_attrs):
            for e in table.values():
                e.value = _translate(e.value, back, seen)
        for k in list(v.attrs):
            v.attrs[k] = _translate(v.attrs[k], back, seen)
    elif t is InstanceValue:
        for k in list(v.attrs):
            v.attrs[k] = _translate(v.attrs[k], back, seen)
        if v.items is not None:
            v.items = tuple(_translate(x, back, seen) for x in v.items)
    elif t is Repeated:
        v.value = _translate(v.value, back, seen)


def _write_back(orig: Any, src: Any) -> None:
    t = type(orig)
    if t is list:
        orig[:] = src
    elif t is dict:
        orig.clear()
        orig.update(src)
    elif t is ModuleValue:
        orig.params, orig.buffers, orig.children = src.params, src.buffers, src.children
        orig.unknown_attrs, orig.attrs = src.unknown_attrs, src.attrs
        orig.extra_state, orig.container = src.extra_state, src.container
        orig.state_hooks, orig.opened = src.state_hooks, src.opened
    elif t is InstanceValue:
        orig.attrs = src.attrs
        orig.tainted, orig.frozen, orig.items = src.tainted, src.frozen, src.items
    elif t is Repeated:
        orig.value, orig.count = src.value, src.count


def merge_outcomes(ev: Any, roots: Dict[str, Any], live: List[tuple]) -> None:
    """live: [(condition, memo, copied_roots, signal, pairs)] of the branches that did not raise."""
    # every branch: map its copies back to the originals
    translated = []
    for cond, _memo, copied, _signal, pairs in live:
        back = {id(c): o for o, c in pairs.values()}
        seen: set = set()
        for o, c in pairs.values():
            if id(c) not in seen:
                seen.add(id(c))
                _translate_contents(c, back, seen)
        translated.append((cond, pairs))
    if len(translated) == 1:
        for o, c in translated[0][1].values():
            _write_back(o, c)
        return
    (cond_a, pairs_a), (cond_b, pairs_b) = translated[0], translated[1]
    for key, (orig, ca) in pairs_a.items():
        cb = pairs_b.get(key, (None, None))[1]
        if cb is None:
            _write_back(orig, ca)
            continue
        merged = _merge_same(ev, orig, ca, cb, cond_a, cond_b)
        _write_back(orig, merged)


def _merge_same(ev: Any, orig: Any, a: Any, b: Any, cond_a: str, cond_b: str) -> Any:
    """Merge two branch copies of the same original object (same type)."""
    t = type(orig)
    if t is list:
        if len(a) == len(b):
            return [merge_values(ev, x, y, cond_a) for x, y in zip(a, b)]
        if _prefix_same(a, b):
            short, long_, cond = (a, b, cond_b) if len(a) < len(b) else (b, a, cond_a)
            u = Unknown(f"the list has {len(short)} or {len(long_)} items depending on {cond}", ev.line, ev.path,
                        maybe_state=any(maybe_state(x) for x in long_))
            return list(short) + [Repeated(u, Unknown(f"depends on {cond}", ev.line, ev.path), "?")]
        return [Repeated(Unknown(f"list contents depend on {cond_a}", ev.line, ev.path,
                                 maybe_state=any(maybe_state(x) for x in a + b)),
                         Unknown("?", ev.line, ev.path), "?")]
    if t is dict:
        out = {}
        for k in list(a) + [k for k in b if k not in a]:
            if k in a and k in b:
                out[k] = merge_values(ev, a[k], b[k], cond_a)
            else:
                v = a[k] if k in a else b[k]
                out[k] = Unknown(f"`{k}` is set only when {cond_a if k in a else cond_b}", ev.line, ev.path,
                                 maybe_state=maybe_state(v))
        return out
    if t is ModuleValue:
        return merge_modules(ev, a, b, cond_a, cond_b)
    if t is InstanceValue:
        out_i = InstanceValue(a.cls)
        out_i.tainted = a.tainted or b.tainted
        out_i.frozen = a.frozen and b.frozen
        if a.items is not None and b.items is not None and len(a.items) == len(b.items):
            out_i.items = tuple(merge_values(ev, x, y, cond_a) for x, y in zip(a.items, b.items))
        for k in list(a.attrs) + [k for k in b.attrs if k not in a.attrs]:
            if k in a.attrs and k in b.attrs:
                out_i.attrs[k] = merge_values(ev, a.attrs[k], b.attrs[k], cond_a)
            else:
                out_i.attrs[k] = Unknown(f"attribute `{k}` is set only on one branch of {cond_a}", ev.line, ev.path)
        return out_i
    if t is Repeated:
        out_r = Repeated(merge_values(ev, a.value, b.value, cond_a), a.count, a.placeholder)
        if not _same(a.count, b.count):
            out_r.count = Unknown(f"count depends on {cond_a}", ev.line, ev.path, False)
        return out_r
    return a


def _prefix_same(a: list, b: list) -> bool:
    return all(x is y for x, y in zip(a, b))


def merge_modules(ev: Any, a: ModuleValue, b: ModuleValue, cond_a: str, cond_b: str) -> ModuleValue:
    out = ModuleValue(a.cls if a.cls is b.cls else a.cls, a.name if a.name == b.name else f"{a.name} | {b.name}")
    out.origin, out.origin_line, out.origin_path = a.origin, a.origin_line, a.origin_path
    out.container = a.container if a.container == b.container else a.container
    out.extra_state = a.extra_state or b.extra_state
    out.state_hooks = a.state_hooks + [h for h in b.state_hooks if h not in a.state_hooks]
    out.opened = a.opened or b.opened
    for table in ("params", "buffers", "children", "unknown_attrs"):
        ta, tb = getattr(a, table), getattr(b, table)
        merged: Dict[str, Entry] = {}
        for name in list(ta) + [n for n in tb if n not in ta]:
            if name in ta and name in tb:
                ea, eb = ta[name], tb[name]
                # present on both branches; still conditional if it was conditional on either
                cond = ea.condition if ea.condition == eb.condition else (ea.condition or eb.condition)
                if (ea.value is None) != (eb.value is None):  # registered as None on one branch only
                    e, c = (eb, cond_b) if ea.value is None else (ea, cond_a)
                    merged[name] = Entry(e.value, e.line, e.path, _join(e.condition, c), e.persistent,
                                         e.run, e.placeholder, e.ctx)
                    continue
                value = merge_values(ev, ea.value, eb.value, cond_a)
                merged[name] = Entry(value, ea.line or eb.line, ea.path or eb.path, cond,
                                     ea.persistent if ea.persistent == eb.persistent else True,
                                     ea.run, ea.placeholder, ea.ctx)
                if ea.persistent != eb.persistent:
                    merged[name].condition = _join(cond, f"persistence depends on {cond_a}")
            elif name in ta:
                e = ta[name]
                merged[name] = Entry(e.value, e.line, e.path, _join(e.condition, cond_a), e.persistent,
                                     e.run, e.placeholder, e.ctx)
            else:
                e = tb[name]
                merged[name] = Entry(e.value, e.line, e.path, _join(e.condition, cond_b), e.persistent,
                                     e.run, e.placeholder, e.ctx)
        # entries on both branches registered in a different order: their position depends on the branch
        common_a = [n for n in ta if n in tb]
        common_b = [n for n in tb if n in ta]
        if common_a != common_b:
            for n in common_a:
                if common_a.index(n) != common_b.index(n):
                    merged[n].condition = _join(merged[n].condition, f"position depends on {cond_a}")
        setattr(out, table, merged)
    for k in list(a.attrs) + [k for k in b.attrs if k not in a.attrs]:
        if k in a.attrs and k in b.attrs:
            out.attrs[k] = merge_values(ev, a.attrs[k], b.attrs[k], cond_a)
        else:
            out.attrs[k] = Unknown(f"attribute `{k}` is set only when {cond_a if k in a.attrs else cond_b}",
                                   ev.line, ev.path, maybe_state=False)
    return out


def _same(a: Any, b: Any) -> bool:
    if a is b:
        return True
    if type(a) is not type(b):
        return False
    if isinstance(a, (int, float, str, bool, bytes, Sym)):
        return a == b
    if isinstance(a, tuple):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b))
    if isinstance(a, TensorSpec):
        return a.shape == b.shape and a.dtype == b.dtype
    if isinstance(a, ParamValue):
        return _same(a.tensor, b.tensor)
    return False


def merge_values(ev: Any, a: Any, b: Any, cond: str) -> Any:
    if _same(a, b):
        return a
    if isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
        return [merge_values(ev, x, y, cond) for x, y in zip(a, b)]
    if isinstance(a, ModuleValue) and isinstance(b, ModuleValue):
        return merge_modules(ev, a, b, cond, f"not ({cond})" if not cond.startswith("not ") else cond[4:])
    if isinstance(a, TensorSpec) and isinstance(b, TensorSpec):
        return _merge_tensor(a, b, cond)
    if isinstance(a, ParamValue) and isinstance(b, ParamValue):
        return ParamValue(_merge_tensor(a.tensor, b.tensor, cond))
    if isinstance(a, BufferMarker) and isinstance(b, BufferMarker) and a.persistent == b.persistent:
        return BufferMarker(_merge_tensor(a.tensor, b.tensor, cond), a.persistent)
    return Unknown(f"value depends on {cond}", ev.line, ev.path, maybe_state=maybe_state(a) or maybe_state(b))


def _merge_tensor(a: TensorSpec, b: TensorSpec, cond: str) -> TensorSpec:
    if a.shape is not None and b.shape is not None and len(a.shape) == len(b.shape):
        shape: Optional[tuple] = tuple(x if _same(x, y) else None for x, y in zip(a.shape, b.shape))
    else:
        shape = None
    dtype = a.dtype if a.dtype == b.dtype else None
    return TensorSpec(shape, dtype, a.line, a.path, f"shape or dtype depends on {cond}")
