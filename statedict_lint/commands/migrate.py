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
from typing import TYPE_CHECKING, Any, Dict, List, Optional, Tuple

from statedict_lint.predict import bindings
from statedict_lint.errors import UserError

if TYPE_CHECKING:  # (the predictor is imported only when --check asks for it)
    from statedict_lint.predict.template import KeySpec, Prediction


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


class _Spec:
    """The predicted keys as a matcher: exact keys and ``{i}`` patterns."""

    def __init__(self, pred: Prediction) -> None:
        from statedict_lint.predict.template import key_pattern

        self.specs = list(pred.keys)
        self.exact = {k.key: k for k in self.specs if "{" not in k.key}
        self.patterned = [(key_pattern(k.key), k) for k in self.specs if "{" in k.key]

    def find(self, key: str) -> Optional[KeySpec]:
        spec = self.exact.get(key)
        if spec is None:
            spec = next((k for rx, k in self.patterned if rx.match(key)), None)
        return spec

    def count(self, keys: List[str]) -> int:  # compare.strip_prefix's matcher interface
        return sum(1 for k in keys if self.find(k) is not None)


def verify_against(pred: Prediction, tensors: Dict[str, Any], fmt: str = "",
                   metadata: Optional[Dict[str, str]] = None) -> Tuple[List[str], List[str]]:
    """(problems, notes): problems would make loading ``tensors`` into the class fail -- the
    ``load_state_dict(strict=True)`` sets, or for safetensors ``safetensors.torch.load_model`` (which accepts a
    tied weight stored once: SDL308's reading, ``compare.tied_source``); notes say why a missing key is fine.

    Symbolic keys (``h.{i}.w``) match any index; shapes are compared where both sides are concrete."""
    from statedict_lint.check.compare import tied_source

    problems: List[str] = []
    notes: List[str] = []
    spec_of = _Spec(pred)
    matched: set = set()
    for key, stub in tensors.items():
        spec = spec_of.find(key)
        if spec is None:
            problems.append(f"unexpected key `{key}` (not in the predicted state_dict)")
            continue
        matched.add(spec.key)
        shape = getattr(stub, "shape", None)
        if spec.kind != "extra_state" and shape is not None and spec.shape is not None and \
                all(isinstance(d, int) for d in spec.shape) and tuple(shape) != tuple(spec.shape):
            problems.append(f"`{key}`: checkpoint shape {list(shape)} != predicted {list(spec.shape)}")
    for k in spec_of.specs:
        if "{" in k.key or k.condition is not None or k.key in matched:
            continue
        src = tied_source(k.key, spec_of.specs, tensors, metadata if fmt == "safetensors" else None)
        if src is not None and fmt == "safetensors":
            notes.append(f"`{k.key}` is not in the file: it shares its tensor with `{src}`, which safetensors stores "
                         "once; load with safetensors.torch.load_model(model, path)")
            continue
        tie = f"; it shares its tensor with `{src}`: sd[{k.key!r}] = sd[{src!r}] before loading" if src else ""
        problems.append(f"missing key `{k.key}` (predicted at line {k.line}){tie}")
    return problems, notes


def suggest_prefix(pred: Prediction, tensors: Dict[str, Any]) -> Optional[Tuple[str, List[str]]]:
    """(prefix, infixes) when the keys carry a wrapper (``_orig_mod.`` of torch.compile, ``module.`` of
    DataParallel, ...) whose removal makes more keys match the class (compare.strip_prefix's detection)."""
    from statedict_lint.check.compare import strip_prefix

    prefix, infixes, _mapping = strip_prefix(list(tensors), _Spec(pred))
    return (prefix, infixes) if prefix or infixes else None


def run(args: Any) -> int:
    from statedict_lint.report.escape import text
    from statedict_lint.checkpoint.rewrite import KeyMap, RewriteResult, rewrite

    kmap = KeyMap.load(args.map)
    pred: Optional[Prediction] = None
    if args.check:
        from statedict_lint.predict.api import predict

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
