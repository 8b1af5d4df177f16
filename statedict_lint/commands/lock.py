"""`statedict-lint lock [PATHS] [-o statedict.lock] [--check]`.

Writes the predicted state_dict of every nn.Module class under PATHS (default: the repository or the
current folder) into a sorted, line-per-key lock file; with --check compares the code with the lock and
exits 1 (with a summary) when they disagree.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from typing import Any, Dict, List, Optional, Tuple

from statedict_lint.errors import UserError
from statedict_lint.safeio import confined, utf8_named

_SKIP_DIRS = {".git", ".hg", ".svn", ".venv", "venv", "env", "node_modules", "__pycache__", "build", "dist",
              "site-packages", ".tox", ".nox", ".mypy_cache", ".pytest_cache", ".statedict-lint-cache"}


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


def _git_root(folder: str) -> Optional[str]:
    try:
        proc = subprocess.run(["git", "-C", folder, "rev-parse", "--show-toplevel"], stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, check=False)
    except FileNotFoundError:
        return None
    return proc.stdout.decode().strip() if proc.returncode == 0 else None


def default_lock_path() -> str:
    root = _git_root(os.getcwd()) or os.getcwd()
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
    repo = _git_root(os.getcwd())
    if repo:
        repo = os.path.realpath(repo)
        if real == repo or real.startswith(repo + os.sep):
            return os.path.normpath(os.path.join(folder, os.path.relpath(repo, real)))
    return folder


def enumerate_py(root: str, paths: List[str]) -> List[str]:
    """Repo-relative (to ``root``) .py files under ``paths``: git's view (ignores honoured) when possible."""
    rels: List[str] = []
    for p in paths or [root]:
        ap = os.path.abspath(p)
        if not os.path.exists(ap):
            raise UserError(f"no such file or folder: {p}")
        if not (ap == root or ap.startswith(root + os.sep)):
            raise UserError(f"{p} is outside the lock's folder {root}")
        rels.append(os.path.relpath(ap, root).replace(os.sep, "/"))
    repo = _git_root(root)
    if repo is not None:
        specs = [r for r in rels if r != "."]
        proc = subprocess.run(["git", "-C", root, "ls-files", "-z", "--cached", "--others", "--exclude-standard",
                               "--", *(specs or ["."])], stdout=subprocess.PIPE, stderr=subprocess.PIPE, check=False)
        if proc.returncode == 0:
            files = [f for f in proc.stdout.decode("utf-8", "surrogateescape").split("\0")
                     if f.endswith(".py") and os.path.isfile(os.path.join(root, f))]
            return confined(root, utf8_named(sorted(set(files))), repo)
    out = set()
    for r in rels:
        ap = os.path.join(root, r)
        if os.path.isfile(ap):
            if ap.endswith(".py"):
                out.add(r if r != "." else os.path.basename(ap))
            continue
        for dirpath, dirs, files in os.walk(ap):
            dirs[:] = sorted(d for d in dirs if d not in _SKIP_DIRS and not d.startswith("."))
            for f in files:
                if f.endswith(".py"):
                    out.add(os.path.relpath(os.path.join(dirpath, f), root).replace(os.sep, "/"))
    return confined(root, utf8_named(sorted(out)))


def snapshot(root: str, paths: List[str], use_cache: bool = True, jobs: int = 0) -> Tuple[List[Any], Any, Any]:
    """(ClassRecs of every nn.Module class under paths, Cache, Project) for the files on disk under ``root``."""
    from statedict_lint.review.project import IndexCache, Project
    from statedict_lint.review.snapshot import Cache, cache_folder, predict_tree

    files = enumerate_py(root, paths)
    sources: Dict[str, str] = {}
    for f in files:
        try:
            with open(os.path.join(root, f), "rb") as fh:
                sources[f] = fh.read().decode("utf-8", "replace")
        except OSError as exc:
            raise UserError(f"cannot read {f}: {exc.strerror}") from None
    repo = _git_root(root) or root
    cache_dir = cache_folder(repo) if use_cache else None
    proj = Project(sources, IndexCache(cache_dir))
    for f in files:  # a file that cannot be parsed (too large, nested too deeply, a syntax error) is not silently absent
        err = proj.files[f].syntax_error
        if err:
            from statedict_lint.report.escape import text

            sys.stderr.write(text(f"statedict-lint: warning: {f}: not read ({err}); its classes are not in the lock")
                             + "\n")
    cache = Cache(cache_dir)
    from statedict_lint.source.locate import confined_to
    from statedict_lint.term import Progress

    todo = [f for f in files if proj.files[f].classes]
    with confined_to(repo), Progress("statedict-lint lock") as progress:  # (imports stay in the repository)
        if progress.enabled and len(todo) > 20:  # on a terminal: in steps, to say how far it got
            recs: Dict[str, Any] = {}
            step = max(10, len(todo) // 20)
            for i in range(0, len(todo), step):
                progress.update(f"{i}/{len(todo)} files")
                recs.update(predict_tree(root, todo[i:i + step], proj, cache, jobs=jobs))
        else:
            progress.update(f"{len(todo)} files")
            recs = predict_tree(root, todo, proj, cache, jobs=jobs)
    out = [c for rs in recs.values() for c in rs if c.name]
    return out, cache, proj


def run(args: Any) -> int:
    from statedict_lint.review import lockcheck, lockfile

    lock_path = os.path.abspath(args.output or default_lock_path())
    root = project_root(lock_path)
    if args.check:
        lock = lockfile.read(lock_path)
        root = lock.root
    current, _cache, proj = snapshot(root, args.paths, use_cache=not args.no_cache, jobs=args.jobs)
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
