"""`statedict-lint check FILE.py:Class CKPT [--set ...] [--config ...] [--key K] [--format text|json|markdown]`.

Exit 0 when ``load_state_dict(strict=True)`` would succeed, 1 when it would fail or cannot be confirmed
(the prediction is incomplete), 2 on usage or input errors.
"""

from __future__ import annotations

import json
import sys
from typing import Any, List

from statedict_lint import bindings


def add_parser(sub: Any) -> None:
    p = sub.add_parser("check", help="will this checkpoint load into this class with strict=True? if not, why",
                       description="Compare the state_dict predicted from CLASS's source with a checkpoint's "
                                   "header (no torch, no pickled code): missing / unexpected keys and size "
                                   "mismatches exactly as torch's strict load reports them, with the source line, "
                                   "wrapper prefixes, renames and values inferred from the shapes.")
    p.add_argument("target", metavar="FILE.py:CLASS")
    p.add_argument("checkpoint", metavar="CKPT")
    bindings.add_arguments(p)
    p.add_argument("--key", default=None, help="dotted path of the state_dict inside the checkpoint")
    p.add_argument("--format", choices=["text", "json", "markdown"], default="text")
    p.set_defaults(run=run)


def run(args: Any) -> int:
    from statedict_lint.checkpoint.container import find_state_dict
    from statedict_lint.checkpoint.readers import read
    from statedict_lint.solve import check_with_inference

    path, cls = bindings.split_target(args.target)
    b = bindings.collect(args.sets, args.configs)
    ck = read(args.checkpoint)  # read the file first: cheap, and a bad file should fail before parsing
    found = find_state_dict(ck, args.key)
    pred, res, _assumed = check_with_inference(path, cls, b, ck, found)
    if args.format == "json":
        sys.stdout.write(json.dumps(res.to_json(), indent=2) + "\n")
    elif args.format == "markdown":
        sys.stdout.write(format_markdown(res, found))
    else:
        sys.stdout.write(format_text(res, found))
    return 1 if res.verdict != "loads" else 0


def _headline(res: Any, found: Any) -> str:
    where = f"[{found.dotted!r}]" if found.path else "the file"
    built = ""
    if res.assumed:
        built = (" built with " + ", ".join(f"{k}={v!r}" for k, v in sorted(res.assumed.items()))
                 + " (values read off the checkpoint; pin them with --set)")
    if res.verdict == "loads":
        return f"OK: {where} of {res.checkpoint} loads into {res.target}{built} with strict=True"
    if res.verdict == "unsure":
        return f"UNSURE: no certain failure, but the prediction cannot confirm that {where} of {res.checkpoint} " \
               f"loads into {res.target}"
    return (f"FAIL: load_state_dict(strict=True) of {where} of {res.checkpoint} into {res.target} fails: "
            f"{len(res.missing)} missing, {len(res.unexpected)} unexpected, {len(res.mismatched)} size mismatch"
            f"{'es' if len(res.mismatched) != 1 else ''}" + (f"; shown for {res.target}{built}, but it fails for "
                                                             "every value of the unbound switches" if built else ""))


def format_text(res: Any, found: Any) -> str:
    lines: List[str] = [_headline(res, found)]
    if found.kind == "lightning":
        lines.append("(a Lightning checkpoint: the state_dict is its ['state_dict'] entry)")
    for f in res.findings:
        loc = f"{f.path}:{f.line}: " if f.line else ""
        lines.append(f"{loc}{f.severity}: {f.code} {f.message}")
    if res.maybe_unexpected:
        lines.append(f"maybe unexpected ({len(res.maybe_unexpected)}): " + ", ".join(res.maybe_unexpected[:10])
                     + (" ..." if len(res.maybe_unexpected) > 10 else ""))
    for u in res.unsure:
        lines.append(f"unsure: {u}")
    return "\n".join(lines) + "\n"


def format_markdown(res: Any, found: Any) -> str:
    from statedict_lint.report.markdown_report import render

    out = [f"### {_headline(res, found)}", ""]
    out.append(render(res.findings, tool_name="statedict-lint check"))
    if res.unsure:
        out.append("")
        out.append("**Unsure**")
        out.append("")
        out.extend(f"- {u}" for u in res.unsure)
    return "\n".join(out) + "\n"
