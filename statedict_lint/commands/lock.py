"""`statedict-lint lock [PATHS] [-o statedict.lock] [--check]`.

Writes the predicted state_dict of every nn.Module class under PATHS (default: the repository or the
current folder) into a sorted, line-per-key lock file; with --check compares the code with the lock and
exits 1 (with a summary) when they disagree.
"""

from __future__ import annotations

import json
import os
import sys
from typing import Any

from statedict_lint.review import worktree
from statedict_lint.review.worktree import git_root


def add_parser(sub: Any) -> None:
    p = sub.add_parser("lock", help="write (or --check) statedict.lock, the state_dict contract of every class",
                       description="Predict the state_dict of every nn.Module class under PATHS and write it to a "
                                   "sorted, diff-friendly lock file; --check exits 1 when code and lock disagree.")
    p.add_argument("paths", nargs="*", metavar="PATHS")
    p.add_argument("-o", "--output", metavar="FILE", help="lock file (default: statedict.lock at the repository "
                                                          "root, or in the current folder outside git)")
    p.add_argument("--check", action="store_true", help="compare with the lock instead of writing it")
    p.add_argument("--format", choices=["text", "json", "markdown", "sarif", "github"], default="text")
    p.add_argument("--no-cache", action="store_true", help="do not read or write the prediction cache")
    p.add_argument("--jobs", type=int, default=0, help="parallel predictor processes (default: CPU count)")
    p.set_defaults(run=run)


def default_lock_path() -> str:
    root = git_root(os.getcwd()) or os.getcwd()
    return os.path.join(root, "statedict.lock")


def project_root(lock_path: str) -> str:
    """The folder a lock's paths are relative to: the lock's own folder when the current folder is inside
    it (``statedict.lock`` at the root of a project or of a sub-project), else the repository root when the
    lock is inside the repository (``-o contracts/model.lock`` records ``"root": ".."``), else the lock's
    folder."""
    folder = os.path.dirname(os.path.abspath(lock_path))
    real = os.path.realpath(folder)
    cwd = os.path.realpath(os.getcwd())
    if cwd == real or cwd.startswith(real + os.sep):
        return folder
    repo = git_root(os.getcwd())
    if repo:
        repo = os.path.realpath(repo)
        if real == repo or real.startswith(repo + os.sep):
            return os.path.normpath(os.path.join(folder, os.path.relpath(repo, real)))
    return folder


def run(args: Any) -> int:
    from statedict_lint.review import lockcheck, lockfile

    lock_path = os.path.abspath(args.output or default_lock_path())
    root = project_root(lock_path)
    if args.check:
        lock = lockfile.read(lock_path)
        root = lock.root
    current, _cache, proj = worktree.snapshot(root, args.paths, use_cache=not args.no_cache, jobs=args.jobs)
    if not args.check:
        changed = lockfile.write(lock_path, current, root)
        nkeys = sum(len(c.keys) for c in current)
        incomplete = sum(1 for c in current if not c.complete)
        state = "wrote" if changed else "unchanged"
        from statedict_lint.findings import display_path

        sys.stdout.write(f"{state} {display_path(lock_path)}: {len(current)} classes, {nkeys} keys"
                         + (f" ({incomplete} classes not fully predicted; see their `unresolved`)"
                            if incomplete else "") + "\n")
        return 0
    rel_paths = [os.path.relpath(os.path.abspath(p), root).replace(os.sep, "/") for p in args.paths]
    changes = lockcheck.check(lock, current, rel_paths)
    fs = lockcheck.findings(lockcheck.roots(changes, proj), current, root)
    if args.format == "text":
        from statedict_lint import term
        from statedict_lint.findings import display_path

        if not changes:
            sys.stdout.write(f"{display_path(lock_path)} {term.paint('is up to date', 'green')} "
                             f"({len(current)} classes)\n")
        else:
            classes = sorted({ch.cls for ch in changes})
            sys.stdout.write(f"{display_path(lock_path)} {term.paint('is out of date', 'bold-red')}: {len(changes)} "
                             f"change(s) in {len(classes)} class(es); run `statedict-lint lock` if they are "
                             f"intended\n")
            for f in fs:
                from statedict_lint.report.escape import text  # keys come from the repository's source

                code = term.paint(f.code, term.SEVERITY_STYLE.get(f.severity, ""))
                sys.stdout.write(f"{text(display_path(os.path.join(root, f.path)))}:{f.line}: {code} "
                                 f"{text(f.message)}\n")
    elif args.format == "json":
        sys.stdout.write(json.dumps({"lock": lock_path, "up_to_date": not changes,
                                     "changes": [ch.to_json() for ch in changes]}, indent=2) + "\n")
    else:
        from statedict_lint import report

        sys.stdout.write(report.render(fs, args.format, tool_name="statedict-lint lock --check"))
    return 1 if changes else 0
