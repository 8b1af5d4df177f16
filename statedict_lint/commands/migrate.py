"""`statedict-lint migrate CHECKPOINT --map MAP.json -o OUT [--force] [--check FILE.py:Class --set ...]`.

Renames state_dict keys in a safetensors or torch zip checkpoint without touching tensor data. The input
is never modified; the output is written atomically and an existing one is replaced only with --force.
With --check the renamed key set (and every shape the checkpoint records) is compared with the predicted
state_dict of the new class before the output is moved into place: on a mismatch nothing is written and
the exit code is 1.
"""

from __future__ import annotations

import json
import sys
from typing import TYPE_CHECKING, Any, Dict, List, Optional

from statedict_lint.predict import bindings
from statedict_lint.errors import UserError

if TYPE_CHECKING:  # (the predictor is imported only when --check asks for it)
    from statedict_lint.predict.template import Prediction


def add_parser(sub: Any) -> None:
    p = sub.add_parser("migrate", help="rename state_dict keys in a checkpoint (safetensors / torch zip)",
                       description="Rewrite the keys of CHECKPOINT with a rename map (from `diff --map-out`) "
                                   "without touching tensor data.")
    p.add_argument("checkpoint", metavar="CHECKPOINT")
    p.add_argument("--map", dest="map", required=True, metavar="MAP.json",
                   help='JSON object {"old.key": "new.key", "old.prefix.": "new.prefix."}; '
                        "{i}-style placeholders match one numeric path segment")
    p.add_argument("-o", "--output", required=True, metavar="OUT")
    p.add_argument("--force", action="store_true", help="replace OUT when it exists")
    p.add_argument("--check", metavar="FILE.py:CLASS",
                   help="verify the migrated keys against the predicted state_dict of CLASS before writing")
    bindings.add_arguments(p)
    p.add_argument("--format", choices=["text", "json"], default="text")
    p.set_defaults(run=run)


def run(args: Any) -> int:
    from statedict_lint.report.escape import text
    from statedict_lint.checkpoint.rewrite import KeyMap, RewriteResult, rewrite

    kmap = KeyMap.load(args.map)
    pred: Optional[Prediction] = None
    if args.check:
        from statedict_lint.predict.api import predict
        from statedict_lint.check.migration import suggest_prefix, verify_against

        path, cls = bindings.split_target(args.check)
        pred = predict(path, cls, bindings.collect(args.sets, args.configs))
    elif args.sets or args.configs:
        raise UserError("--set/--config only make sense with --check FILE.py:CLASS")

    problems: List[str] = []
    notes: List[str] = []
    suggestion: Dict[str, str] = {}
    wrapper: List[str] = []

    class _Mismatch(Exception):
        pass

    def verify(result: RewriteResult) -> None:
        if pred is None:
            return
        found, why = verify_against(pred, result.tensors, result.format, result.metadata)
        notes.extend(why)
        if not found:
            return
        wrapped = suggest_prefix(pred, result.tensors)
        if wrapped is not None:
            prefix, infixes = wrapped
            wrapper.extend([prefix] + infixes)
            if prefix and not infixes:
                # the map's entries name keys without the wrapper: the same entries under the prefix, and the
                # prefix itself dropped from every other key (a longer entry wins, so the two compose)
                suggestion[prefix] = ""
                for old, new in kmap.mapping.items():
                    suggestion[old if old.startswith(prefix) else prefix + old] = new
                trial = KeyMap(suggestion)
                inverse = {new: old for old, new in result.renamed}
                retry, _ = verify_against(pred, {trial.apply(inverse.get(k, k)): v for k, v in result.tensors.items()},
                                          result.format, result.metadata)
                what = f"the keys carry the prefix `{prefix}` ({_ORIGIN.get(prefix, 'a wrapper')})"
                if not retry:  # the prefix explains every problem: say that once, not once per key
                    found = [f"{what}: with this map every key matches: {json.dumps(suggestion)}"]
                else:
                    found = [f"{what}: with this map {len(retry)} problem(s) remain: {json.dumps(suggestion)}"] + retry
        problems.extend(found)
        raise _Mismatch()

    try:
        result: Optional[RewriteResult] = rewrite(args.checkpoint, args.output, kmap, force=args.force,
                                                  verify=verify)
    except _Mismatch:
        result = None
    except OSError as exc:
        raise UserError(f"cannot write {args.output}: {exc.strerror or exc}") from None
    if args.format == "json":
        out: Dict[str, Any] = {"input": args.checkpoint, "output": args.output if result else None,
                               "renamed": dict(result.renamed) if result else {},
                               "keys": len(result.tensors) if result else None,
                               "state_dict": result.where if result else None,
                               "also_renamed": dict(result.also) if result else {},
                               "checked": args.check, "problems": problems, "notes": notes}
        if suggestion:
            out["suggested_map"] = suggestion
        sys.stdout.write(json.dumps(out, indent=2) + "\n")
    else:
        lines: List[str] = []
        if result is None:
            lines.append(f"{args.checkpoint}: migrated keys do not match {args.check}; nothing written")
            lines.extend(f"  {p}" for p in problems[:50])
            if len(problems) > 50:
                lines.append(f"  ... and {len(problems) - 50} more")
        else:
            where = f" of [{result.where!r}]" if result.where else ""
            lines.append(f"{args.checkpoint} -> {args.output}: renamed {len(result.renamed)} of "
                         f"{len(result.tensors)} keys{where} ({result.format})")
            lines.extend(f"  {old} -> {new}" for old, new in result.renamed[:50])
            if len(result.renamed) > 50:
                lines.append(f"  ... and {len(result.renamed) - 50} more")
            for other, n in result.also:
                lines.append(f"also renamed {n} key(s) of the state_dict-like [{other!r}] the same way")
            if args.check:
                lines.append(f"checked against {args.check}: every key matches")
        lines.extend(f"note: {n}" for n in notes)
        sys.stdout.write("".join(text(line) + "\n" for line in lines))
    if result is not None and not result.renamed:
        sys.stderr.write("statedict-lint: warning: the map renamed no key\n")
    return 0 if result is not None else 1


_ORIGIN = {"_orig_mod.": "saved through torch.compile", "module.": "saved through nn.DataParallel / DDP",
           "model.": "saved through a wrapper holding the model as self.model",
           "_forward_module.": "saved through Lightning Fabric", "_fsdp_wrapped_module.": "saved through FSDP"}
