"""`statedict-lint diff [BASE [HEAD]] [-- PATHS]`: state_dict changes between two git revisions.

BASE defaults to the merge-base of HEAD with the default branch (origin/HEAD, else main/master); HEAD
defaults to the working tree. Both revisions' .py files (under PATHS, or the whole repository) are read
with git plumbing — nothing is checked out — into temporary trees with the repository's layout, so
cross-file imports resolve. Every nn.Module class in a changed file, or in a file that imports one
(transitively), is predicted on both sides with constructor parameters left symbolic, and compared.
A change seen in a container (``GPT``) that comes from a contained class (``Block``) is reported once,
at its origin, with the containers' keys listed. Exit 1 when an old checkpoint would no longer load
with ``load_state_dict(strict=True)``.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import tempfile
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional, Set, Tuple

from statedict_lint.codes import review_code
from statedict_lint.errors import UserError

FORMATS = ["text", "json", "markdown", "sarif", "github"]


def add_parser(sub: Any) -> None:
    p = sub.add_parser("diff", help="state_dict changes between two git revisions (breaking = exit 1)",
                       description="Compare the predicted state_dict of every changed nn.Module class (and every "
                                   "class containing it) between BASE and HEAD. Revisions and paths are told apart "
                                   "like git does; use --base/--head to be explicit.")
    p.add_argument("items", nargs="*", metavar="BASE [HEAD] [-- PATHS]")
    p.add_argument("--base", help="base revision (default: merge-base of HEAD with the default branch)")
    p.add_argument("--head", help="head revision (default: the working tree)")
    p.add_argument("--format", choices=FORMATS, default="text")
    p.add_argument("--map-out", metavar="FILE.json",
                   help="write the rename map (for `migrate`) of the outermost changed class (see --class)")
    p.add_argument("--class", dest="cls", metavar="NAME", help="the model class the --map-out keys are for")
    p.add_argument("--no-hooks", action="store_true", help="do not print load_state_dict pre-hook snippets")
    p.add_argument("--no-cache", action="store_true", help="do not read or write the prediction cache")
    p.add_argument("--jobs", type=int, default=0, help="parallel predictor processes (default: CPU count)")
    p.set_defaults(run=run, dashdash=None)
    _split_at_dashdash(p)


def _split_at_dashdash(p: Any) -> None:
    """Make ``diff [options] BASE [HEAD] [options] -- PATHS`` work like git: argparse alone cannot take
    positionals after options and after ``--`` at once, so what follows ``--`` is set aside first."""
    import argparse

    def parse_known_args(args: Any = None, namespace: Any = None) -> Any:
        args = list(args or [])
        after = None
        if "--" in args:
            i = args.index("--")
            args, after = args[:i], args[i + 1:]
        ns, rest = argparse.ArgumentParser.parse_known_args(p, args, namespace)
        ns.dashdash = after
        return ns, rest

    p.parse_known_args = parse_known_args


# ---------------------------------------------------------------------------------------------- model
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


def _split_items(repo: str, items: List[str], base: Optional[str], head: Optional[str],
                 dashdash: Optional[List[str]] = None) -> Tuple[Optional[str], Optional[str], List[str]]:
    from statedict_lint.review import gitio

    revs: List[str] = []
    paths: List[str] = []
    if dashdash is not None:  # git's rule: before `--` revisions only, after it paths only
        if len(items) > 2:
            raise UserError(f"too many revisions: {' '.join(items)}")
        for it in items:
            if not gitio._exists(repo, it):
                raise UserError(f"unknown revision: {it}")
        revs, items, paths = list(items), [], list(dashdash)
    for it in items:
        if not paths and len(revs) < 2 and not os.path.exists(it) and gitio._exists(repo, it):
            revs.append(it)
        elif os.path.exists(it) or any(c in it for c in "*?["):
            paths.append(it)
        else:
            raise UserError(f"unknown revision or path not in the working tree: {it}")
    if base is None and revs:
        base = revs.pop(0)
    if head is None and revs:
        head = revs.pop(0)
    if revs:
        raise UserError(f"too many revisions: {' '.join(revs)}")
    return base, head, paths  # a path deleted in the working tree may still exist in BASE: keep it


def _repo_paths(repo: str, paths: List[str]) -> List[str]:
    out = []
    for p in paths:
        ap = os.path.abspath(p)
        if not (ap == repo or ap.startswith(repo + os.sep)):
            raise UserError(f"{p} is outside the repository {repo}")
        out.append(os.path.relpath(ap, repo).replace(os.sep, "/"))
    return out


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


# ---------------------------------------------------------------------------------------------- output
def _outermost(result: DiffResult) -> List[ClassDiff]:
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
            shown = "; ".join(f"{c.rsplit(':', 1)[1]} ({_short(x)})" for c, x in affected[:4])
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


def _short(ch: Any) -> str:
    star = lambda k: k + "*" if k and k.endswith(".") else (k or "")  # noqa: E731
    if ch.kind in ("renamed", "renumbered"):
        return f"`{star(ch.old_key)}` -> `{star(ch.new_key)}`"
    return f"`{star(ch.new_key or ch.old_key)}`"


def to_json(result: DiffResult) -> Dict[str, Any]:
    from statedict_lint.review.hooks import pre_hook_snippet

    hooks = {}
    for cls, m in maps_by_class(result).items():
        cd = next(c for c in result.classes if c.cls == cls)
        if all(ch.via is None for ch in cd.changes if ch.kind in ("renamed", "renumbered")):
            hooks[cls] = pre_hook_snippet(cls.rsplit(":", 1)[1], m)
    return {
        "base": result.base, "head": result.head, "changed_files": result.changed_files,
        "compared_classes": result.compared, "breaking": result.breaking,
        "classes": [{"class": cd.cls, "moved_from": cd.moved_from,
                     "changes": [ch.to_json() for ch in cd.changes]} for cd in result.classes],
        "rename_maps": maps_by_class(result), "pre_hooks": hooks,
        "cache": {"hits": result.cache_hits, "misses": result.cache_misses},
    }


def format_text(result: DiffResult, hooks: bool = True) -> str:
    from statedict_lint.review.hooks import map_json, pre_hook_snippet

    out: List[str] = [f"statedict-lint diff {result.base_label}..{result.head_label}: "
                      f"{len(result.changed_files)} changed .py file(s), {result.compared} class(es) compared"]
    if not result.classes:
        out.append("no state_dict changes")
        return "\n".join(out) + "\n"
    from statedict_lint import term
    from statedict_lint.findings import display_path
    from statedict_lint.report.escape import text  # names from source: escaped before any colour is added

    def here(path: str) -> str:  # repository-relative -> relative to the working directory
        return display_path(os.path.join(result.repo, path)) if path else path

    styles = {"BREAKING": "bold-red", "warning": "yellow", "note": "cyan"}
    for cd in result.classes:
        roots = [ch for ch in cd.changes if ch.via is None]
        vias = [ch for ch in cd.changes if ch.via is not None]
        out.append("")
        cpath, sep, cname = cd.cls.rpartition(":")
        out.append(term.paint(text(f"{here(cpath)}{sep}{cname}"), "bold"))
        for ch in roots:
            tag = "BREAKING" if ch.breaking else severity(ch)
            out.append(f"  {term.paint(f'{tag:8}', styles[tag])} {text(ch.summary())}  "
                       f"[{text(here(ch.path))}:{ch.line}]")
            if ch.kind == "reshaped" and ch.old_origin and ch.origin and ch.old_origin == ch.origin:
                out.append("           (same constructor expression: a value it depends on changed)")
            if ch.note:
                out.append(f"           {text(ch.note)}")
            for c, x in result.affects.get(id(ch), []):
                out.append(text(f"           in {c}: {_short(x)}" + (f" ({x.count} keys)" if x.count > 1 else "")))
        if vias:
            origins = sorted({ch.via for ch in vias})
            out.append(f"  ({len(vias)} change(s) through contained class(es): {', '.join(origins)})")
    maps = maps_by_class(result)
    if maps:
        out.append("")
        out.append("migration:")
        for cd in _outermost(result):
            m = maps.get(cd.cls)
            if not m:
                continue
            out.append(f"  rename map for checkpoints of {cd.cls} (save as rename.json; "
                       f"`statedict-lint migrate old.pt --map rename.json -o new.pt`):")
            out.extend("    " + ln for ln in map_json(m).rstrip().splitlines())
        if hooks:
            for cls, m in maps.items():
                cd = next(c for c in result.classes if c.cls == cls)
                if any(ch.via is not None for ch in cd.changes if ch.kind in ("renamed", "renumbered")):
                    continue
                out.append(f"  load_state_dict pre-hook for {cls} (old checkpoints keep loading):")
                out.extend("    " + ln if ln else "" for ln in pre_hook_snippet(cls.rsplit(":", 1)[1], m).splitlines())
    nb = sum(1 for _cd, ch in result.roots() if ch.breaking)
    out.append("")
    out.append(f"{nb} breaking change(s): old checkpoints fail load_state_dict(strict=True)" if nb
               else "no breaking change")
    return "\n".join(out) + "\n"


def render(result: DiffResult, fmt: str, hooks: bool = True) -> str:
    if fmt == "text":
        return format_text(result, hooks)
    if fmt == "json":
        return json.dumps(to_json(result), indent=2) + "\n"
    text = render_findings(findings(result), fmt, "statedict-lint diff", root=result.repo)
    if fmt == "markdown":
        nb = sum(1 for _cd, ch in result.roots() if ch.breaking)
        head = (f"### state_dict changes `{result.base_label}`..`{result.head_label}`\n\n"
                + (f"**{nb} breaking change(s)**: checkpoints saved before this change fail "
                   f"`load_state_dict(strict=True)`.\n\n" if nb else
                   "No change breaks loading existing checkpoints.\n\n"))
        text = head + text + (_markdown_migration(result) if hooks else "")
    return text


def render_findings(fs: List[Any], fmt: str, tool: str, root: Optional[str] = None) -> str:
    """text / json / markdown / sarif / github through the shared report module."""
    from statedict_lint import report

    return report.render(fs, fmt, tool_name=tool, root=root)


def _markdown_migration(result: DiffResult) -> str:
    from statedict_lint.review.hooks import map_json, pre_hook_snippet

    maps = maps_by_class(result)
    if not maps:
        return ""
    out = ["", "<details><summary>Migration</summary>", ""]
    for cd in _outermost(result):
        if cd.cls in maps:
            out += [f"Rename map for checkpoints of `{cd.cls}` "
                    f"(`statedict-lint migrate old.pt --map rename.json -o new.pt`):", "", "```json",
                    map_json(maps[cd.cls]).rstrip(), "```", ""]
    for cls, m in maps.items():
        cd = next(c for c in result.classes if c.cls == cls)
        if any(ch.via is not None for ch in cd.changes if ch.kind in ("renamed", "renumbered")):
            continue
        out += [f"Pre-hook for `{cls}`:", "", "```python", pre_hook_snippet(cls.rsplit(":", 1)[1], m).rstrip(),
                "```", ""]
    out.append("</details>")
    return "\n".join(out) + "\n"


def run(args: Any) -> int:
    from statedict_lint.review import gitio
    from statedict_lint.review.hooks import map_json
    from statedict_lint.review.snapshot import cache_folder

    repo = gitio.repo_root(os.getcwd())
    base, head, paths = _split_items(repo, list(args.items), args.base, args.head, args.dashdash)
    base = gitio.resolve(repo, base) if base else gitio.default_base(repo)
    head = gitio.resolve(repo, head) if head else gitio.WORKTREE
    specs = _repo_paths(repo, paths)
    cache_dir = None if args.no_cache else cache_folder(repo)
    result = compute(repo, base, head, specs, cache_dir, jobs=args.jobs)
    if args.map_out:
        maps = maps_by_class(result)
        if args.cls:
            cands = [c for c in maps if c.rsplit(":", 1)[1] == args.cls or c == args.cls]
            if not cands:
                raise UserError(f"--class {args.cls}: no renames detected for it "
                                f"(classes with renames: {', '.join(maps) or 'none'})")
        else:
            cands = [cd.cls for cd in _outermost(result) if cd.cls in maps]
            if len(cands) > 1:
                raise UserError(f"several models have renames ({', '.join(cands)}): pick one with --class")
        if cands:
            from statedict_lint.safeio import atomic_write_text

            try:
                atomic_write_text(args.map_out, map_json(maps[cands[0]]))
            except OSError as exc:
                raise UserError(f"cannot write {args.map_out}: {exc.strerror or exc}") from None
        else:
            sys.stderr.write("statedict-lint: no renames detected; no map written\n")
    sys.stdout.write(render(result, args.format, hooks=not args.no_hooks))
    return 1 if result.breaking else 0
