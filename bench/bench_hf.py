"""Benchmark Hugging Face folders: `statedict-lint keys DIR` and `check DIR` against transformers itself.

Usage: python bench/bench_hf.py [--repeat 5] [--no-write] [--only tiny|base|mixtral ...]

A folder written by ``save_pretrained`` for a BERT-base-shaped ``BertForMaskedLM`` (hidden 768, 12 layers,
vocab 30522: the architecture and config of google-bert/bert-base-uncased, random weights) and for a tiny one
(hidden 32, 2 layers), and for a tiny ``MixtralForCausalLM`` (4 experts a layer, stored one tensor per expert and
fused while loading by transformers' WeightConverters), in a temporary directory. Whole processes, median of ``--repeat`` runs, peak RSS of the
child (``os.wait4``):

* ``statedict-lint keys DIR --no-cache`` (cold) and ``keys DIR`` with a warm prediction cache (private folder);
* ``statedict-lint check DIR`` (config.json resolved to the class, config bound as from_pretrained does, the
  header read, both verdicts) against ``python -c`` running ``AutoModelForMaskedLM.from_pretrained(DIR,
  output_loading_info=True)`` -- what a user runs to learn the same thing. Both must agree that the folder loads.

Results replace the ``bench:hf`` block of docs/benchmarks.md. Needs transformers (the dev extra).
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
from typing import Any, Dict, List

from bench_keys import run_child  # bench/ is on sys.path when a bench script runs
from docblock import machine, write_block

HERE = os.path.dirname(os.path.abspath(__file__))
SIZES = ("tiny", "base", "mixtral")
AUTO = {"tiny": "AutoModelForMaskedLM", "base": "AutoModelForMaskedLM", "mixtral": "AutoModelForCausalLM"}
ROOT = os.path.dirname(HERE)

MAKE = r"""
import sys, warnings
warnings.filterwarnings("ignore")
import torch
from transformers import BertConfig, BertForMaskedLM, MixtralConfig, MixtralForCausalLM
from transformers.utils import logging
logging.set_verbosity_error()
torch.manual_seed(0)
size = sys.argv[2]
kw = {} if size == "base" else dict(hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
                                    intermediate_size=37, vocab_size=99)
if size == "mixtral":
    MixtralForCausalLM(MixtralConfig(**kw, num_key_value_heads=2, num_local_experts=4)).save_pretrained(sys.argv[1])
else:
    BertForMaskedLM(BertConfig(**kw)).save_pretrained(sys.argv[1])
