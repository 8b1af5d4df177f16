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
from typing import Any, Dict, List, Optional

from statedict_lint import bindings
from statedict_lint.errors import UserError


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


def verify_against(pred: Any, tensors: Dict[str, Any]) -> List[str]:
    """Problems that would make ``load_state_dict(strict=True)`` of ``tensors`` into the class fail.

    Symbolic keys (``h.{i}.w``) match any index; shapes are compared where both sides are concrete."""
    problems: List[str] = []
    specs = list(pred.keys)
    exact = {k.key: k for k in specs if "{" not in k.key}
    from statedict_lint.predict.template import key_pattern

    patterned = [(key_pattern(k.key), k) for k in specs if "{" in k.key]
    matched: set = set()
    for key, stub in tensors.items():
        spec = exact.get(key)
        if spec is None:
            spec = next((k for rx, k in patterned if rx.match(key)), None)
        if spec is None:
            problems.append(f"unexpected key `{key}` (not in the predicted state_dict)")
            continue
        matched.add(spec.key)
        shape = getattr(stub, "shape", None)
        if spec.kind != "extra_state" and shape is not None and spec.shape is not None and \
                all(isinstance(d, int) for d in spec.shape) and tuple(shape) != tuple(spec.shape):
            problems.append(f"`{key}`: checkpoint shape {list(shape)} != predicted {list(spec.shape)}")
    for k in specs:
        if "{" in k.key or k.condition is not None or k.key in matched:
            continue
        problems.append(f"missing key `{k.key}` (predicted at line {k.line})")
    return problems


def run(args: Any) -> int:
    from statedict_lint.rewrite import KeyMap, RewriteResult, rewrite

    kmap = KeyMap.load(args.map)
    pred = None
    if args.check:
        from statedict_lint.predict.api import predict

        path, cls = bindings.split_target(args.check)
        pred = predict(path, cls, bindings.collect(args.sets, args.configs))
    elif args.sets or args.configs:
        raise UserError("--set/--config only make sense with --check FILE.py:CLASS")

    problems: List[str] = []

    class _Mismatch(Exception):
        pass

    def verify(result: RewriteResult) -> None:
        if pred is None:
            return
        problems.extend(verify_against(pred, result.tensors))
        if problems:
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
                               "checked": args.check, "problems": problems}
        sys.stdout.write(json.dumps(out, indent=2) + "\n")
    else:
        if result is None:
            sys.stdout.write(f"{args.checkpoint}: migrated keys do not match {args.check}; nothing written\n")
            for p in problems:
                sys.stdout.write(f"  {p}\n")
        else:
            sys.stdout.write(f"{args.checkpoint} -> {args.output}: renamed {len(result.renamed)} of "
                             f"{len(result.tensors)} keys ({result.format})\n")
            for old, new in result.renamed[:50]:
                sys.stdout.write(f"  {old} -> {new}\n")
            if len(result.renamed) > 50:
                sys.stdout.write(f"  ... and {len(result.renamed) - 50} more\n")
            if args.check:
                sys.stdout.write(f"checked against {args.check}: every key matches\n")
    if result is not None and not result.renamed:
        sys.stderr.write("statedict-lint: warning: the map renamed no key\n")
    return 0 if result is not None else 1
