"""Benchmark `statedict-lint keys`: a GPT-2-sized model against building it with torch on the meta device, and
prediction over every nn.Module class of a real-code corpus.

Usage: python bench/bench_keys.py [--repeat 5] [--corpus timm] [--no-corpus] [--no-write]

1. ``statedict-lint keys fixtures/gpt.py:GPT`` with GPT-2 (124M) bindings, cold (``--no-cache``) and warm
   (prediction cache filled once, in a private cache folder), against ``python -c`` importing torch,
   importing the same fixture file, building ``GPT(GPTConfig(...))`` under ``torch.device("meta")`` and taking
   its ``state_dict()``. Every run is a whole process (interpreter start and imports included); wall time and
   peak RSS (``ru_maxrss`` of that child alone, from ``os.wait4``), median of ``--repeat`` runs. Both sides
   must report the same number of keys. The package's bytecode is compiled first (as ``pip install`` does).
2. Every nn.Module class defined in the corpus (default: the pinned timm corpus of bench/corpus.py, timm 1.0.31
   ``timm/models``), predicted with no bindings in one child process: how many predictions are complete
   (concrete), symbolic (complete up to free constructor arguments), honestly incomplete (reasons with lines),
   or stop with a construction error found statically; total time and lines per second.

Results replace the ``bench:keys`` block of docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from typing import Any, Dict, List, Optional, Tuple

from docblock import machine  # bench/ is on sys.path when a bench script runs

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
GPT = os.path.join(ROOT, "fixtures", "gpt.py")
GPT2 = {"n_layer": 12, "n_head": 12, "n_embd": 768, "block_size": 1024, "vocab_size": 50257, "bias": True}

TORCH_META = r"""
import ast, importlib.util, sys
import torch
spec = importlib.util.spec_from_file_location("gpt_fixture", sys.argv[1])
mod = importlib.util.module_from_spec(spec)
sys.modules["gpt_fixture"] = mod
spec.loader.exec_module(mod)
cfg = mod.GPTConfig(**{k: ast.literal_eval(v) for k, v in (a.split("=") for a in sys.argv[2:])})
with torch.device("meta"):
    model = mod.GPT(cfg)
sd = model.state_dict()
print(len(sd))
"""


def run_child(cmd: List[str], env: Dict[str, str], cwd: str) -> Tuple[float, int, int, str, str]:
    """Wall seconds, peak RSS (KiB) of this child alone, exit code, stdout, stderr."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        t = time.perf_counter()
        p = subprocess.Popen(cmd, stdout=out, stderr=err, env=env, cwd=cwd)
        _pid, status, usage = os.wait4(p.pid, 0)
        secs = time.perf_counter() - t
        p.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        return secs, int(usage.ru_maxrss), p.returncode, out.read().decode(), err.read().decode()


def measure(name: str, cmd: List[str], env: Dict[str, str], repeat: int, cwd: str = ROOT) -> Dict[str, Any]:
    times, rss = [], []
    out = ""
    for _ in range(repeat):
        secs, kib, rc, out, err = run_child(cmd, env, cwd)
        if rc != 0:
            raise SystemExit(f"{name}: exit {rc}\n{err[-2000:]}")
        times.append(secs)
        rss.append(kib)
    row = {"name": name, "median_s": statistics.median(times), "min_s": min(times), "max_s": max(times),
           "rss_mib": statistics.median(rss) / 1024, "out": out}
    print(f"{name:60s} median {row['median_s']:.3f} s (min {row['min_s']:.3f}, max {row['max_s']:.3f})  "
          f"peak RSS {row['rss_mib']:.0f} MiB", flush=True)
    return row


