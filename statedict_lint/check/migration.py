"""Moving a checkpoint to a class: the rename map ``check --map-out`` writes for ``migrate``, and whether renamed
tensors would load into the predicted class (``migrate --check``), without torch."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Dict, List, Optional, Tuple

from statedict_lint.check.compare import strip_prefix, tied_source
from statedict_lint.errors import UserError
from statedict_lint.predict.template import KeySpec, Prediction, key_pattern

if TYPE_CHECKING:
    from statedict_lint.check.compare import Comparison
    from statedict_lint.checkpoint.container import Found


def migration_map(res: Comparison, found: Found) -> Dict[str, str]:
    """The rename map for ``migrate`` (keys as stored in the file): the wrapper prefix removed and the renames
    ``check`` found (SDL305), with ``{i}`` where every block moved alike. Empty when there is nothing to map."""
    if res.infixes:
        raise UserError(f"--map-out: keys carry {', '.join('.' + w + '.' for w in res.infixes)} inside them, "
                        "which a rename map cannot express; strip it as the SDL304 finding shows")
    out: Dict[str, str] = {res.prefix + old: new for old, new in res.rename_map.items()}
    if res.prefix:
        out[res.prefix] = ""  # every other key: the wrapper prefix dropped (the longer entries win)
    return dict(sorted(out.items()))


class KeyMatcher:
    """The predicted keys as a matcher: exact keys and ``{i}`` patterns."""

    def __init__(self, pred: Prediction) -> None:
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
    problems: List[str] = []
    notes: List[str] = []
    spec_of = KeyMatcher(pred)
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
    prefix, infixes, _mapping = strip_prefix(list(tensors), KeyMatcher(pred))
    return (prefix, infixes) if prefix or infixes else None
