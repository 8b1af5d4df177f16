"""Benchmark `statedict-lint lock` and `statedict-lint diff` on a folder of real model code.

    python bench/bench_diff.py [FOLDER ...] [--label NAME] [--no-write]

Without FOLDERs: the pinned timm corpus of ``bench/corpus.py`` (``timm/models`` and ``timm/layers`` of
timm 1.0.31, downloaded from PyPI on first use). Each FOLDER (e.g. ``timm/models`` and ``timm/layers`` of a fetched huggingface/pytorch-image-models) is
copied with its .py files into a fresh temporary git repository (the copy keeps the paths relative to
the FOLDERs' common parent, so package imports resolve) and committed. Then, each as a fresh process:

* ``lock`` cold (empty cache) and re-run unchanged (cache warm);
* ``diff HEAD`` after renaming one attribute of one class in one file (``self.fc`` -> ``self.fc_renamed``):
  cold (empty cache) and re-run unchanged.

Results go to the ``bench:diff`` block of docs/benchmarks.md (only that block is rewritten). Nothing of
the FOLDER is committed to this repository.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from typing import Dict, List, Tuple

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
CLI = [sys.executable, "-m", "statedict_lint"]


ENV: Dict[str, str] = dict(os.environ)


def sh(args: List[str], cwd: str) -> Tuple[float, float, int, str]:
    """(wall seconds, CPU seconds of the process and its workers, exit code, output)."""
    import resource

    r0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    t = time.perf_counter()
    proc = subprocess.run(args, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=ENV)
    dt = time.perf_counter() - t
    r1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (r1.ru_utime - r0.ru_utime) + (r1.ru_stime - r0.ru_stime)
    return dt, cpu, proc.returncode, proc.stdout.decode("utf-8", "replace") + proc.stderr.decode("utf-8", "replace")


def git(cwd: str, *args: str) -> str:
    env = dict(os.environ, GIT_AUTHOR_NAME="bench", GIT_AUTHOR_EMAIL="b@e", GIT_COMMITTER_NAME="bench",
               GIT_COMMITTER_EMAIL="b@e")
    return subprocess.run(["git", "-C", cwd, *args], check=True, stdout=subprocess.PIPE, env=env).stdout.decode()


def copy_tree(folders: List[str], dest: str) -> Tuple[int, int]:
    folders = [os.path.abspath(f) for f in folders]

    def package_root(d: str) -> str:  # the folder above the outermost package holding d
        while os.path.exists(os.path.join(d, "__init__.py")) and os.path.dirname(d) != d:
            d = os.path.dirname(d)
        return d

    parent = os.path.commonpath([package_root(f) for f in folders])
    nfiles = nlines = 0
    for folder in folders:
        for dirpath, dirs, files in os.walk(folder):
            dirs[:] = [d for d in dirs if not d.startswith(".") and d != "__pycache__"]
            for f in files:
                if not f.endswith(".py"):
                    continue
                src = os.path.join(dirpath, f)
                rel = os.path.relpath(src, parent)
                dst = os.path.join(dest, rel)
                os.makedirs(os.path.dirname(dst), exist_ok=True)
                shutil.copyfile(src, dst)
                nfiles += 1
                with open(src, "rb") as fh:
                    nlines += fh.read().count(b"\n")
    # the packages above the folders (e.g. timm/__init__.py) so that imports like `timm.layers` resolve
    for folder in folders:
        up = os.path.dirname(folder)
        while up != parent and up.startswith(parent + os.sep) and os.path.exists(os.path.join(up, "__init__.py")):
            dst = os.path.join(dest, os.path.relpath(up, parent), "__init__.py")
            if not os.path.exists(dst):
                os.makedirs(os.path.dirname(dst), exist_ok=True)
                shutil.copyfile(os.path.join(up, "__init__.py"), dst)
                nfiles += 1
            up = os.path.dirname(up)
    return nfiles, nlines


def small_change(repo: str) -> Tuple[str, str]:
    """Rename one attribute (`self.fc`, else the first `self.X = nn.Linear`) in one file."""
    pat = re.compile(r"self\.(fc)\s*=\s*nn\.Linear|self\.(\w+)\s*=\s*nn\.Linear")
    for dirpath, dirs, files in sorted(os.walk(repo)):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        for f in sorted(files):
            if not f.endswith(".py"):
                continue
            p = os.path.join(dirpath, f)
            text = open(p, encoding="utf-8").read()
            m = pat.search(text)
            if not m:
                continue
            attr = m.group(1) or m.group(2)
            new = re.sub(rf"\bself\.{attr}\b", f"self.{attr}_renamed", text)
            with open(p, "w", encoding="utf-8") as fh:
                fh.write(new)
            return os.path.relpath(p, repo), attr
    raise SystemExit("no `self.X = nn.Linear` to rename in the folder")


def count_classes(repo: str) -> int:
    sys.path.insert(0, REPO)
    from statedict_lint.review.project import Project

    sources: Dict[str, str] = {}
    for dirpath, _dirs, files in os.walk(repo):
        if "/." in dirpath:
            continue
        for f in files:
            if f.endswith(".py"):
                p = os.path.join(dirpath, f)
                sources[os.path.relpath(p, repo)] = open(p, encoding="utf-8", errors="replace").read()
    return len(Project(sources).module_classes())


def write_block(text: str) -> None:
    from docblock import write_block as write

    write('diff', text, None)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("folders", nargs="*", help="default: timm/models and timm/layers of the timm corpus")
    ap.add_argument("--label", default="", help="what the folders are (e.g. 'timm @ aa4b585')")
    ap.add_argument("--no-write", action="store_true")
    args = ap.parse_args()
    shown = " ".join(args.folders)
    if not args.folders:
        sys.path.insert(0, HERE)
        from corpus import CORPORA, corpus

        models = corpus("timm")
        args.folders = [models, os.path.join(os.path.dirname(models), "layers")]
        args.label = args.label or f"{CORPORA['timm'][0]}: timm/models + timm/layers (bench/corpus.py)"
        shown = ""
    tmp = tempfile.mkdtemp(prefix="sdl-bench-diff-")
    try:
        # run a frozen copy of the package: edits to the work tree during the run (the cache is keyed by
        # the predictor's source) must not turn a warm re-run into a cold one
        frozen = os.path.join(tmp, "pkg")
        shutil.copytree(os.path.join(REPO, "statedict_lint"), os.path.join(frozen, "statedict_lint"),
                        ignore=shutil.ignore_patterns("__pycache__"))
        ENV["PYTHONPATH"] = frozen + os.pathsep + ENV.get("PYTHONPATH", "")
        commit = subprocess.run(["git", "-C", REPO, "rev-parse", "--short", "HEAD"], stdout=subprocess.PIPE,
                                check=False).stdout.decode().strip()
        repo = os.path.join(tmp, "repo")
        os.makedirs(repo)
        nfiles, nlines = copy_tree(args.folders, repo)
        git(repo, "init", "-q", "-b", "main")
        git(repo, "add", "-A")
        git(repo, "commit", "-qm", "base")
        nclasses = count_classes(repo)
        cache = os.path.join(tmp, "user-cache")  # a private user cache folder (caches never live in the repo)
        ENV["STATEDICT_LINT_CACHE_DIR"] = cache
        rows = []

        def timed(label: str, cmd: List[str], clear: bool) -> str:
            if clear:
                shutil.rmtree(cache, ignore_errors=True)
            dt, cpu, rc, out = sh(CLI + cmd, repo)
            last = out.strip().splitlines()[-1] if out.strip() else ""
            rows.append((label, dt, cpu, rc, last[:110]))
            print(f"{label:34} {dt:7.2f} s  cpu {cpu:7.2f} s  rc={rc}  {last[:110]}", flush=True)
            return out

        timed("lock, cold (empty cache)", ["lock"], True)
        timed("lock, unchanged re-run", ["lock"], False)
        timed("lock --check, unchanged", ["lock", "--check"], False)
        os.remove(os.path.join(repo, "statedict.lock"))
        changed, attr = small_change(repo)
        out = timed("diff HEAD, cold (empty cache)", ["diff", "HEAD", "--no-hooks"], True)
        timed("diff HEAD, unchanged re-run", ["diff", "HEAD", "--no-hooks"], False)
        found = f"self.{attr}" in out or f"{attr}_renamed" in out
        load = os.getloadavg() if hasattr(os, "getloadavg") else (0, 0, 0)
        lines = [
            f"`python bench/bench_diff.py{' ' + shown if shown else ''}`" + (f" — {args.label}" if args.label else ""),
            "",
            f"statedict-lint at {commit} (work tree copy). "
            f"{nfiles} files, {nlines:,} lines, {nclasses} nn.Module classes (ast count); "
            f"{os.cpu_count()} CPUs, load average {load[0]:.1f} at the end (the machine may be shared with other "
            f"jobs while measured; `make bench` re-runs on a quiet machine); "
            f"change for diff: `self.{attr}` -> `self.{attr}_renamed` in `{changed}` "
            f"({'reported' if found else 'NOT reported'}).",
            "",
            "| run | wall s | CPU s (all processes) | exit | last line |",
            "|---|---:|---:|---:|---|",
        ]
        lines += [f"| {label} | {dt:.2f} | {cpu:.2f} | {rc} | {last.replace('|', '/')} |"
                  for label, dt, cpu, rc, last in rows]
        lines.append("")
        lines.append("Targets: under 30 s cold on 2 cores, under 2 s for an unchanged re-run. CPU seconds do not "
                     "depend on other jobs: on an idle machine the cold wall time is about CPU / 2 (two "
                     "predictor processes) plus the serial parts (project index, lock writing).")
        text = "\n".join(lines)
        print(text)
        if not args.no_write:
            write_block(text)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
