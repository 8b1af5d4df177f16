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
import sys
from typing import Any, Dict, List, Optional, Tuple

from statedict_lint.errors import UserError
from statedict_lint.review.revisions import (DiffResult, compute, findings, maps_by_class, outermost, severity,
                                             short_change)

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


# ---------------------------------------------------------------------------------------------- output
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
                out.append(text(f"           in {c}: {short_change(x)}" + (f" ({x.count} keys)" if x.count > 1 else "")))
        if vias:
            origins = sorted({ch.via for ch in vias})
            out.append(f"  ({len(vias)} change(s) through contained class(es): {', '.join(origins)})")
    maps = maps_by_class(result)
    if maps:
        out.append("")
        out.append("migration:")
        for cd in outermost(result):
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
    from statedict_lint import report

    text = report.render(findings(result), fmt, tool_name="statedict-lint diff", root=result.repo)
    if fmt == "markdown":
        nb = sum(1 for _cd, ch in result.roots() if ch.breaking)
        head = (f"### state_dict changes `{result.base_label}`..`{result.head_label}`\n\n"
                + (f"**{nb} breaking change(s)**: checkpoints saved before this change fail "
                   f"`load_state_dict(strict=True)`.\n\n" if nb else
                   "No change breaks loading existing checkpoints.\n\n"))
        text = head + text + (_markdown_migration(result) if hooks else "")
    return text


def _markdown_migration(result: DiffResult) -> str:
    from statedict_lint.review.hooks import map_json, pre_hook_snippet

    maps = maps_by_class(result)
    if not maps:
        return ""
    out = ["", "<details><summary>Migration</summary>", ""]
    for cd in outermost(result):
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
            cands = [cd.cls for cd in outermost(result) if cd.cls in maps]
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