def corpus_worker(folder: str) -> int:
    """Child process: predict every nn.Module class under folder; print one JSON line of counts."""
    sys.path.insert(0, ROOT)
    from statedict_lint.errors import UserError
    from statedict_lint.predict.api import module_classes, predict

    files = []
    for root, dirs, names in os.walk(folder):
        dirs[:] = sorted(d for d in dirs if not d.startswith(".") and d != "__pycache__")
        files += [os.path.join(root, n) for n in sorted(names) if n.endswith(".py")]
    counts = {"complete": 0, "symbolic": 0, "incomplete": 0, "error": 0, "crash": 0}
    lines = 0
    unreadable = 0
    slowest: Tuple[float, str] = (0.0, "")
    crashes: List[str] = []
    t0 = time.perf_counter()
    for f in files:
        with open(f, "rb") as fh:
            lines += fh.read().count(b"\n")
        try:
            classes = module_classes(f)
        except UserError:
            unreadable += 1
            continue
        for cls, _line in classes:
            t = time.perf_counter()
            try:
                pred = predict(f, cls, {})
            except UserError:
                counts["error"] += 1
            except Exception as exc:  # noqa: BLE001 - a predictor crash is a result to report
                counts["crash"] += 1
                crashes.append(f"{os.path.relpath(f, folder)}:{cls}: {type(exc).__name__}")
            else:
                if pred.complete:
                    counts["complete"] += 1
                elif pred.unresolved or any(k.condition for k in pred.keys):
                    counts["incomplete"] += 1
                else:
                    counts["symbolic"] += 1
            dt = time.perf_counter() - t
            if dt > slowest[0]:
                slowest = (dt, f"{os.path.relpath(f, folder)}:{cls}")
    total = time.perf_counter() - t0
    print(json.dumps({"files": len(files), "lines": lines, "unreadable_files": unreadable, "counts": counts,
                      "classes": sum(counts.values()), "seconds_in_process": total, "slowest": slowest,
                      "crashes": crashes[:10]}))
    return 0


