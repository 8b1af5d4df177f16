"""Classify how a class's predicted state_dict changed between two versions.

``compare_class(old, new)`` (two ``ClassRec``) gives ``Change`` records in symbolic form:

* ``renamed`` — keys that moved under another name (``Block.attn -> Block.self_attn`` is one prefix
  rename covering every key under it), paired by ``statedict_lint.check.renames.guess_renames`` (shape, dtype,
  structure and name similarity) with its confidence and reason;
* ``renumbered`` — a prefix rename that only shifts one numeric segment (``net.2. -> net.3.``): an
  ``nn.Sequential``/``ModuleList`` index moved because a layer without state was inserted or removed;
* ``removed`` / ``added`` — keys (grouped by their module) that exist on one side only;
* ``reshaped`` — same key, different shape, with the constructor expression on both sides;
* ``made-non-persistent`` / ``made-persistent`` — a buffer left or joined the state_dict;
* ``repeat`` — a repetition count changed (``h.{i}``: ``i < n_layer`` -> ``i < n_layer + 1``);
* ``dtype`` — a dtype change (not breaking: ``load_state_dict`` casts);
* ``class-removed`` / ``class-added`` / ``unknown`` (a side could not be predicted).

``breaking`` is true when an old checkpoint would fail ``load_state_dict(strict=True)``. When the two
predictions are not equally complete (an unresolved item appears on one side only), key-set changes are
reported but not claimed breaking: the predictor may simply not know the keys.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional, Tuple

from statedict_lint.check.renames import _NUM, _shape_known, grouped_renames
from statedict_lint.codes import BREAKING_KINDS  # the kinds whose code says "breaking" (codes.py)
from statedict_lint.predict.symbolic import render_shape
from statedict_lint.review.snapshot import ClassRec, Dim, KeyRec


@dataclass
class Change:
    kind: str
    cls: str  # "path:Class"
    old_key: Optional[str] = None  # a key, or a prefix ending in "." for grouped changes
    new_key: Optional[str] = None
    count: int = 1
    old_shape: Optional[List[Dim]] = None
    new_shape: Optional[List[Dim]] = None
    old_dtype: Optional[str] = None
    new_dtype: Optional[str] = None
    confidence: Optional[float] = None
    reason: str = ""
    path: str = ""
    line: int = 0
    origin: str = ""
    old_origin: str = ""
    breaking: bool = False
    pairs: List[Tuple[str, str]] = field(default_factory=list)
    keys: List[str] = field(default_factory=list)
    via: Optional[str] = None  # class id where the change originates (for containers)
    through: Optional[str] = None  # the contained class it comes through directly (for containers)
    note: str = ""

    def summary(self) -> str:
        o, n = self.old_key or "", self.new_key or ""
        star = lambda k: k + "*" if k.endswith(".") else k  # noqa: E731
        cnt = f" ({self.count} keys)" if self.count > 1 else ""
        if self.kind in ("renamed", "renumbered"):
            conf = f", confidence {self.confidence:.2f}" if self.confidence is not None else ""
            why = f": {self.reason}" if self.reason else ""
            return f"{self.kind} `{star(o)}` -> `{star(n)}`{cnt}{conf}{why}"
        if self.kind == "removed":
            return f"removed `{star(o)}`{cnt}"
        if self.kind == "added":
            return f"added `{star(n)}`{cnt}"
        if self.kind == "reshaped":
            how = f" ({self.old_origin} -> {self.origin})" if self.origin and self.old_origin != self.origin else ""
            return f"reshaped `{n}` {render_shape(self.old_shape, '[?]')} -> {render_shape(self.new_shape, '[?]')}{how}"
        if self.kind == "made-non-persistent":
            return f"buffer `{o}` made non-persistent (no longer in the state_dict)"
        if self.kind == "made-persistent":
            return f"buffer `{n}` made persistent (now in the state_dict)"
        if self.kind == "dtype":
            return (f"dtype of `{n}` {self.old_dtype} -> {self.new_dtype} "
                    f"(load_state_dict casts; values may lose precision)")
        if self.kind == "repeat":
            return f"repetition of `{n}` changed: {self.reason}"
        if self.kind == "class-removed":
            return f"class `{self.cls.rsplit(':', 1)[-1]}` removed ({self.count} keys)"
        if self.kind == "class-added":
            return f"class `{self.cls.rsplit(':', 1)[-1]}` added ({self.count} keys)"
        return self.reason or self.kind

    def to_json(self) -> Dict[str, Any]:
        d: Dict[str, Any] = {"kind": self.kind, "class": self.cls, "breaking": self.breaking}
        for name in ("old_key", "new_key", "old_shape", "new_shape", "old_dtype", "new_dtype", "confidence",
                     "reason", "origin", "old_origin", "via", "note"):
            v = getattr(self, name)
            if v not in (None, "", []):
                d[name] = v
        d["count"] = self.count
        if self.pairs:
            d["pairs"] = [list(p) for p in self.pairs]
        if self.keys:
            d["keys"] = list(self.keys)
        d["path"], d["line"] = self.path, self.line
        return d


def _module_of(key: str) -> str:
    return key.rsplit(".", 1)[0] + "." if "." in key else ""


def _is_renumbering(old_prefix: str, new_prefix: str) -> bool:
    a, b = old_prefix.rstrip(".").split("."), new_prefix.rstrip(".").split(".")
    if len(a) != len(b):
        return False
    diff = [(x, y) for x, y in zip(a, b) if x != y]
    return len(diff) == 1 and bool(_NUM.match(diff[0][0])) and bool(_NUM.match(diff[0][1]))


def _msgs(c: ClassRec) -> List[str]:
    return sorted({str(u.get("message", "")) for u in c.unresolved})


def compare_class(old: Optional[ClassRec], new: Optional[ClassRec]) -> List[Change]:
    if old is None and new is None:
        return []
    if old is None:
        assert new is not None
        return [Change("class-added", new.id, count=len(new.keys), path=new.path, line=new.line)]
    if new is None:
        return [Change("class-removed", old.id, count=len(old.keys), path=old.path, line=old.line, breaking=True,
                       keys=[k.key for k in old.keys])]
    cid = new.id
    if old.error or new.error:
        if old.error == new.error:
            return []
        why = new.error or old.error or ""
        return [Change("unknown", cid, path=new.path, line=new.line,
                       reason=f"cannot compare `{new.name}`: {why}")]
    certain = _msgs(old) == _msgs(new)
    note = "" if certain else "predictions are incomplete on one side; the change may be an artifact"
    o = {k.key: k for k in old.keys}
    n = {k.key: k for k in new.keys}
    onp = {k.key: k for k in old.non_persistent}
    nnp = {k.key: k for k in new.non_persistent}
    out: List[Change] = []

    def add(ch: Change) -> None:
        sure = certain or ch.kind in ("reshaped", "made-non-persistent", "made-persistent")
        ch.breaking = ch.kind in BREAKING_KINDS and sure
        if ch.kind in ("removed", "added", "renamed", "renumbered") and not certain:
            ch.note = note
        out.append(ch)

    def loc(k: KeyRec) -> Tuple[str, int]:
        return (k.origin_path or k.path, k.origin_line or k.line)

    # same key on both sides: shape, dtype, repetition
    reshaped: Dict[Tuple[str, str, str], List[Tuple[KeyRec, KeyRec]]] = {}
    for key in [k for k in o if k in n]:
        a, b = o[key], n[key]
        if _shape_known(a.shape) and _shape_known(b.shape) and list(a.shape or []) != list(b.shape or []):
            reshaped.setdefault((_module_of(key), a.origin, b.origin), []).append((a, b))
        if a.repeat != b.repeat and a.repeat and b.repeat:
            p, ln = loc(b)
            add(Change("repeat", cid, key, key, reason=", ".join(
                f"{ph} < {a.repeat.get(ph, '?')} -> {ph} < {b.repeat.get(ph, '?')}" for ph in sorted(b.repeat)),
                path=p, line=ln, origin=b.origin, old_origin=a.origin))
        if a.dtype and b.dtype and a.dtype != b.dtype:
            p, ln = loc(b)
            add(Change("dtype", cid, key, key, old_dtype=a.dtype, new_dtype=b.dtype, path=p, line=ln,
                       origin=b.origin, old_origin=a.origin))
    for (_mod, _oo, _no), items in reshaped.items():
        for a, b in items:
            p, ln = loc(b)
            add(Change("reshaped", cid, a.key, b.key, old_shape=a.shape, new_shape=b.shape, path=p, line=ln,
                       origin=b.origin, old_origin=a.origin, old_dtype=a.dtype, new_dtype=b.dtype))
    removed = [o[k] for k in o if k not in n]
    added = [n[k] for k in n if k not in o]
    # persistence flips
    rest_removed = []
    for k in removed:
        if k.key in nnp:
            p, ln = loc(nnp[k.key])
            add(Change("made-non-persistent", cid, k.key, k.key, path=p, line=nnp[k.key].line or ln))
        else:
            rest_removed.append(k)
    rest_added = []
    for k in added:
        if k.key in onp:
            p, ln = loc(k)
            add(Change("made-persistent", cid, k.key, k.key, path=p, line=k.line or ln))
        else:
            rest_added.append(k)
    removed, added = rest_removed, rest_added
    # renames
    if removed and added:
        split, taken_old, taken_new = grouped_renames(removed, added, o, n)
        for (po, pn), g in split.items():
            pairs = g["pairs"]
            first_new = n[pairs[0][1]]
            p, ln = loc(first_new)
            kind = "renumbered" if po.endswith(".") and _is_renumbering(po, pn) else "renamed"
            reason = g["reason"]
            if kind == "renumbered":
                reason = "an nn.Sequential/ModuleList index moved (a layer without state was inserted or removed)" \
                    + (f"; {reason}" if reason else "")
            add(Change(kind, cid, po, pn, count=len(pairs), confidence=g["conf"], reason=reason, path=p,
                       line=ln, origin=first_new.origin, pairs=sorted(pairs)))
            # a rename may also resize
            for a, b in pairs:
                if _shape_known(o[a].shape) and _shape_known(n[b].shape) and o[a].shape != n[b].shape:
                    p2, ln2 = loc(n[b])
                    add(Change("reshaped", cid, a, b, old_shape=o[a].shape, new_shape=n[b].shape, path=p2,
                               line=ln2, origin=n[b].origin, old_origin=o[a].origin))
        removed = [k for k in removed if k.key not in taken_old]
        added = [k for k in added if k.key not in taken_new]
    # what is left: removed / added, grouped under the shortest prefix whose keys all went (or came)
    for kind, keys, this in (("removed", removed, o), ("added", added, n)):
        gone = {k.key for k in keys}
        groups: Dict[str, List[KeyRec]] = {}
        for k in keys:
            parts = k.key.split(".")
            label = k.key
            for i in range(1, len(parts)):
                pre = ".".join(parts[:i]) + "."
                under = [x for x in this if x.startswith(pre)]
                if len(under) > 1 and all(x in gone for x in under):
                    label = pre
                    break
            groups.setdefault(label, []).append(k)
        for label, grp in groups.items():
            k0 = grp[0]
            # a removed key has no line in the new code: point at the class
            p, ln = loc(k0) if kind == "added" else (new.path, new.line)
            single = not label.endswith(".")
            add(Change(kind, cid, label if kind == "removed" else None, label if kind == "added" else None,
                       count=len(grp), path=p, line=ln, origin=k0.origin, keys=[k.key for k in grp],
                       old_shape=k0.shape if kind == "removed" and single else None,
                       new_shape=k0.shape if kind == "added" and single else None))
    return out


def sides(ch: Change) -> Tuple[List[str], List[str]]:
    """(keys that went, keys that came) of a change; a reshape or dtype change has the key on both sides."""
    if ch.kind in ("renamed", "renumbered"):
        pairs = ch.pairs or ([(ch.old_key, ch.new_key)] if ch.old_key and ch.new_key else [])
        return [a for a, _ in pairs], [b for _, b in pairs]
    if ch.kind == "removed":
        return list(ch.keys or ([ch.old_key] if ch.old_key else [])), []
    if ch.kind == "added":
        return [], list(ch.keys or ([ch.new_key] if ch.new_key else []))
    if ch.kind == "made-non-persistent":
        return [ch.old_key or ""], []
    if ch.kind == "made-persistent":
        return [], [ch.new_key or ""]
    if ch.kind in ("reshaped", "dtype", "repeat"):
        return [ch.old_key or ""], [ch.new_key or ""]
    return [], []


_FAMILY = {"renamed": "keys", "renumbered": "keys", "removed": "keys", "added": "keys",
           "made-non-persistent": "persist", "made-persistent": "persist", "reshaped": "shape",
           "dtype": "dtype", "repeat": "repeat"}


def _prefix_sides(ch: Change) -> Tuple[List[str], List[str]]:
    """Like ``sides`` but a grouped change (a prefix ending in ``.``) counts as its prefix."""
    o, n = ch.old_key or "", ch.new_key or ""
    if ch.kind in ("renamed", "renumbered") and o.endswith(".") and n.endswith("."):
        return [o], [n]
    if ch.kind == "removed" and o.endswith("."):
        return [o], []
    if ch.kind == "added" and n.endswith("."):
        return [], [n]
    return [], []


def _candidates(k: str, cand: str) -> List[str]:
    """Prefixes P with k == P + cand, or (cand a prefix) k a key under P + cand."""
    out = []
    if k.endswith(cand) and len(k) > len(cand) and k[len(k) - len(cand) - 1] == ".":
        out.append(k[: len(k) - len(cand)])
    if cand.endswith(".") and not k.endswith("."):
        pos = k.find("." + cand)
        while pos >= 0:
            out.append(k[: pos + 1])
            pos = k.find("." + cand, pos + 1)
    return out


def explain(outer: Change, inner: List[Change]) -> Optional[str]:
    """The prefix P when every key ``outer`` touches is P + a key touched the same way by ``inner``
    (changes of one contained class). Groupings may differ: a container's ``blocks.0.attn.qkv.*``
    removal is explained by the contained class's removal of ``qkv.weight`` and ``qkv.bias``; a prefix
    change of the contained class (``attn.`` -> ``self_attn.``) explains every key under it, also keys
    the contained class's default configuration does not have (``attn.qkv.bias`` with ``qkv_bias=True``)."""
    fam = _FAMILY.get(outer.kind)
    if fam is None:
        return None
    went: set = set()
    came: set = set()
    for ch in inner:
        if _FAMILY.get(ch.kind) == fam:
            a, b = sides(ch)
            went.update(a)
            came.update(b)
            pa, pb = _prefix_sides(ch)
            went.update(pa)
            came.update(pb)
            if fam == "shape":  # a resized layer: its other tensors (a bias the defaults lack) resize with it
                went.update(_module_of(k) for k in a if "." in k)
                came.update(_module_of(k) for k in b if "." in k)
    for o_went, o_came in (_prefix_sides(outer), sides(outer)):
        if not o_went and not o_came:
            continue
        prefix: Optional[str] = None
        ok = True
        for keys, pool in ((o_went, went), (o_came, came)):
            for k in keys:
                found = None
                for cand in pool:
                    for p in _candidates(k, cand):
                        if prefix is None or p == prefix:
                            found = p
                            break
                    if found is not None:
                        break
                if found is None:
                    ok = False
                    break
                prefix = found
            if not ok:
                break
        if ok and prefix is not None:
            return prefix
    return None
