"""Code against a lock file (what `statedict-lint lock --check` reports): the changes between the lock (old side)
and the current classes, folded to their origin (a container's copy of a contained class's change is reported once,
at the contained class), as SDL8xx findings at the line of the attribute that changed."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any, Dict, List, Optional, Tuple

if TYPE_CHECKING:
    from statedict_lint.review.lockfile import Lock
    from statedict_lint.review.snapshot import ClassRec
    from statedict_lint.review.structdiff import Change


def check(lock: Lock, current: List[ClassRec], paths_filter: Optional[List[str]] = None) -> List[Change]:
    """Changes between the lock and the current code (structdiff.Change), lock = old side."""
    from statedict_lint.review.lockfile import contract
    from statedict_lint.review.structdiff import compare_class

    current = [contract(c) for c in current]  # the lock holds the contract only: compare like with like
    locked = dict(lock.classes)
    if paths_filter:
        locked = {k: v for k, v in locked.items()
                  if any(v.path == p or v.path.startswith(p.rstrip("/") + "/") or p == "." for p in paths_filter)}
    cur = {c.id: c for c in current}
    changes: List[Change] = []
    for cid in sorted(set(locked) | set(cur)):
        old, new = locked.get(cid), cur.get(cid)
        chs = compare_class(old, new)
        if not chs and old is not None and new is not None and _sig(old) != _sig(new):
            from statedict_lint.review.structdiff import Change

            chs = [Change("unknown", cid, path=new.path, line=new.line,
                          reason=f"`{new.name}`: {_what_differs(old, new)}")]
        changes.extend(chs)
    return changes


def _what_differs(old: ClassRec, new: ClassRec) -> str:
    """The difference compare_class leaves unnamed: a condition under which keys exist, or completeness."""
    o = {k.key: k for k in old.keys}
    conds = [(k.key, o[k.key].condition, k.condition) for k in new.keys
             if k.key in o and o[k.key].condition != k.condition]
    if conds:
        key, was, now = conds[0]
        more = f" (and {len(conds) - 1} more key(s))" if len(conds) > 1 else ""
        return (f"the condition of `{key}` changed: {('only if ' + was) if was else 'always'} -> "
                f"{('only if ' + now) if now else 'always'}{more}")
    if old.complete != new.complete or old.unresolved != new.unresolved:
        return "what the prediction could not resolve changed (completeness), so the keys may differ"
    return "predicted keys differ from the lock (conditions or completeness)"


def roots(changes: List[Any], proj: Any) -> List[Any]:
    """Changes at their origin: a container's copy of a contained class's change is folded into it."""
    from statedict_lint.review.revisions import ClassDiff, propagate

    by: Dict[str, Any] = {}
    for ch in changes:
        by.setdefault(ch.cls, ClassDiff(ch.cls)).changes.append(ch)

    def inner_of(cd: Any) -> Any:
        path, _, name = cd.cls.rpartition(":")
        return {f"{p}:{c}" for p, c in proj.contained((path, name))} if (path, name) in proj.contains else set()

    affects = propagate(list(by.values()), inner_of)
    roots = [ch for ch in changes if ch.via is None]
    for ch in roots:
        seen = affects.get(id(ch), [])
        if seen:
            ch.note = (ch.note + "; " if ch.note else "") + "also in " + ", ".join(
                sorted({c.rsplit(":", 1)[1] for c, _x in seen}))
    return roots


def _sig(c: Any) -> Tuple[Any, ...]:
    return (tuple(sorted(k.signature() for k in c.keys)), tuple(sorted(k.key for k in c.non_persistent)),
            c.error is None)


def findings(changes: List[Any], current: List[Any], root: str) -> List[Any]:
    from statedict_lint.codes import review_code
    from statedict_lint.findings import Finding
    from statedict_lint.review.lockfile import attribute_lines

    by_id = {c.id: c for c in current}
    lines_cache: Dict[str, Dict[str, int]] = {}
    out = []
    for ch in changes:
        rec = by_id.get(ch.cls)
        path, line = ch.path, ch.line
        if rec is not None:
            if rec.id not in lines_cache:
                try:
                    with open(os.path.join(root, rec.path), encoding="utf-8", errors="replace") as fh:
                        lines_cache[rec.id] = attribute_lines(fh.read(), rec.name)
                except OSError:
                    lines_cache[rec.id] = {}
            key = ch.new_key or ch.old_key or ""
            attr_line = lines_cache[rec.id].get(key.split(".")[0]) if key else None
            path, line = rec.path, attr_line or rec.line
        c = review_code(ch.kind)
        also = f" ({ch.note})" if ch.note else ""
        out.append(Finding(c.code, f"{ch.cls.rsplit(':', 1)[1]}: {ch.summary()}{also} (code and statedict.lock disagree)",
                           path, max(line, 1), 0, "error" if ch.breaking else "warning", c.name,
                           extra={"change": ch.to_json()}))
    out.sort(key=lambda f: f.sort_key())
    return out