def main(argv: Optional[List[str]] = None) -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--corpus", default="timm")
    ap.add_argument("--no-corpus", action="store_true")
    ap.add_argument("--no-write", action="store_true")
    ap.add_argument("--corpus-worker", default=None, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.corpus_worker:
        return corpus_worker(args.corpus_worker)

    py = sys.executable
    exe = os.path.join(os.path.dirname(py), "statedict-lint")
    keys_cmd = [exe] if os.path.exists(exe) else [py, "-m", "statedict_lint"]
    sets: List[str] = []
    for k, v in GPT2.items():
        sets += ["--set", f"config.{k}={v}"]
    # bytecode as an installed package has it (pip compiles at install time; torch's is compiled already):
    # with PYTHONDONTWRITEBYTECODE set, a freshly edited checkout would otherwise recompile on every run
    subprocess.run([py, "-m", "compileall", "-q", os.path.join(ROOT, "statedict_lint")], check=True)
    cache = tempfile.mkdtemp(prefix="sdl-bench-keys-")
    env = dict(os.environ, STATEDICT_LINT_CACHE_DIR=cache)
    rows = []
    try:
        cold = measure("statedict-lint keys --no-cache (cold)",
                       keys_cmd + ["keys", f"{GPT}:GPT", *sets, "--no-cache", "--format", "json"], env, args.repeat)
        rows.append(cold)
        run_child(keys_cmd + ["keys", f"{GPT}:GPT", *sets, "--format", "json"], env, ROOT)  # fill the cache
        warm = measure("statedict-lint keys (warm prediction cache)",
                       keys_cmd + ["keys", f"{GPT}:GPT", *sets, "--format", "json"], env, args.repeat)
        rows.append(warm)
    finally:
        shutil.rmtree(cache, ignore_errors=True)
    n_keys = len(json.loads(cold["out"])["keys"])
    assert json.loads(cold["out"])["complete"], "the GPT-2 prediction should be complete"
    torch_row = None
    try:
        import importlib.util

        has_torch = importlib.util.find_spec("torch") is not None
    except (ImportError, ValueError):
        has_torch = False
    if has_torch:
        torch_row = measure("python: import torch + GPT(...) on meta + state_dict()",
                            [py, "-c", TORCH_META, GPT] + [f"{k}={v}" for k, v in GPT2.items()], dict(os.environ),
                            args.repeat)
        n_torch = int(torch_row["out"].strip().splitlines()[-1])
        if n_torch != n_keys:
            raise SystemExit(f"keys predicts {n_keys} keys, torch built {n_torch}")
        rows.append(torch_row)

    corpus_info = None
    if not args.no_corpus:
        sys.path.insert(0, HERE)
        from corpus import CORPORA, corpus

        folder = corpus(args.corpus)
        secs, kib, rc, out, err = run_child([py, os.path.abspath(__file__), "--corpus-worker", folder],
                                            dict(os.environ), ROOT)
        if rc != 0:
            raise SystemExit(f"corpus run failed: exit {rc}\n{err[-3000:]}")
        corpus_info = json.loads(out.strip().splitlines()[-1])
        corpus_info.update(wall=secs, rss_mib=kib / 1024, spec=CORPORA[args.corpus][0], sub=CORPORA[args.corpus][1])
        c = corpus_info["counts"]
        print(f"corpus {corpus_info['spec']}: {corpus_info['classes']} classes in {corpus_info['files']} files, "
              f"{corpus_info['lines']:,} lines: {c} in {secs:.1f} s wall, {kib / 1024:.0f} MiB", flush=True)

    text = render(rows, n_keys, torch_row, corpus_info, args.repeat)
    print(text)
    if not args.no_write:
        write_block(text)
    return 0


def render(rows: List[Dict[str, Any]], n_keys: int, torch_row: Optional[Dict[str, Any]],
           corpus_info: Optional[Dict[str, Any]], repeat: int) -> str:
    cfg = ", ".join(f"{k}={v}" for k, v in GPT2.items())
    out = [f"`fixtures/gpt.py:GPT` (nanoGPT style) with GPT-2 bindings ({cfg}; {n_keys} state_dict keys, 124M "
           f"parameters). Whole processes, median of {repeat} runs (min–max in brackets), peak RSS of the child "
           f"process; {machine()}. Command: "
           f"`python bench/bench_keys.py`.", "",
           "| run | seconds (median) | peak RSS (MiB) |", "|---|---|---|"]
    for r in rows:
        out.append(f"| {r['name']} | {r['median_s']:.3f} ({r['min_s']:.3f}–{r['max_s']:.3f}) | {r['rss_mib']:.0f} |")
    if torch_row is not None:
        cold, warm = rows[0], rows[1]
        out.append("")
        out.append(f"torch on meta / `keys` cold: **{torch_row['median_s'] / cold['median_s']:.1f}× time**, "
                   f"**{torch_row['rss_mib'] / cold['rss_mib']:.1f}× peak memory**; torch / `keys` warm: "
                   f"{torch_row['median_s'] / warm['median_s']:.1f}× time, "
                   f"{torch_row['rss_mib'] / warm['rss_mib']:.1f}× memory (targets: ≥10× time, ≥5× memory).")
    else:
        out.append("")
        out.append("torch is not installed here: the torch comparison was skipped.")
    if corpus_info is not None:
        c = corpus_info["counts"]
        n = corpus_info["classes"]

        def pct(x: int) -> str:
            return f"{x} ({100 * x / n:.0f}%)" if n else str(x)

        out += ["", f"Every nn.Module class of {corpus_info['spec']} `{corpus_info['sub']}` "
                    f"({corpus_info['files']} files, {corpus_info['lines']:,} lines), predicted with no bindings in "
                    f"one process: {n} classes in {corpus_info['wall']:.1f} s wall "
                    f"({corpus_info['lines'] / corpus_info['wall']:,.0f} lines/s over the folder; "
                    f"{corpus_info['wall'] / max(n, 1) * 1000:.0f} ms per class), peak RSS "
                    f"{corpus_info['rss_mib']:.0f} MiB. Slowest class: `{corpus_info['slowest'][1]}` "
                    f"({corpus_info['slowest'][0]:.2f} s).", "",
                "| outcome | classes |", "|---|---|",
                f"| complete (every key, shape and dtype concrete) | {pct(c['complete'])} |",
                f"| symbolic (complete up to unbound constructor arguments) | {pct(c['symbolic'])} |",
                f"| incomplete, with reasons and lines (unbound layer types, unknown branches, ...) | "
                f"{pct(c['incomplete'])} |",
                f"| construction fails statically (the code raises under its own defaults, e.g. timm's "
                f"`assert ws != 1`) | "
                f"{pct(c['error'])} |",
                f"| predictor crash | {pct(c['crash'])} |"]
        if corpus_info.get("unreadable_files"):
            out.append(f"\n{corpus_info['unreadable_files']} file(s) could not be read as Python.")
        if corpus_info.get("crashes"):
            out.append("\nCrashes: " + ", ".join(f"`{x}`" for x in corpus_info["crashes"]))
        out.append("\nThese counts say how often a prediction is settled without any bindings; their correctness "
                   "is judged against torch by tests/test_fixtures.py and `statedict-lint verify`, not here.")
    return "\n".join(out) + "\n"


def write_block(text: str) -> None:
    from docblock import write_block as write

    write('keys', text, '`keys`: static prediction vs torch on the meta device')


if __name__ == "__main__":
    sys.exit(main())
