"""`statedict-lint check FILE.py:Class CKPT [--set ...] [--config ...] [--key K] [--format text|json|markdown]`
and `statedict-lint check DIR` (a Hugging Face folder; see hf/check.py).

Exit 0 when the deciding loader would load everything -- ``load_state_dict(strict=True)``, or for a
transformers class ``from_pretrained`` with nothing newly initialized, unused or mismatched
(``--semantics`` chooses) --, 1 when it would not or cannot be confirmed, 2 on usage or input errors.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import sys
from typing import TYPE_CHECKING, Any, Dict, List

from statedict_lint.predict import bindings
from statedict_lint.codes import CHECK, check_code, descriptors
from statedict_lint.errors import UserError
from statedict_lint.findings import Finding, display_path

if TYPE_CHECKING:  # (check imports the comparison and the readers when it runs)
    from statedict_lint.checkpoint.container import Found
    from statedict_lint.check.compare import Comparison

FORMATS = ["text", "json", "markdown", "sarif", "github"]


def add_parser(sub: Any) -> None:
    p = sub.add_parser("check", help="will this checkpoint load into this class with strict=True? if not, why",
                       description="Compare the state_dict predicted from CLASS's source with a checkpoint's "
                                   "header (no torch, no pickled code): missing / unexpected keys and size "
                                   "mismatches exactly as torch's strict load reports them, with the source line, "
                                   "wrapper prefixes, renames and values inferred from the shapes.")
    p.add_argument("target", metavar="FILE.py:CLASS|DIR",
                   help="the class, or a Hugging Face folder whose config.json names it (then CKPT defaults to DIR)")
    p.add_argument("checkpoint", metavar="CKPT", nargs="?", default=None)
    bindings.add_arguments(p)
    p.add_argument("--semantics", choices=["strict", "from_pretrained"], default=None,
                   help="which loader decides the exit status: torch's load_state_dict(strict=True), or "
                        "transformers' from_pretrained (the default for transformers classes)")
    p.add_argument("-v", "--verbose", action="store_true",
                   help="list every key of a grouped finding (text; JSON and SARIF always list them)")
    p.add_argument("--map-out", metavar="MAP.json",
                   help="write the rename map (wrapper prefix and renames found) that `statedict-lint migrate "
                        "CKPT --map MAP.json -o NEW` applies to the checkpoint")
    p.add_argument("--key", default=None, help="dotted path of the state_dict inside the checkpoint")
    p.add_argument("--format", choices=FORMATS, default="text",
                   help="text (default), json, markdown (a PR comment), sarif (SARIF 2.1.0) or github (workflow "
                        "annotations)")
    p.set_defaults(run=run)


def run(args: Any) -> int:
    from statedict_lint.checkpoint.container import find_state_dict
    from statedict_lint.checkpoint.readers import read
    from statedict_lint.check.solve import check_with_inference

    from statedict_lint.term import Progress

    from statedict_lint.hf import check as hf

    checkpoint = args.checkpoint if args.checkpoint is not None else args.target
    if args.checkpoint is None and not os.path.isdir(args.target):
        raise UserError("check needs FILE.py:CLASS CKPT, or a Hugging Face folder (config.json beside the weights)")
    with Progress("statedict-lint check") as progress, contextlib.ExitStack() as stack:  # (progress: long checks)
        progress.update(f"reading {display_path(checkpoint)}")
        ck = read(checkpoint)  # read the file first: cheap, and a bad file should fail before parsing
        found = find_state_dict(ck, args.key)
        # a Hugging Face folder or class: the class config.json names, config.json bound as from_pretrained does
        t = hf.resolve(args.target, args.sets, args.configs, checkpoint if os.path.isdir(checkpoint) else None)
        path, cls, b = t.path, t.cls, t.bindings
        stack.enter_context(t.confinement())  # a folder's own code: imports stay inside the folder
        progress.update(f"predicting {cls} and comparing")
        pred, res, assumed = check_with_inference(path, cls, b, ck, found)
        progress.update("explaining the differences")
        # (also those left once a wrapper prefix is removed)
        if any(f.code == check_code("size").code for f in res.findings):
            from statedict_lint.check.explain import explain_sizes

            explain_sizes(path, cls, b, assumed, res, found.state_dict)  # the value behind each size mismatch
        from statedict_lint.check.causes import group_causes

        group_causes(path, cls, b, assumed, res, ck, found)  # one finding per cause, not one per key
        semantics = args.semantics or ("from_pretrained" if t.hf else "strict")
        fp = hf.from_pretrained_report(t, pred, ck, found) if t.hf else None
    bindings.warn_unread(pred)  # (after the progress line is erased)
    if semantics == "from_pretrained" and fp is None:
        raise UserError(f"--semantics from_pretrained: {cls} is not a transformers PreTrainedModel")
    if args.map_out:
        write_map(res, found, args.map_out)
    decides = fp if semantics == "from_pretrained" else None  # from_pretrained's report, when it decides
    if args.format == "json":
        doc = res.to_json()
        if fp is not None:
            doc["from_pretrained"] = fp.to_json()
            doc["from_pretrained"]["findings"] = [_finding_json(f) for f in hf.verdict_findings(fp, pred)]
        doc["semantics"] = semantics
        doc["deciding_verdict"] = (decides or res).verdict
        sys.stdout.write(json.dumps(doc, indent=2) + "\n")
    elif args.format == "markdown":
        sys.stdout.write(format_markdown(res, found))
        if fp is not None:
            sys.stdout.write("\n```\n" + hf.format_text(fp, semantics == "from_pretrained", res.target,
                                                          res.checkpoint) + "```\n")
    elif args.format in ("sarif", "github"):
        sys.stdout.write(format_report(res, found, args.format, fp, pred, decides is not None))
    else:
        hf.print_notes(t, sys.stdout)
        if fp is not None and semantics == "from_pretrained":  # the deciding verdict first
            sys.stdout.write(hf.format_text(fp, True, res.target, res.checkpoint))
            sys.stdout.write("torch's load_state_dict(strict=True), for information (--semantics strict decides by it):\n")
        sys.stdout.write(format_text(res, found, verbose=args.verbose))
        if fp is not None and semantics != "from_pretrained":
            sys.stdout.write(hf.format_text(fp, False, res.target, res.checkpoint))
    decided_by = fp if semantics == "from_pretrained" and fp is not None else res  # (no fp: raised above)
    return 1 if decided_by.verdict != "loads" else 0


def write_map(res: Comparison, found: Found, path: str) -> None:
    from statedict_lint.check.migration import migration_map
    from statedict_lint.review.hooks import map_json
    from statedict_lint.safeio import atomic_write_text

    mapping = migration_map(res, found)
    if not mapping:
        sys.stderr.write("statedict-lint: no renames or wrapper prefix found; no map written\n")
        return
    try:
        atomic_write_text(path, map_json(mapping))  # no write through a link a repository planted (safeio)
    except OSError as exc:
        raise UserError(f"cannot write {path}: {exc.strerror or exc}") from None
    sys.stderr.write(f"statedict-lint: wrote {len(mapping)} rename(s) to {display_path(path)}; apply them with "
                     f"`statedict-lint migrate {display_path(res.checkpoint)} --map {display_path(path)} -o NEW`\n")


def _shown(res: Comparison) -> Comparison:
    """``res`` with its target and checkpoint paths relative to the working directory (for text)."""
    path, sep, cls = res.target.rpartition(":")
    return dataclasses.replace(res, target=f"{display_path(path)}{sep}{cls}" if sep else res.target,
                               checkpoint=display_path(res.checkpoint))


def _headline(res: Comparison, found: Found) -> str:
    res = _shown(res)
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
            f"{'es' if len(res.mismatched) != 1 else ''}"
            + (f", {len(res.not_tensors)} not a tensor" if res.not_tensors else "") + _shown_for(res, built))


def _shown_for(res: Comparison, built: str) -> str:
    if not built:
        return ""
    flags = sorted(k for k, v in res.assumed.items() if isinstance(v, bool))
    if flags:
        return f"; shown for {res.target}{built}; it fails for every value of {', '.join(flags)}"
    return f"; shown for {res.target}{built}"


def format_text(res: Comparison, found: Found, verbose: bool = False) -> str:
    from statedict_lint import term
    from statedict_lint.check.causes import example_lines

    from statedict_lint.report.escape import text  # keys come from the file: escaped before any colour is added

    lines: List[str] = [term.headline(text(_headline(res, found)))]
    if found.kind == "lightning":
        lines.append("(a Lightning checkpoint: the state_dict is its ['state_dict'] entry)")
    for f in res.findings:
        loc = f"{text(display_path(f.path))}:{f.line}: " if f.line else ""
        lines.append(f"{loc}{term.severity(f.severity)}: {f.code} {text(f.message)}")
        lines.extend(text(line) for line in example_lines(f, verbose))
    if res.maybe_unexpected:
        lines.append(text(f"maybe unexpected ({len(res.maybe_unexpected)}): " + ", ".join(res.maybe_unexpected[:10])
                          + (" ..." if len(res.maybe_unexpected) > 10 else "")))
    for u in res.unsure:
        lines.append(text(f"unsure: {_relative_loc(u)}"))
    return "\n".join(lines) + "\n"


def _relative_loc(u: Any) -> str:
    """An unsure item (``compare.Unsure``) as shown: its location relative to the working directory."""
    return f"{display_path(u.path)}:{u.line}: {u.message}" if u.path else u.message


def format_markdown(res: Comparison, found: Found) -> str:
    from statedict_lint.report.escape import markdown
    from statedict_lint.report.markdown_report import render

    out = [f"### {markdown(_headline(res, found))}", ""]
    out.append(render([f for f in report_findings(res) if f.code != check_code("unsure").code],
                      tool_name="statedict-lint check"))
    if res.unsure:
        out.append("")
        out.append("**Unsure**")
        out.append("")
        out.extend(f"- {markdown(_relative_loc(u))}" for u in res.unsure)
    return "\n".join(out) + "\n"


# -- sarif / github: the findings through the shared report module -----------------------------------------
def report_findings(res: Comparison) -> List[Finding]:
    """The findings with paths relative to the working directory, plus one SDL312 note per unsure line."""
    from statedict_lint.check.causes import example_lines

    out = []
    for f in res.findings:
        ex = example_lines(f, verbose=False, indent="")
        out.append(dataclasses.replace(f, path=display_path(f.path),
                                       message=f.message + (f" — {ex[0]}" if ex else "")))
    unsure = check_code("unsure")
    for u in res.unsure:
        out.append(Finding(unsure.code, u.message, path=display_path(u.path), line=u.line if u.path else 0,
                           severity=unsure.severity, name=unsure.name, extra={"key": u.key} if u.key else {}))
    if res.maybe_unexpected:
        out.append(Finding(unsure.code, f"maybe unexpected ({len(res.maybe_unexpected)}): "
                           + ", ".join(res.maybe_unexpected[:10]) + (" ..." if len(res.maybe_unexpected) > 10 else ""),
                           severity=unsure.severity, name=unsure.name))
    return out


def _finding_json(f: Any) -> Dict[str, Any]:
    return {"code": f.code, "name": f.name, "severity": f.severity, "message": f.message, "path": f.path,
            "line": f.line, **({"extra": f.extra} if f.extra else {})}


def format_report(res: Comparison, found: Found, fmt: str, fp: Any = None, pred: Any = None,
                  fp_decides: bool = False) -> str:
    """SARIF or GitHub annotations of the deciding verdict: torch's strict load, or for a transformers class
    from_pretrained's (``fp``; then its findings are the results and the strict verdict a run property)."""
    from statedict_lint import report
    from statedict_lint.hf import check as hf

    if fp_decides:
        fs = hf.verdict_findings(fp, pred)
        head = hf.verdict_headline(fp, res.target, res.checkpoint)
        verdict = fp.verdict
    else:
        fs = report_findings(res)
        head = _headline(res, found)
        verdict = res.verdict
    rules = descriptors(CHECK.values())
    text = report.render(fs, fmt, tool_name="statedict-lint check", rules=rules, root=os.getcwd())
    if fmt == "github":
        level = {"loads": "notice", "unsure": "warning"}.get(verdict, "error")
        from statedict_lint.report.github_report import _esc_data

        data = _esc_data(head)
        return f"::{level} title=statedict-lint check::{data}\n" + text
    log = json.loads(text)
    keys = {f.message: f.extra["keys"] for f in fs if f.extra.get("keys")}
    for r in log["runs"][0]["results"]:  # a grouped finding lists every key (the message shows a few)
        if r["message"]["text"] in keys:
            r["properties"] = {"keys": keys[r["message"]["text"]]}
    log["runs"][0]["properties"] = {"verdict": verdict, "summary": head,
                                    "semantics": "from_pretrained" if fp_decides else "strict",
                                    "strictLoadSucceeds": None if res.verdict == "unsure" else not res.fails}
    if fp is not None:
        log["runs"][0]["properties"]["fromPretrainedVerdict"] = fp.verdict
    return json.dumps(log, indent=2) + "\n"
