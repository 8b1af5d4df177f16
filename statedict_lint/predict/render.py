"""Turn an evaluated module value into a ``Prediction``: keys in torch's state_dict order.

Order is torch's ``Module.state_dict``: the module's own parameters, then its persistent buffers, then
``_extra_state`` (when ``get_extra_state`` is overridden), then each child recursively.
"""

from __future__ import annotations

from typing import Any, Dict, List, Optional, Tuple

from statedict_lint.predict.template import KeySpec, Prediction, Unresolved
from statedict_lint.predict.values import ClassValue, Entry, ModuleValue, Opaque, ParamValue, TensorSpec, Unknown


def _join(a: Optional[str], b: Optional[str]) -> Optional[str]:
    if a is None:
        return b
    if b is None or b == a:
        return a
    return f"{a} and {b}"


class _Renderer:
    def __init__(self, target: str, target_path: str) -> None:
        self.pred = Prediction(target)
        self.target_path = target_path
        self.seen: Dict[int, str] = {}
        self._notes: set = set()
        self.hook_conditions: set = set()  # the conditions the walk adds for state_dict hooks and overrides

    def note(self, line: int, path: str, message: str, key: Optional[str] = None) -> None:
        seen = (line, path, message)
        if seen not in self._notes:
            self._notes.add(seen)
            self.pred.unresolved.append(Unresolved(line, message, path, key=key))

    def origin(self, m: ModuleValue) -> tuple:
        text = ""
        if m.origin is not None:
            node, sf = m.origin
            if m.origin_line:
                try:
                    text = " ".join(sf.code(node).split())
                except Exception:  # noqa: BLE001 - code generation of odd nodes
                    text = ""
        return text, m.origin_line, m.origin_path

    def tensor_key(self, key: str, t: TensorSpec, kind: str, e: Entry, m: ModuleValue, cond: Optional[str],
                   repeat: Dict[str, Any], persistent: bool = True, ident: Any = None) -> KeySpec:
        text, oline, opath = self.origin(m)
        shape = t.shape
        ks = KeySpec(key=key, shape=shape, dtype=t.dtype, kind=kind, line=e.line, path=e.path, layer=m.name,
                     origin=text, origin_line=oline or e.line, origin_path=opath or e.path,
                     condition=_join(cond, e.condition), repeat=dict(repeat), persistent=persistent)
        if persistent and (shape is None or any(d is None for d in shape) or t.dtype is None):
            # (a non-persistent buffer is not in the state_dict: its unknown shape leaves nothing unsettled)
            why = t.why or "cannot be computed"
            what = "shape" if (shape is None or any(d is None for d in shape)) else "dtype"
            if shape is not None and any(d is None for d in shape) and t.dtype is None:
                what = "shape and dtype"
            self.note(e.line, e.path, f"`{key}`: {what} unknown ({why})", key=key)
        tid = id(ident if ident is not None else t)
        if tid in self.seen:
            ks.tied_to = self.seen[tid]
        else:
            self.seen[tid] = key
        return ks

    def walk(self, m: ModuleValue, prefix: str, cond: Optional[str], repeat: Dict[str, Any]) -> None:
        self._walk(m, prefix, cond, repeat)
        hooks = state_dict_overrides(m)
        if hooks:
            # torch's state_dict runs these over the dict saved so far (every key up to the end of this module):
            # which of those keys it keeps, under which name, with which tensor, is not known
            kept = f"torch's state_dict keeps it despite the hook or override at line {hooks[0][0]}"
            self.hook_conditions.add(kept)
            for ks in self.pred.keys:
                if ks.condition is None or "despite the hook or override" not in ks.condition:
                    ks.condition = _join(ks.condition, kept)
                ks.shape, ks.dtype, ks.tied_to = None, None, None
            for line, path, what in hooks:
                self.note(line, path, f"{what}: the keys saved up to `{prefix[:-1] or m.name}` are not known",
                          key=prefix[:-1])

    def _walk(self, m: ModuleValue, prefix: str, cond: Optional[str], repeat: Dict[str, Any]) -> None:
        self.pred.modules.setdefault(prefix[:-1], m.name)
        for name, e in m.params.items():
            key = prefix + name
            v = e.value
            if v is None:
                continue
            if isinstance(v, Unknown):
                self.note(e.line or v.line, e.path or v.path, f"`{key}`: {v.reason}", key=key)
                continue
            if isinstance(v, ParamValue):
                self.pred.keys.append(self.tensor_key(key, v.tensor, "parameter", e, m, cond, self._rep(e, repeat), ident=v))
        for name, e in m.buffers.items():
            key = prefix + name
            v = e.value
            if v is None:
                continue
            if isinstance(v, Unknown):
                self.note(e.line or v.line, e.path or v.path, f"buffer `{key}`: {v.reason}", key=key)
                continue
            if isinstance(v, TensorSpec):
                ks = self.tensor_key(key, v, "buffer", e, m, cond, self._rep(e, repeat), persistent=e.persistent)
                if e.persistent:
                    self.pred.keys.append(ks)
                else:
                    self.pred.non_persistent.append(ks)
        if m.extra_state:
            text, oline, opath = self.origin(m)
            self.pred.keys.append(KeySpec(key=prefix + "_extra_state", shape=None, dtype=None, kind="extra_state",
                                          line=oline, path=opath, layer=m.name, origin=text, origin_line=oline,
                                          origin_path=opath, condition=cond, repeat=dict(repeat)))
        for name, e in m.unknown_attrs.items():
            v = e.value
            reason = v.reason if isinstance(v, Unknown) else "cannot be known"
            shown = prefix + name if not name.startswith("<") else (prefix or "") + name
            self.note(e.line, e.path, f"`{shown}` may hold a module or tensor that cannot be known: {reason}",
                      key=None if name.startswith("<") else shown)
        for name, v in m.attrs.items():
            if isinstance(v, Opaque) and not v.used_as_value and v.kind not in ("int", "value", "seq") and not v.bound:
                self.note(0, "", f"`{prefix + name}` is set from unbound parameter `{v.name}`; if it is a module or "
                                 f"tensor its keys are missing (bind it with --set {v.name}=...)",
                          key=prefix + name)
        for name, e in m.children.items():
            v = e.value
            key = prefix + name
            if v is None:
                continue
            if isinstance(v, Unknown):
                self.note(e.line or v.line, e.path or v.path, f"`{key}.*`: {v.reason}", key=key)
                continue
            if isinstance(v, ModuleValue):
                self.walk(v, key + ".", _join(cond, e.condition), self._rep(e, repeat))

    def _rep(self, e: Entry, repeat: Dict[str, Any]) -> Dict[str, Any]:
        out = dict(repeat)
        ph = e.placeholder
        if ph is not None:
            out[ph[0]] = ph[1]
        for ph_name, count in e.ctx or ():
            out.setdefault(ph_name, count)
        return out