"""

FROM_PRETRAINED = r"""
import sys
import transformers
from transformers.utils import logging
logging.set_verbosity_error()
auto = getattr(transformers, sys.argv[2])
model, info = auto.from_pretrained(sys.argv[1], output_loading_info=True)
bad = info["missing_keys"] or info["unexpected_keys"] or info["mismatched_keys"]
print("loads" if not bad else "does not load")
"""


def measure(name: str, cmd: List[str], env: Dict[str, str], repeat: int, ok=(0,)) -> Dict[str, Any]:
    times, rss, out = [], [], ""
    for _ in range(repeat):
        secs, kib, rc, out, err = run_child(cmd, env, ROOT)
        if rc not in ok:
            raise SystemExit(f"{name}: exit {rc}\n{err[-2000:]}")
        times.append(secs)
        rss.append(kib)
    row = {"name": name, "median_s": statistics.median(times), "min_s": min(times), "max_s": max(times),
           "rss_mib": statistics.median(rss) / 1024, "out": out}
    print(f"{name:70s} median {row['median_s']:.3f} s (min {row['min_s']:.3f}, max {row['max_s']:.3f})  "
          f"peak RSS {row['rss_mib']:.0f} MiB", flush=True)
    return row


def main(argv: List[str]) -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--no-write", action="store_true")
    ap.add_argument("--only", nargs="+", choices=SIZES, default=list(SIZES),
                    help="measure these folders only (the docs block is then not written)")
    args = ap.parse_args(argv)
    sizes = [s for s in SIZES if s in args.only]
    py = sys.executable
    lint = [py, "-m", "statedict_lint"]
    tmp = tempfile.mkdtemp(prefix="sdl-bench-hf-")
    try:
        import compileall

        compileall.compile_dir(os.path.join(ROOT, "statedict_lint"), quiet=1)
        rows: List[Dict[str, Any]] = []
        for size in sizes:
            folder = os.path.join(tmp, size)
            secs, _kib, rc, _o, err = run_child([py, "-c", MAKE, folder, size], dict(os.environ), ROOT)
            if rc:
                raise SystemExit(f"save_pretrained failed: {err[-2000:]}")
            cache = os.path.join(tmp, f"cache-{size}")
            env = dict(os.environ, STATEDICT_LINT_CACHE_DIR=cache)
            rows.append(measure(f"{size}: statedict-lint keys DIR --no-cache (cold)",
                                lint + ["keys", folder, "--no-cache"], env, args.repeat))
            run_child(lint + ["keys", folder], env, ROOT)  # fill the cache
            rows.append(measure(f"{size}: statedict-lint keys DIR (warm prediction cache)",
                                lint + ["keys", folder], env, args.repeat))
            chk = measure(f"{size}: statedict-lint check DIR", lint + ["check", folder], env, args.repeat)
            fp = measure(f"{size}: python: from_pretrained(DIR, output_loading_info=True)",
                         [py, "-c", FROM_PRETRAINED, folder, AUTO[size]], dict(os.environ), args.repeat)
            if "loads" != fp["out"].strip() or not chk["out"].startswith("note:"):
                raise SystemExit(f"{size}: from_pretrained says {fp['out'].strip()!r}; check printed {chk['out'][:300]!r}")
            rows += [chk, fp]
        lines = [
            "## Hugging Face folders: `keys DIR`, `check DIR` vs `from_pretrained`",
            "",
            "Folders written by `save_pretrained` for `BertForMaskedLM`: *tiny* (hidden 32, 2 layers, vocab 99) and "
            "*base* (bert-base-uncased's config: hidden 768, 12 layers, vocab 30522, 110M parameters, random "
            "weights); *mixtral*: a tiny `MixtralForCausalLM` (hidden 32, 2 layers, 4 experts a layer stored one "
            "tensor per expert, fused by transformers' WeightConverters while loading). Whole processes, median of "
            f"{args.repeat} runs (min–max in brackets), peak RSS of the child; {machine()}. "
            "Command: `python bench/bench_hf.py`.",
            "",
            "| run | seconds (median) | peak RSS (MiB) |",
            "|---|---|---|",
        ]
        for r in rows:
            lines.append(f"| {r['name']} | {r['median_s']:.3f} ({r['min_s']:.3f}–{r['max_s']:.3f}) | "
                         f"{r['rss_mib']:.0f} |")
        by = {r["name"]: r for r in rows}
        for size in sizes:
            chk = by[f"{size}: statedict-lint check DIR"]["median_s"]
            fp = by[f"{size}: python: from_pretrained(DIR, output_loading_info=True)"]["median_s"]
            lines.append("")
            lines.append(f"{size}: from_pretrained / `check DIR`: **{fp / chk:.1f}× time** (target ≥3× on the tiny "
                         f"folder); cold `keys DIR` {by[f'{size}: statedict-lint keys DIR --no-cache (cold)']['median_s']:.2f} s "
                         f"(target ≤1.5 s), warm {by[f'{size}: statedict-lint keys DIR (warm prediction cache)']['median_s']:.2f} s "
                         f"(target ≤0.3 s).")
        text = "\n".join(lines) + "\n"
        print(text)
        if not args.no_write and sizes == list(SIZES):
            write_block("hf", text)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
