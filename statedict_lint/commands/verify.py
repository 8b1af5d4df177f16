"""`statedict-lint verify FILE.py:Class [--set ...] [--config ...] [--format text|json]`.

Confirms the static prediction on the user's own model: imports the file with torch (``statedict_lint.verify.runtime``),
builds the class on the meta device under the same bindings as ``keys`` (CPU fallback), and lists every
difference between the prediction and the real state_dict. Each difference is judged:

* ``wrong``: the prediction made a concrete claim that torch contradicts (a key it said exists for sure, a
  concrete dimension, a dtype, parameter vs buffer, the order of keys it was sure of, or a key torch has
  although the prediction said it was complete) — a predictor bug worth reporting;
* ``unsettled``: the prediction had said it could not know (a conditional key, an unknown or symbolic
  dimension, keys missing behind an unresolved line).

``--set config.x=v`` builds the config object for torch from its class with its own defaults for the rest;
those other attribute values are handed to the prediction too (and printed), so both sides see the same
config.

Exit 0 when prediction and torch agree exactly (the prediction is complete and identical), 1 when they
differ in any way, 2 on usage errors, when torch is not installed, or when the code cannot be built.
"""

from __future__ import annotations

import json
import os
import sys
from typing import TYPE_CHECKING, Any, List

from statedict_lint.errors import UserError
from statedict_lint.predict import bindings
from statedict_lint.verify.oracle import Difference, compare, config_defaults

if TYPE_CHECKING:  # (the predictor and torch are imported when verify runs)
    from statedict_lint.predict.template import Prediction
    from statedict_lint.verify.runtime import TorchTable


def add_parser(sub: Any) -> None:
    p = sub.add_parser("verify", help="build the class with torch (meta device) and compare with the static prediction",
                       description="Import FILE.py with torch, build CLASS on the meta device under the same "
                                   "bindings as `keys`, and report every difference from the static prediction. "
                                   "Needs torch (pip install 'statedict-lint[torch]'). Exit 0 when they agree, "
                                   "1 when they differ, 2 on errors.")
    p.add_argument("target", metavar="FILE.py:CLASS")
    bindings.add_arguments(p)
    p.add_argument("--format", choices=["text", "json"], default="text")
    p.set_defaults(run=run)


def run(args: Any) -> int:
    path, cls = bindings.split_target(args.target)
    b = bindings.collect(args.sets, args.configs)
    if not os.path.isfile(path):
        raise UserError(f"no such file: {path}")
    from statedict_lint.verify import runtime

    runtime.import_torch()  # one line and exit 2 when torch is missing, before any other work
    from statedict_lint.predict.api import predict

    filled = config_defaults(path, cls, b)
    pred = predict(path, cls, {**filled, **b})
    try:
        table = runtime.build(path, cls, b)
    except UserError:
        raise
    except Exception as exc:  # noqa: BLE001 - reading an odd module's state_dict: one line, never a traceback
        raise UserError(f"reading the state_dict torch built for {cls} fails: {type(exc).__name__}: "
                        f"{' '.join(str(exc).split())[:200]}") from None
    diffs = compare(pred, table)
    agree = not diffs and pred.complete
    if args.format == "json":
        data = {"target": args.target, "agree": agree, "complete": pred.complete, "device": table.device,
                "meta_error": table.meta_error, "keys": {"predicted": len(pred.keys), "torch": len(table.entries)},
                "filled": {k: repr(v) for k, v in filled.items()},
                "wrong": sum(d.verdict == "wrong" for d in diffs),
                "unsettled": sum(d.verdict == "unsettled" for d in diffs),
                "differences": [d.to_json() for d in diffs],
                "unresolved": [u.to_json() for u in pred.unresolved]}
        sys.stdout.write(json.dumps(data, indent=2) + "\n")
    else:
        if filled:
            sys.stdout.write("the rest of the config object as torch builds it: "
                             + ", ".join(f"{k}={v!r}" for k, v in filled.items()) + "\n")
        sys.stdout.write(format_text(args.target, pred, table, diffs, agree))
    return 0 if agree else 1


def format_text(target: str, pred: Prediction, table: TorchTable, diffs: List[Difference], agree: bool) -> str:
    where = "meta device" if table.device == "meta" else f"CPU (meta failed: {table.meta_error})"
    if agree:
        return (f"{target}: prediction and torch agree: {len(table.entries)} keys, shapes, dtypes and order "
                f"identical (torch built on the {where})\n")
    wrong = [d for d in diffs if d.verdict == "wrong"]
    unsettled = [d for d in diffs if d.verdict == "unsettled"]
    status = "complete" if pred.complete else "INCOMPLETE"
    out = [f"{target}: prediction ({status}, {len(pred.keys)} keys) and torch ({len(table.entries)} keys, built on "
           f"the {where}) differ: {len(wrong)} wrong, {len(unsettled)} unsettled"]
    if not diffs and not pred.complete:
        out.append("  every key, shape and dtype matches, but the prediction is marked incomplete:")
    for title, group in (("wrong (the prediction claimed otherwise; please report):", wrong),
                         ("unsettled (the prediction said it could not know):", unsettled)):
        if not group:
            continue
        out.append(title)
        for d in group:
            loc = f" (line {d.line})" if d.line else ""
            note = f" — {d.note}" if d.note else ""
            if d.what == "missing":
                body = f"torch {d.torch}"
            elif d.what == "extra" and d.torch is None:
                body = f"predicted {d.predicted}"
            else:
                body = f"predicted {d.predicted}, torch {d.torch}"
            out.append(f"  {d.what:<8} {d.key}  {body}{loc}{note}")
    if pred.unresolved:
        out.append("unresolved in the prediction:")
        for u in pred.unresolved:
            out.append(f"  line {u.line}: {u.message}")
    return "\n".join(out) + "\n"