def state_dict_overrides(m: ModuleValue) -> List[Tuple[int, str, str]]:
    """What makes torch save other keys than the registered ones for module ``m``: its state_dict hooks, and a
    ``state_dict``/``_save_to_state_dict`` defined by its class (read from source, not torch's own)."""
    out = list(m.state_hooks)
    cls = m.cls
    if isinstance(cls, ClassValue):
        for name in ("state_dict", "_save_to_state_dict"):
            fn, owner = cls.user_hook(name)
            if fn is None:
                continue
            sf, node = getattr(fn, "sf", None), getattr(fn, "node", None)
            line = sf.line(node) if sf is not None and node is not None else 0
            path = sf.path if sf is not None else ""
            out.append((line, path, f"`{owner.name}.{name}` (line {line}) overrides torch's and may rename, drop or "
                                    f"change keys"))
    return out


def condition_kind(cond: str, switches: Any, hooks: Any) -> str:
    """"hook" when a state_dict hook or override (or code not followed) decides it, "switch" when it is made of
    conditions on unbound constructor values only, else "condition" (the run-time environment, an unknown value).
    ``cond`` may join several conditions with " and " (merge and render join them); the known texts are taken out
    of it, longest first, and whatever remains is a condition of the third kind."""
    rest = cond
    hooked = False
    for known, is_hook in sorted([(h, True) for h in hooks] + [(c, False) for c in switches],
                                 key=lambda x: -len(x[0])):
        if known in rest:
            rest = rest.replace(known, "")
            hooked = hooked or is_hook
    if hooked:
        return "hook"
    return "switch" if not rest.replace(" and ", "").strip() else "condition"


def render(root: ModuleValue, target: str, target_path: str, notes: List[tuple], switches: Any = ()) -> Prediction:
    """``switches``: the condition texts the evaluation made from unbound constructor values."""
    r = _Renderer(target, target_path)
    r.walk(root, "", None, {})
    # placeholders used in key names only (f-strings in symbolic loops) get their counts from the entries
    for ks in r.pred.keys + r.pred.non_persistent:
        for ph in list(ks.repeat):
            if "{" + ph not in ks.key:
                del ks.repeat[ph]
    for line, path, message in notes:
        r.note(line, path, message)
    conds = sorted({k.condition for k in r.pred.keys if k.condition})
    for c in conds:
        first = next(k for k in r.pred.keys if k.condition == c)
        message = f"some keys exist only if {c}"
        r.note(first.line, first.path, message)
        for u in r.pred.unresolved:
            if u.message == message and not u.kind:
                u.kind = condition_kind(c, switches, r.hook_conditions)
    r.pred.unresolved.sort(key=lambda u: (u.path != target_path, u.path, u.line))
    return r.pred
