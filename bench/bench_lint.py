"""Benchmark the SDL rules: flake8 with/without the plugin, `--select=SDL`, `statedict-lint lint` (cold/warm cache).

Usage: python bench/bench_lint.py [FOLDER] [--big FILE.py] [--repeat 3] [--no-write]

FOLDER: real model code (>=100 files, ~100k lines; never committed). Default: the pinned timm corpus of
bench/corpus.py (timm 1.0.31 ``timm/models``, 119 files, ~102k lines), downloaded on first use.
``--big`` names a ~5,000-line model file (default: the largest .py file in FOLDER, for timm
``vision_transformer.py``). Every
measurement is a whole process (interpreter start, imports, plugin loading), best of ``--repeat`` runs,
flake8 with ``-j1``. "Plugin uninstalled" runs the same flake8 with the statedict-lint entry point
filtered out of flake8's plugin discovery (the one process-level difference). Results replace the
``bench:lint`` block of docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from typing import List, Tuple

from docblock import machine  # bench/ is on sys.path when a bench script runs

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

FLAKE8 = r"""
import os, sys
if os.environ.get("SDL_BENCH_NO_PLUGIN"):
    import flake8.plugins.finder as finder
    _orig = finder.find_plugins
    def find_plugins(*a, **k):
        return [p for p in _orig(*a, **k) if p.package != "statedict-lint"]
    finder.find_plugins = find_plugins
