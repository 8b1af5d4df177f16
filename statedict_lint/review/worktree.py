"""The nn.Module classes of the files on disk (what `statedict-lint lock` writes and `lock --check` compares): the
.py files under the given paths (git's view when in a repository: ignores honoured, links out not followed), read,
indexed (``project.Project``) and predicted (``snapshot.predict_tree``, with the snapshot cache)."""

from __future__ import annotations

import os
import subprocess
import sys
from typing import Any, Dict, List, Optional, Tuple

from statedict_lint.errors import UserError
from statedict_lint.safeio import confined, utf8_named

SKIP_DIRS = {".git", ".hg", ".svn", ".venv", "venv", "env", "node_modules", "__pycache__", "build", "dist",
             "site-packages", ".tox", ".nox", ".mypy_cache", ".pytest_cache", ".statedict-lint-cache"}


def git_root(folder: str) -> Optional[str]:
    try:
        proc = subprocess.run(["git", "-C", folder, "rev-parse", "--show-toplevel"], stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, check=False)
    except FileNotFoundError:
        return None
    return proc.stdout.decode().strip() if proc.returncode == 0 else None


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
    repo = git_root(root)
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
            dirs[:] = sorted(d for d in dirs if d not in SKIP_DIRS and not d.startswith("."))
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
    repo = git_root(root) or root
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
