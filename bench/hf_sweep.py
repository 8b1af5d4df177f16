"""Sweep every base model class transformers maps a model_type to (AutoModel), at its default config with the
layer counts cut to 2, against transformers itself on the meta device. Not run by bench/run.py (10-20 minutes).

Usage: python bench/hf_sweep.py [--types bert,gpt2,...] [--no-write]

For each model type: the config is written with ``save_pretrained`` and the class built by transformers on the
meta device (types whose default config or class cannot be built here -- a missing optional library, an
inconsistent default -- are counted as *not buildable*); then statedict-lint predicts the class from source
with that config.json bound as from_pretrained binds it, and the two state_dicts are compared:

* exact and complete: same keys, order, shapes, dtypes and ties, and the prediction says complete;
* exact but not complete: every key right, the prediction still lists something it could not settle;
* honest partial: incomplete, and every key it claims unconditionally exists with a compatible shape/dtype;
* **false claim**: a key claimed without a condition that does not exist, a wrong shape/dtype/tie, or a
  complete prediction that differs -- the number that must be 0;
* error: statedict-lint stops with an error (a construction failure it found, or bad input).

Results replace the ``bench:hf-sweep`` block of docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import inspect
import json
import os
import signal
import sys
import tempfile
import time
import warnings
from collections import Counter
from typing import Any, Dict, List

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))

from docblock import machine, write_block  # noqa: E402

SHRINK = dict(num_hidden_layers=2, n_layer=2, num_layers=2, encoder_layers=2, decoder_layers=2)


class _Timeout(Exception):
    pass


def _alarm(*_a: Any) -> None:
    raise _Timeout()


def truth(cls: Any, cfg: Any) -> Any:
    import torch

    with torch.device("meta"):
        m = cls(cfg)
    sd = m.state_dict()
    objs = dict(m.named_parameters(remove_duplicate=False))
    objs.update(dict(m.named_buffers(remove_duplicate=False)))
    first: Dict[int, str] = {}
    ties: Dict[str, str] = {}
    for k in sd:
        i = id(objs.get(k, k))
        if i in first:
            ties[k] = first[i]
        else:
            first[i] = k
    return [(k, list(v.shape), str(v.dtype).replace("torch.", "")) for k, v in sd.items()], ties


def classify(pred: Any, want: List[Any], want_ties: Dict[str, str]) -> str:
    got = [(k.key, list(k.shape) if k.shape is not None else None, k.dtype) for k in pred.keys]
    ties = {k.key: k.tied_to for k in pred.keys if k.tied_to}
    if got == want and ties == want_ties:
        return "exact and complete" if pred.complete else "exact but not complete"
    if pred.complete:
        return "false claim"
    table = {k: (s, d) for k, s, d in want}
    for k in pred.keys:
        if k.condition is not None or "{" in k.key:
            continue
        if k.key not in table:
            return "false claim"
        s, d = table[k.key]
        if k.dtype not in (None, d):
            return "false claim"
        if k.shape is not None and (len(k.shape) != len(s) or any(
                isinstance(a, int) and a != b for a, b in zip(k.shape, s))):
            return "false claim"
        if k.tied_to and want_ties.get(k.key) != k.tied_to:
            return "false claim"
    return "honest partial"


def main(argv: List[str]) -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--types", default="")
    ap.add_argument("--no-write", action="store_true")
    args = ap.parse_args(argv)
    warnings.filterwarnings("ignore")
    import transformers
    from transformers.models.auto.configuration_auto import CONFIG_MAPPING_NAMES
    from transformers.models.auto.modeling_auto import MODEL_MAPPING_NAMES
    from transformers.utils import logging

    from statedict_lint.errors import UserError
    from statedict_lint.hf.bind import config_bindings
    from statedict_lint.predict.api import predict

    logging.set_verbosity_error()
    signal.signal(signal.SIGALRM, _alarm)
    types = [t for t in args.types.split(",") if t] or list(MODEL_MAPPING_NAMES)
    counts: Counter = Counter()
    false_claims: List[str] = []
    t0 = time.time()
    static_secs = 0.0
    for mt in types:
        cname, ccname = MODEL_MAPPING_NAMES.get(mt), CONFIG_MAPPING_NAMES.get(mt)
        if not isinstance(cname, str) or not isinstance(ccname, str):
            continue
        try:
            signal.alarm(90)
            cls, ccls = getattr(transformers, cname), getattr(transformers, ccname)
            cfg = ccls()
            for k, v in SHRINK.items():
                if isinstance(getattr(cfg, k, None), int):
                    try:
                        setattr(cfg, k, v)
                    except Exception:  # noqa: BLE001 - a read-only property: keep the default
                        pass
            folder = tempfile.mkdtemp(prefix="sdl-sweep-")
            cfg.save_pretrained(folder)
            with open(os.path.join(folder, "config.json"), encoding="utf-8") as fh:
                data = json.load(fh)
            ccls(**data)  # a default that does not survive its own config.json is not buildable
            want, want_ties = truth(cls, cfg)
        except BaseException as exc:  # noqa: BLE001 - optional libraries, inconsistent defaults, timeouts
            signal.alarm(0)
            if isinstance(exc, KeyboardInterrupt):
                raise
            counts["not buildable here"] += 1
            continue
        signal.alarm(0)
        t = time.time()
        try:
            signal.alarm(180)
            b, _how = config_bindings(inspect.getsourcefile(cls), cname, data, folder)
            pred = predict(inspect.getsourcefile(cls), cname, b)
            signal.alarm(0)
            kind = classify(pred, want, want_ties)
        except UserError as exc:
            signal.alarm(0)
            kind = "error"
            print(f"{mt}: error: {str(exc)[:200]}", flush=True)
        except _Timeout:
            kind = "error"
            print(f"{mt}: timeout", flush=True)
        static_secs += time.time() - t
        counts[kind] += 1
        if kind == "false claim":
            false_claims.append(f"{mt} ({cname})")
        print(f"{kind:24s} {mt} {cname}", flush=True)
    total = sum(v for k, v in counts.items() if k != "not buildable here")
    order = ["exact and complete", "exact but not complete", "honest partial", "false claim", "error"]
    lines = [
        "## transformers sweep: every AutoModel class at its default config",
        "",
        f"transformers {transformers.__version__}: every model_type AutoModel maps to a class, its default config "
        "with layer counts cut to 2, written by `save_pretrained` and bound from config.json; the prediction "
        "from source compared with the class built by transformers on the meta device (keys, order, shapes, "
        f"dtypes, ties). {machine()}. Command: `python bench/hf_sweep.py` ({time.time() - t0:.0f} s, "
        f"{static_secs:.0f} s of it predicting).",
        "",
        "| outcome | classes |",
        "|---|---|",
    ]
    for k in order:
        lines.append(f"| {k} | {counts.get(k, 0)} ({100 * counts.get(k, 0) / max(total, 1):.0f}%) |")
    lines.append(f"| (not buildable here: optional libraries, defaults that do not survive their own config.json) "
                 f"| {counts.get('not buildable here', 0)} |")
    lines.append("")
    lines.append("False claims: " + (", ".join(false_claims) if false_claims else "none") + ". Honest partial: "
                 "every key claimed without a condition exists with that shape and dtype; the rest is listed as "
                 "unresolved with the line and the reason.")
    text = "\n".join(lines) + "\n"
    print(text)
    if not args.no_write and not args.types:
        write_block("hf-sweep", text)
    return 1 if false_claims else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