from flake8.main.cli import main
sys.exit(main(sys.argv[1:]))
"""


def py_files(folder: str) -> List[str]:
    out = []
    for root, dirs, files in os.walk(folder):
        dirs[:] = [d for d in dirs if not d.startswith(".")]
        out += [os.path.join(root, f) for f in files if f.endswith(".py")]
    return sorted(out)


def lines_of(path: str) -> int:
    with open(path, "rb") as fh:
        return fh.read().count(b"\n")


def timed(cmd: List[str], cwd: str, env: dict, repeat: int) -> Tuple[float, int, str]:
    best = float("inf")
    rc, out = 0, ""
    for _ in range(repeat):
        t = time.perf_counter()
        p = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True)
        best = min(best, time.perf_counter() - t)
        rc, out = p.returncode, p.stdout
        if "Traceback" in p.stderr:
            raise SystemExit(f"{' '.join(cmd)} crashed:\n{p.stderr}")
    return best, rc, out


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("folder", nargs="?", default=None, help="default: bench/corpus.py timm")
    ap.add_argument("--big", default=None)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--no-write", action="store_true")
    args = ap.parse_args()
    if args.folder is None:
        sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
        from corpus import corpus

        args.folder = corpus("timm")
        label = "timm 1.0.31 `timm/models` (bench/corpus.py)"
    else:
        label = "`" + os.path.basename(os.path.normpath(args.folder)) + "`"
    folder = os.path.abspath(args.folder)
    files = py_files(folder)
    if not files:
        raise SystemExit(f"no .py files under {folder}")
    total = sum(lines_of(f) for f in files)
    big = os.path.abspath(args.big) if args.big else max(files, key=lines_of)
    py = sys.executable
    exe = os.path.join(os.path.dirname(py), "statedict-lint")
    env = dict(os.environ)
    env_off = dict(env, SDL_BENCH_NO_PLUGIN="1")
    flake8 = [py, "-c", FLAKE8, "-j1", "--isolated", "--exit-zero"]
    rows = []

    def row(name, cmd, e, target, cwd):
        secs, rc, out = timed(cmd, cwd, e, args.repeat)
        n = sum(1 for ln in out.splitlines() if ln.strip())
        rows.append((name, target, secs, n))
        print(f"{name:55s} {target:8s} {secs:7.2f} s  ({n} output lines)", flush=True)
        return secs

    for target, paths, cwd in (("corpus", ["."], folder), ("big", [big], os.path.dirname(big))):
        base = row("flake8 --select=E,F,W (plugin uninstalled)", flake8 + ["--select=E,F,W"] + paths, env_off,
                   target, cwd)
        inst = row("flake8 --select=E,F,W (plugin installed)", flake8 + ["--select=E,F,W"] + paths, env, target,
                   cwd)
        row("flake8 --select=SDL", flake8 + ["--select=SDL"] + paths, env, target, cwd)
        cache_home = tempfile.mkdtemp(prefix="sdl-bench-")
        try:
            work = os.path.join(cache_home, "cwd")
            os.makedirs(work)
            abs_paths = [os.path.join(cwd, p) if p == "." else p for p in paths]
            env_c = dict(env, STATEDICT_LINT_CACHE_DIR=os.path.join(cache_home, "cache"))  # a private user cache
            row("statedict-lint lint --no-cache", [exe, "lint", "--no-cache"] + abs_paths, env_c, target, work)
            subprocess.run([exe, "lint"] + abs_paths, cwd=work, env=env_c, capture_output=True)  # fill the cache
            row("statedict-lint lint (warm content cache)", [exe, "lint"] + abs_paths, env_c, target, work)
        finally:
            shutil.rmtree(cache_home, ignore_errors=True)
        rows.append(("ratio installed/uninstalled", target, inst / base, -1))
        rules_s = rules_in_process([os.path.join(cwd, p) if p == "." else p for p in paths], args.repeat)
        rows.append(("SDL rules alone, in-process, on flake8's parsed trees (the plugin's own work)", target,
                     rules_s, -2))
        print(f"  SDL rules in-process: {rules_s:.2f} s", flush=True)
        print(f"  flake8 with plugin / without: {inst / base:.2f}x", flush=True)

    text = render(rows, len(files), total, os.path.basename(big), lines_of(big), args.repeat, label)
    if not args.no_write:
        write_block(text)
    return 0


def rules_in_process(paths: List[str], repeat: int) -> float:
    """Seconds the plugin's own work takes (every rule on already-parsed trees), best of ``repeat``.

    The whole-process ratio above is noisy on a shared machine (flake8's own time varies by more than
    the plugin adds); this is the cost the plugin adds to each flake8 run, measured directly.
    """
    import ast

    sys.path.insert(0, ROOT)
    from statedict_lint.rules.engine import all_rules, run_rules

    files = [f for p in paths for f in (py_files(p) if os.path.isdir(p) else [p])]
    parsed = []
    for f in files:
        with open(f, encoding="utf-8") as fh:
            src = fh.read()
        parsed.append((ast.parse(src), src, f))
    rules = all_rules()
    best = float("inf")
    for _ in range(repeat):
        t = time.perf_counter()
        for tree, src, f in parsed:
            run_rules(tree, src, f, rules)
        best = min(best, time.perf_counter() - t)
    return best


def render(rows, nfiles, nlines, bigname, biglines, repeat, label="") -> str:
    out = [f"Corpus: {label} — {nfiles} real model files, {nlines:,} lines; big file: `{bigname}` "
           f"({biglines:,} lines). Whole processes, best of {repeat}, flake8 `-j1 --isolated`; "
           f"{machine()}. Command: "
           f"`python bench/bench_lint.py`.", "",
           "| run | target | seconds | output lines |", "|---|---|---|---|"]
    for name, target, secs, n in rows:
        if n == -2:
            out.append(f"| {name} | {target} | {secs:.2f} | |")
        elif n < 0:
            out.append(f"| **{name}** | {target} | **{secs:.2f}x** | |")
        else:
            out.append(f"| {name} | {target} | {secs:.2f} | {n} |")
    return "\n".join(out) + "\n"


def write_block(text: str) -> None:
    from docblock import write_block as write

    write('lint', text, 'Lint rules (flake8 plugin and `statedict-lint lint`)')


if __name__ == "__main__":
    sys.exit(main())
