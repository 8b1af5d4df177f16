"""Benchmark `statedict-lint inspect` against torch.load(meta) and safetensors' safe_open, 100 MB to 10 GB.

Usage: python bench/bench_inspect.py [--sizes 100M,1G,10G,100M-L48] [--repeat 10] [--no-write]
(cache directory: $SDL_BENCH_CKPT_CACHE, default ~/.cache/statedict-lint-bench/ckpt)

Checkpoints: a GPT-2-style state dict (wte, wpe, per block ln_1/attn.c_attn/attn.c_proj/ln_2/mlp.c_fc/mlp.c_proj
weights and biases, ln_f; float32) scaled to each size: 100 MB = 12 blocks, 1 GB = 24 blocks, 10 GB = 48 blocks
(GPT-2 XL depth), the width chosen to reach the size. Each size is written once as a torch zip file
(``torch.save`` of ``torch.empty`` tensors, in a child process) and as a safetensors file (header written
here, data left as a sparse zero region), into ``~/.cache/statedict-lint-bench/ckpt`` (never the repository),
and reused afterwards. Zero regions of the torch files are turned into holes with ``fallocate --dig-holes``
when available, so the cache costs little disk.

Every measurement is a whole process (interpreter start, imports, reading, printing), best of ``--repeat``
wall times; peak memory is the child's maximum resident set size from ``/usr/bin/time -f %M`` (a 2 MB C
process, so the number is the measured program's own). Commands:

* ``statedict-lint inspect FILE`` (text table of every key, shape and dtype);
* torch: ``python -c "import torch; torch.load(p, weights_only=True, map_location='meta')"``;
* safetensors: ``safe_open(p, framework="numpy")`` listing every key with ``get_slice(k).get_shape()`` and
  ``get_dtype()`` (numpy, not "pt", so that torch's import is not charged to safetensors).

Results replace the ``bench:inspect`` block of docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import struct
import subprocess
import sys
import time
from typing import Dict, List, Tuple

from docblock import machine  # bench/ is on sys.path when a bench script runs

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CACHE = os.environ.get("SDL_BENCH_CKPT_CACHE", os.path.expanduser("~/.cache/statedict-lint-bench/ckpt"))
TIME = "/usr/bin/time"

SIZES = {"100M": (100 * 10**6, 12), "1G": (10**9, 24), "10G": (10**10, 48),  # bytes, blocks
         "100M-L48": (100 * 10**6, 48)}  # the 10 GB file's 580 tensors in 100 MB: file size alone
VOCAB, CTX = 50257, 1024

TORCH_LOAD = "import sys, torch; torch.load(sys.argv[1], weights_only=True, map_location='meta')"
SAFE_OPEN = ("import sys\nfrom safetensors import safe_open\n"
             "with safe_open(sys.argv[1], framework='numpy') as f:\n"
             "    for k in f.keys():\n"
             "        s = f.get_slice(k); print(k, s.get_shape(), s.get_dtype())\n")


def layout(size: int, blocks: int) -> List[Tuple[str, Tuple[int, ...]]]:
    """GPT-2 state dict keys and shapes with the width that brings the float32 total closest to ``size``."""
    def keys(d: int) -> List[Tuple[str, Tuple[int, ...]]]:
        out = [("transformer.wte.weight", (VOCAB, d)), ("transformer.wpe.weight", (CTX, d))]
        for i in range(blocks):
            p = f"transformer.h.{i}."
            out += [(p + "ln_1.weight", (d,)), (p + "ln_1.bias", (d,)),
                    (p + "attn.c_attn.weight", (d, 3 * d)), (p + "attn.c_attn.bias", (3 * d,)),
                    (p + "attn.c_proj.weight", (d, d)), (p + "attn.c_proj.bias", (d,)),
                    (p + "ln_2.weight", (d,)), (p + "ln_2.bias", (d,)),
                    (p + "mlp.c_fc.weight", (d, 4 * d)), (p + "mlp.c_fc.bias", (4 * d,)),
                    (p + "mlp.c_proj.weight", (4 * d, d)), (p + "mlp.c_proj.bias", (d,))]
        out += [("transformer.ln_f.weight", (d,)), ("transformer.ln_f.bias", (d,))]
        return out

    def nbytes(d: int) -> int:
        total = 0
        for _, shape in keys(d):
            n = 1
            for x in shape:
                n *= x
            total += 4 * n
        return total

    d = min(range(64, 8192, 64), key=lambda w: abs(nbytes(w) - size))
    return keys(d)


MAKE_TORCH = r"""
import json, sys, torch
shapes = json.load(open(sys.argv[1]))
# torch.empty: pages never touched, so the save reads the kernel's zero page and the process stays small
sd = {k: torch.empty(tuple(s), dtype=torch.float32) for k, s in shapes}
torch.save(sd, sys.argv[2])
"""


def make_torch(path: str, keys: List[Tuple[str, Tuple[int, ...]]]) -> None:
    spec = path + ".shapes.json"
    with open(spec, "w") as fh:
        json.dump(keys, fh)
    tmp = path + ".tmp"
    subprocess.run([sys.executable, "-c", MAKE_TORCH, spec, tmp], check=True)
    os.remove(spec)
    if shutil.which("fallocate"):
        subprocess.run(["fallocate", "--dig-holes", tmp], check=False)
    os.replace(tmp, path)


def make_safetensors(path: str, keys: List[Tuple[str, Tuple[int, ...]]]) -> None:
    header: Dict[str, object] = {"__metadata__": {"format": "pt"}}
    off = 0
    for k, shape in keys:
        n = 4
        for x in shape:
            n *= x
        header[k] = {"dtype": "F32", "shape": list(shape), "data_offsets": [off, off + n]}
        off += n
    raw = json.dumps(header, separators=(",", ":")).encode()
    raw += b" " * (-len(raw) % 8)  # safetensors pads the header to 8 bytes
    tmp = path + ".tmp"
    with open(tmp, "wb") as fh:
        fh.write(struct.pack("<Q", len(raw)))
        fh.write(raw)
        fh.truncate(8 + len(raw) + off)  # data: a sparse zero region
    os.replace(tmp, path)


def ensure(size_name: str) -> Dict[str, str]:
    size, blocks = SIZES[size_name]
    keys = layout(size, blocks)
    d = keys[0][1][1]
    os.makedirs(CACHE, exist_ok=True)
    base = os.path.join(CACHE, f"gpt2-{size_name}-L{blocks}-d{d}")
    out = {"pt": base + ".pt", "safetensors": base + ".safetensors"}
    if not os.path.exists(out["pt"]):
        print(f"writing {out['pt']} ...", flush=True)
        make_torch(out["pt"], keys)
    if not os.path.exists(out["safetensors"]):
        make_safetensors(out["safetensors"], keys)
    return out


def run_once(cmd: List[str]) -> Tuple[float, float, int]:
    """(wall seconds, CPU seconds user+sys, peak RSS in KB) of one whole process."""
    if os.path.exists(TIME):
        full = [TIME, "-f", "%M", "-o", "/dev/stderr"] + cmd
    else:  # pragma: no cover
        full = cmd
    t = time.perf_counter()
    p = subprocess.Popen(full, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    err = p.stderr.read().decode(errors="replace") if p.stderr else ""
    _pid, status, ru = os.wait4(p.pid, 0)  # rusage of the child and its reaped descendants
    wall = time.perf_counter() - t
    p.returncode = os.waitstatus_to_exitcode(status)
    if p.stderr:
        p.stderr.close()
    if p.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed ({p.returncode}):\n{err[-2000:]}")
    rss = 0
    lines = err.strip().splitlines()
    if os.path.exists(TIME) and lines and lines[-1].strip().isdigit():
        rss = int(lines[-1].strip())
    return wall, ru.ru_utime + ru.ru_stime, rss


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", default="100M,1G,10G,100M-L48")
    ap.add_argument("--repeat", type=int, default=10, help="runs per command (torch: at most 5)")
    ap.add_argument("--no-write", action="store_true")
    args = ap.parse_args()
    sizes = [s for s in args.sizes.split(",") if s]
    for s in sizes:
        if s not in SIZES:
            raise SystemExit(f"unknown size {s!r} (choose from {', '.join(SIZES)})")
    py = sys.executable
    exe = os.path.join(os.path.dirname(py), "statedict-lint")
    results: List[dict] = []
    jobs: List[Tuple[dict, str, List[str]]] = []
    for s in sizes:
        files = ensure(s)
        for fmt, path in files.items():
            row = {"size": s, "format": fmt, "file": os.path.basename(path), "bytes": os.path.getsize(path)}
            out = subprocess.run([exe, "inspect", "--format", "json", path], capture_output=True, text=True)
            row["tensors"] = json.loads(out.stdout)["tensors"]
            results.append(row)
            jobs.append((row, "inspect", [exe, "inspect", path]))
            if fmt == "pt":
                jobs.append((row, "torch", [py, "-c", TORCH_LOAD, path]))
            else:
                jobs.append((row, "safe_open", [py, "-c", SAFE_OPEN, path]))
    for _row, _tool, cmd in jobs:
        run_once(cmd)  # warm the page cache and the interpreter's .pyc files
    # rounds over all commands, so that load from other jobs on the machine spreads over every file alike
    best: Dict[int, float] = {}
    cpu: Dict[int, float] = {}
    peak: Dict[int, int] = {}
    for r in range(args.repeat):
        for i, (_row, tool, cmd) in enumerate(jobs):
            if tool == "torch" and r >= min(args.repeat, 5):
                continue
            wall, cpu_s, rss = run_once(cmd)
            best[i] = min(best.get(i, float("inf")), wall)
            cpu[i] = min(cpu.get(i, float("inf")), cpu_s)
            peak[i] = max(peak.get(i, 0), rss)
    for i, (row, tool, _cmd) in enumerate(jobs):
        row[tool] = (best[i], peak[i], cpu[i])
        print(f"{row['size']:9s} {row['format']:12s} {tool:10s} {best[i] * 1000:8.1f} ms  cpu {cpu[i] * 1000:7.1f} ms"
              f"  peak {peak[i] / 1024:7.1f} MB", flush=True)
    text = render(results, args.repeat)
    print(text)
    if not args.no_write:
        write_block(text)
    return 0


def _ms(x: float) -> str:
    return f"{x * 1000:.0f}"


def render(rows: List[dict], repeat: int) -> str:
    out = [f"GPT-2-style float32 state dicts (100M/1G/10G: 12/24/48 blocks; 100M-L48: 48 narrow blocks, the "
           f"10 GB file's tensor count in 100 MB), torch zip (`torch.save`) and safetensors. "
           f"Whole processes, best of {repeat} wall times (torch: best of {min(repeat, 5)}; runs interleaved over "
           f"all files, after one warm-up run each, so headers are in the page cache), peak RSS from "
           f"`/usr/bin/time -f %M` (max over the runs), CPU = user+sys of the process (best run; the "
           f"size-independence target is judged on it, since wall time on a shared machine mostly measures the "
           f"other jobs); "
           f"{machine()}. Command: `python bench/bench_inspect.py`.", "",
           "| file | format | tensors | inspect ms | inspect CPU ms | inspect peak MB | other | other ms | "
           "other peak MB | speed-up (wall) |", "|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        wall, rss, cpu = r["inspect"]
        other = "torch" if "torch" in r else "safe_open"
        owall, orss, _ocpu = r[other]
        out.append(f"| {r['size']} ({r['bytes'] / 1e9:.2f} GB) | {r['format']} | {r['tensors']} | {_ms(wall)} | "
                   f"{_ms(cpu)} | {rss / 1024:.1f} | "
                   f"{'torch.load(meta)' if other == 'torch' else 'safe_open (numpy)'} | "
                   f"{_ms(owall)} | {orss / 1024:.1f} | {owall / wall:.1f}x |")
    out.append("")
    by = {(r["size"], r["format"]): r for r in rows}
    checks = []
    if rows:
        worst_speedup = min((r["torch"][0] / r["inspect"][0]) for r in rows if "torch" in r) \
            if any("torch" in r for r in rows) else None
        peak = max(r["inspect"][1] for r in rows) / 1024
        if worst_speedup is not None:
            checks.append(f"inspect vs torch.load(meta), worst case: **{worst_speedup:.1f}x** faster "
                          f"(target >= 10x: {'met' if worst_speedup >= 10 else 'MISSED'})")
        checks.append(f"inspect peak RSS, worst case: **{peak:.1f} MB** (target <= 30 MB: "
                      f"{'met' if peak <= 30 else 'MISSED'})")
        for small, big, what in (("100M", "10G", "realistic scaling: 148 vs 580 tensors"),
                                 ("100M-L48", "10G", "file size alone: 580 tensors each")):
            for fmt in ("pt", "safetensors"):
                if (small, fmt) in by and (big, fmt) in by:
                    a, b = by[(small, fmt)]["inspect"], by[(big, fmt)]["inspect"]
                    rw, rc = b[0] / a[0], b[2] / a[2]
                    checks.append(f"inspect {big} / {small} ({fmt}; {what}): wall **{rw:.2f}**, CPU **{rc:.2f}** "
                                  f"(target within 20%: {'met' if abs(rc - 1) <= 0.2 else 'MISSED'} on CPU time, "
                                  f"{'met' if abs(rw - 1) <= 0.2 else 'missed'} on wall time)")
    out += [f"- {c}" for c in checks]
    return "\n".join(out) + "\n"


def write_block(text: str) -> None:
    from docblock import write_block as write

    write('inspect', text, 'Reading checkpoints (`statedict-lint inspect`)')


if __name__ == "__main__":
    sys.exit(main())
