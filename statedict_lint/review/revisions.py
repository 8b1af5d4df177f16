"""Compare the state_dict of every nn.Module class between two git revisions (what `statedict-lint diff` shows).

Both revisions' .py files (under the given paths, or the whole repository) are read with git plumbing —
nothing is checked out — into temporary trees with the repository's layout, so cross-file imports resolve.
Every nn.Module class in a changed file, or in a file that imports one (transitively), is predicted on both
sides with constructor parameters left symbolic, and compared (``structdiff.compare_class``). A change seen in
a container (``GPT``) that comes from a contained class (``Block``) is attributed to its origin
(``propagate``), with the containers' keys listed. ``findings`` gives them as SDL8xx findings.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional, Set, Tuple

from statedict_lint.codes import review_code


@dataclass
class ClassDiff:
    cls: str  # "path:Class" (head side; base side for removed classes)
    changes: List[Any] = field(default_factory=list)
    moved_from: Optional[str] = None


@dataclass
class DiffResult:
    repo: str
    base: str
    head: str
    base_label: str
    head_label: str
    changed_files: List[str]
    compared: int
    classes: List[ClassDiff]
    affects: Dict[int, List[Tuple[str, Any]]] = field(default_factory=dict)  # id(root change) -> [(cls, change)]
    cache_hits: int = 0
    cache_misses: int = 0
    contained: Set[str] = field(default_factory=set)  # changed classes some other changed class contains

    def roots(self) -> List[Tuple[ClassDiff, Any]]:
        return [(cd, ch) for cd in self.classes for ch in cd.changes if ch.via is None]

    @property
    def breaking(self) -> bool:
        return any(ch.breaking for cd in self.classes for ch in cd.changes)


def compute(repo: str, base: str, head: str, paths: List[str], cache_dir: Optional[str],
            jobs: int = 0) -> DiffResult:
    """Compare the revisions (``head`` may be gitio.WORKTREE)."""
    from statedict_lint.review import gitio
    from statedict_lint.review.project import IndexCache, Project
    from statedict_lint.review.snapshot import Cache, predict_tree
    from statedict_lint.review.structdiff import Change, compare_class

    files_a = gitio.list_py(repo, base, paths)
    files_b = gitio.list_py(repo, head, paths)
    changed = sorted(p for p in set(files_a) | set(files_b) if files_a.get(p) != files_b.get(p))
    result = DiffResult(repo, base, head, gitio.short(repo, base), gitio.short(repo, head), changed, 0, [])
    if not changed:
        return result
    cache = Cache(cache_dir)
    tmp = tempfile.mkdtemp(prefix="sdl-diff-")
    try:
        side: Dict[str, Any] = {}
        for label, rev, files in (("a", base, files_a), ("b", head, files_b)):
            root = os.path.join(tmp, label)
            os.makedirs(root)
            gitio.materialize(repo, rev, files, root)
            sources = {}
            for p in files:
                with open(os.path.join(root, p), "rb") as fh:
                    sources[p] = fh.read().decode("utf-8", "replace")
            proj = Project(sources, IndexCache(cache_dir))
            side[label] = (root, proj)
            side[label + "_src"] = sources
        (root_a, proj_a), (root_b, proj_b) = side["a"], side["b"]
        affected = proj_a.importers_closure(changed) | proj_b.importers_closure(changed)
        from statedict_lint.term import Progress

        with Progress("statedict-lint diff") as progress:
            todo_a = [p for p in affected if p in files_a]
            todo_b = [p for p in affected if p in files_b]
            progress.update(f"predicting {len(todo_a)} file(s) at {result.base_label} (1/2)")
            recs_a = predict_tree(root_a, todo_a, proj_a, cache, jobs=jobs)
            progress.update(f"predicting {len(todo_b)} file(s) at {result.head_label} (2/2)")
            recs_b = predict_tree(root_b, todo_b, proj_b, cache, jobs=jobs)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    result.cache_hits, result.cache_misses = cache.hits, cache.misses
    a = {c.id: c for rs in recs_a.values() for c in rs if c.name}
    b = {c.id: c for rs in recs_b.values() for c in rs if c.name}
    # a file that cannot be read at all on one side
    for side_recs in (recs_a, recs_b):
        for p, rs in side_recs.items():
            for c in rs:
                if not c.name and c.error:
                    result.classes.append(ClassDiff(f"{p}:*", [Change("unknown", f"{p}:*", path=p, line=1,
                                                                      reason=c.error)]))
    # moved classes: removed from one file, added to another under the same name
    gone = [cid for cid in a if cid not in b]
    new = [cid for cid in b if cid not in a]
    moved: Dict[str, str] = {}
    for cid in new:
        name = cid.rsplit(":", 1)[1]
        cands = [g for g in gone if g.rsplit(":", 1)[1] == name]
        if len(cands) == 1 and cands[0] not in moved.values():
            moved[cid] = cands[0]
    for cid in sorted(set(a) | set(b)):
        if cid in moved.values():
            continue
        old = a.get(moved.get(cid, cid))
        cur = b.get(cid)
        result.compared += 1
        changes = compare_class(old, cur)
        cd = ClassDiff(cid, changes, moved.get(cid))
        if cd.moved_from:
            assert cur is not None
            changes.insert(0, Change("moved", cid, path=cur.path, line=cur.line,
                                     reason=f"`{cur.name}` moved from {cd.moved_from.rsplit(':', 1)[0]} to {cur.path} "
                                            f"(keys are relative to the class, so this alone breaks nothing)"))
        if changes:
            result.classes.append(cd)
    _defaults(result, a, b, side["a_src"], side["b_src"], moved)
    _relocate(result, b, side["b_src"])
    _propagate(result, proj_a, proj_b)
    return result


def init_defaults(source: str, cls: str) -> Dict[str, Tuple[str, int]]:
    """{parameter: (default as source text, line)} of ``cls.__init__`` in ``source`` (top-level class), for
    the parameters its body uses."""
    import ast

    try:
        tree = ast.parse(source)
    except (SyntaxError, ValueError):
        return {}
    for node in tree.body:
        if isinstance(node, ast.ClassDef) and node.name == cls:
            for item in node.body:
                if isinstance(item, ast.FunctionDef) and item.name == "__init__":
                    a = item.args
                    pos = a.posonlyargs + a.args
                    out = {}
                    used = {n.id for st in item.body for n in ast.walk(st) if isinstance(n, ast.Name)}
                    for arg, d in list(zip(pos[len(pos) - len(a.defaults):], a.defaults)) + \
                            [(k, d) for k, d in zip(a.kwonlyargs, a.kw_defaults) if d is not None]:
                        if arg.arg in used:
                            out[arg.arg] = (ast.unparse(d), d.lineno)
                    return out
    return {}


def _uses(rec: Any, name: str) -> List[str]:
    """Keys of ``rec`` whose shape, repetition or condition mentions the parameter ``name``."""
    import re

    rx = re.compile(r"(?<![\w.])" + re.escape(name) + r"(?!\w)")
    out = []
    for k in list(rec.keys) + list(rec.non_persistent):
        texts = [d for d in (k.shape or []) if isinstance(d, str)] + list((k.repeat or {}).values()) + \
            ([k.condition] if k.condition else [])
        if any(rx.search(t) for t in texts):
            out.append(k.key)
    return out


def _defaults(result: DiffResult, a: Dict[str, Any], b: Dict[str, Any], src_a: Dict[str, str],
              src_b: Dict[str, str], moved: Dict[str, str]) -> None:
    """Constructor defaults that changed in a changed file while shapes, repetitions or conditional keys
    depend on them: the symbolic keys are equal, but a checkpoint of the class built with the default
    (``Block(dim, heads)``) no longer loads. Containers that pass the argument are unaffected; those that
    rely on the default see the new value as a concrete reshape of their own."""
    from statedict_lint.review.structdiff import Change

    changed = set(result.changed_files)
    by = {cd.cls: cd for cd in result.classes}
    for cid, new in sorted(b.items()):
        old = a.get(moved.get(cid, cid))
        if old is None or new.error or old.error or (new.path not in changed and old.path not in changed):
            continue
        da = init_defaults(src_a.get(old.path, ""), old.name)
        db = init_defaults(src_b.get(new.path, ""), new.name)
        for param in sorted(set(da) & set(db)):
            if da[param][0] == db[param][0]:
                continue
            keys = sorted(set(_uses(new, param)) | set(_uses(old, param)))
            sure = bool(keys)
            if not keys:  # shapes the predictor could not compute may still depend on it: say so
                keys = sorted({k.key for rec in (old, new) for k in rec.keys
                               if k.shape is None or any(d is None for d in k.shape)})
            if not keys:
                continue
            shown = ", ".join(f"`{k}`" for k in keys[:3]) + (f" and {len(keys) - 3} more" if len(keys) > 3 else "")
            what = (f"{shown} depend on it, so checkpoints of `{new.name}` built with the default no longer load "
                    f"(callers passing `{param}` are unaffected)" if sure else
                    f"{shown} have shapes that cannot be computed and may depend on it (checkpoints of "
                    f"`{new.name}` built with the default may no longer load)")
            ch = Change("default-changed", cid, param, param, count=len(keys), path=new.path, line=db[param][1],
                        breaking=sure, keys=keys, origin=f"{param}={db[param][0]}",
                        old_origin=f"{param}={da[param][0]}",
                        reason=f"default of `{param}` changed `{da[param][0]}` -> `{db[param][0]}`: {what}")
            cd = by.get(cid)
            if cd is None:
                cd = by[cid] = ClassDiff(cid, [])
                result.classes.append(cd)
            cd.changes.append(ch)
    result.classes.sort(key=lambda cd: cd.cls)


def _relocate(result: DiffResult, recs: Dict[str, Any], sources: Dict[str, str]) -> None:
    """Point each change at the line of the attribute it concerns in the changed class's own file
    (instead of, say, the nn.Linear call in another file that creates the tensor)."""
    from statedict_lint.review.lockfile import attribute_lines

    for cd in result.classes:
        rec = recs.get(cd.cls)
        if rec is None or rec.path not in sources:
            continue
        lines = attribute_lines(sources[rec.path], rec.name)
        for ch in cd.changes:
            key = ch.new_key or ch.old_key
            if not key or ch.kind in ("moved", "class-added", "class-removed", "unknown", "default-changed"):
                continue
            if ch.path == rec.path and ch.line >= rec.line and ch.kind != "removed":
                continue  # already inside this class's file
            attr = key.split(".")[0]
            line = lines.get(attr) or (lines.get(ch.old_key.split(".")[0]) if ch.old_key else None)
            if line:
                ch.path, ch.line = rec.path, line


def _propagate(result: DiffResult, proj_a: Any, proj_b: Any) -> None:
    def inner_of(cd: ClassDiff) -> Set[str]:
        path, _, name = cd.cls.rpartition(":")
        inner: Set[str] = set()
        for proj in (proj_a, proj_b):
            if (path, name) in proj.contains:
                inner |= {f"{p}:{c}" for p, c in proj.contained((path, name))}
        if cd.moved_from:
            mp, _, mn = cd.moved_from.rpartition(":")
            if (mp, mn) in proj_a.contains:
                inner |= {f"{p}:{c}" for p, c in proj_a.contained((mp, mn))}
        return inner

    def ancestors(cid: str) -> Set[str]:
        """Base classes, transitively: a subclass refers to its base but does not contain it."""
        out: Set[str] = set()
        todo = [cid]
        while todo:
            path, _, name = todo.pop().rpartition(":")
            for proj in (proj_a, proj_b):
                fi = proj.files.get(path)
                ci = fi.classes.get(name) if fi is not None else None
                for b in (ci.bases if ci is not None else []):
                    t = proj.resolve_class(path, b) if b else None
                    if t is not None and f"{t[0]}:{t[1]}" not in out:
                        out.add(f"{t[0]}:{t[1]}")
                        todo.append(f"{t[0]}:{t[1]}")
        return out

    result.affects = propagate(result.classes, inner_of)
    changed = {cd.cls for cd in result.classes}
    for cd in result.classes:
        result.contained |= (inner_of(cd) & changed) - {cd.cls} - ancestors(cd.cls)


def propagate(classes: List[ClassDiff], inner_of: Any) -> Dict[int, List[Tuple[str, Any]]]:
    """Attribute a container's change to the contained class where it originates (sets ``change.via``);
    returns id(origin change) -> [(container class, change seen in the container)]."""
    from statedict_lint.review.structdiff import explain, sides

    by_cls = {cd.cls: cd for cd in classes}
    origin: Dict[int, Any] = {}
    for cd in classes:
        inner = inner_of(cd)
        for ch in cd.changes:
            best: Optional[Tuple[int, Any, str]] = None
            for other in inner:
                od = by_cls.get(other)
                if od is None or other == cd.cls:
                    continue
                pre = explain(ch, od.changes)
                if pre and (best is None or len(pre) > best[0]):
                    # the inner change to show it under: the first one sharing a key
                    w, c = sides(ch)
                    keys = {k[len(pre):] for k in w + c}
                    rep = next((x for x in od.changes if keys & set(sides(x)[0] + sides(x)[1])), od.changes[0])
                    best = (len(pre), rep, other)
            if best is not None:
                origin[id(ch)] = best[1]
                ch.through = best[2]
    affects: Dict[int, List[Tuple[str, Any]]] = {}
    for cd in classes:
        for ch in cd.changes:
            root = origin.get(id(ch))
            if root is None:
                continue
            for _ in range(50):
                nxt = origin.get(id(root))
                if nxt is None:
                    break
                root = nxt
            ch.via = root.cls
            affects.setdefault(id(root), []).append((cd.cls, ch))
    return affects


def outermost(result: DiffResult) -> List[ClassDiff]:
    """Changed classes that no other changed class contains (the models checkpoints are saved from)."""
    inner: Set[str] = set()
    for cd in result.classes:
        for ch in cd.changes:
            inner |= {c for c in (ch.via, getattr(ch, "through", None)) if c}
    inner |= result.contained
    return [cd for cd in result.classes if cd.cls not in inner and
            any(ch.kind in ("renamed", "renumbered") for ch in cd.changes)]


def maps_by_class(result: DiffResult) -> Dict[str, Dict[str, str]]:
    from statedict_lint.review.hooks import rename_map

    out = {}
    for cd in result.classes:
        m = rename_map(cd.changes)
        if m:
            out[cd.cls] = m
    return out


def findings(result: DiffResult) -> List[Any]:
    from statedict_lint.findings import Finding

    out = []
    for cd, ch in result.roots():
        c = review_code(ch.kind)
        msg = f"{cd.cls.rsplit(':', 1)[1]}: {ch.summary()}"
        affected = result.affects.get(id(ch), [])
        if affected:
            shown = "; ".join(f"{c.rsplit(':', 1)[1]} ({short_change(x)})" for c, x in affected[:4])
            more = f" and {len(affected) - 4} more" if len(affected) > 4 else ""
            msg += f" — in every checkpoint of {shown}{more}"
        if ch.breaking:
            msg += " — old checkpoints fail load_state_dict(strict=True)"
        if ch.note:
            msg += f" ({ch.note})"
        out.append(Finding(c.code, msg, ch.path, max(ch.line, 1) if ch.path else 0, 0, severity(ch), c.name,
                           extra={"change": ch.to_json(),
                                  "affects": [{"class": c, "change": x.to_json()} for c, x in affected]}))
    out.sort(key=lambda f: f.sort_key())
    return out


def severity(ch: Any) -> str:
    """A change's level: an error when it breaks old checkpoints, else its code's level (a warning, a note for a
    class added or moved: a breaking kind that is not sure is a warning)."""
    if ch.breaking:
        return "error"
    c = review_code(ch.kind)
    return "note" if c.severity == "note" else "warning"


def short_change(ch: Any) -> str:
    star = lambda k: k + "*" if k and k.endswith(".") else (k or "")  # noqa: E731
    if ch.kind in ("renamed", "renumbered"):
        return f"`{star(ch.old_key)}` -> `{star(ch.new_key)}`"
    return f"`{star(ch.new_key or ch.old_key)}`"
