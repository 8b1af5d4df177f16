"""What ``PreTrainedModel.from_pretrained`` does with a checkpoint's keys (transformers 5.23's
``convert_and_load_state_dict_in_model``, ``tie_weights(missing_keys=...)`` and
``_adjust_missing_and_unexpected_keys``), computed from the predicted state_dict and the file's header.

For each checkpoint key: every ``WeightRenaming`` of the model's conversion mapping in turn (the root
class's entry, by class name then ``model_type``; the entries of nested ``PreTrainedModel`` submodels scoped
to their prefix; then the ``legacy`` entry), then the base-model prefix added or stripped when that names a
model key (``bert.x`` into ``BertModel``, ``x`` into ``BertForMaskedLM``). A key that lands on a model key
loads (or is a size mismatch); any other is *unused* (from_pretrained's ``unexpected_keys``). Model keys no
checkpoint key reached are *newly initialized* (``missing_keys``), except a tied weight whose partner was
loaded (ties are symmetric at load time). Finally the class's ``_keys_to_ignore_on_load_missing`` /
``_keys_to_ignore_on_load_unexpected`` regexes (gathered from every ``PreTrainedModel`` submodel, as
``post_init`` does), ``position_ids`` and ``rotary_emb.inv_freq`` (when the model has such buffers) drop keys
from the report.

A ``WeightConverter`` (tensors split, merged or concatenated while loading) is not modelled: a checkpoint key
it would take makes the verdict unsure, never a guess.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Dict, Iterable, List, Optional, Set, Tuple

from statedict_lint.hf.conversion import Mapping, Transform, _Unknown


@dataclass
class SubModel:
    """A ``PreTrainedModel`` in the module tree (the root has path "")."""

    path: str
    class_name: str
    model_type: Optional[str]
    base_model_prefix: str = ""
    ignore_missing: List[str] = field(default_factory=list)
    ignore_unexpected: List[str] = field(default_factory=list)


@dataclass
class LoadFacts:
    root: SubModel
    submodels: List[SubModel]  # nested PreTrainedModels, in module order (root excluded)
    unknown: List[str] = field(default_factory=list)  # facts that could not be read (reason each)


@dataclass
class LoadReport:
    missing: List[str] = field(default_factory=list)  # newly initialized
    unexpected: List[str] = field(default_factory=list)  # in the file, not used
    mismatched: List[Tuple[str, tuple, tuple]] = field(default_factory=list)  # model key, file shape, model shape
    renamed: List[Tuple[str, str]] = field(default_factory=list)  # file key -> model key (conversion mapping)
    prefix_added: List[Tuple[str, str]] = field(default_factory=list)
    prefix_stripped: List[Tuple[str, str]] = field(default_factory=list)
    tied_filled: List[Tuple[str, str]] = field(default_factory=list)  # model key absent from the file, tied to
    ignored_missing: List[str] = field(default_factory=list)
    ignored_unexpected: List[str] = field(default_factory=list)
    unsure: List[str] = field(default_factory=list)
    # the sets above may be inexact (a WeightConverter took keys, the prediction is incomplete): no verdict
    undecided: bool = False

    @property
    def loads(self) -> bool:
        return not (self.missing or self.unexpected or self.mismatched)

    @property
    def verdict(self) -> str:
        if self.undecided:
            return "unsure"
        if not self.loads:
            return "fails"
        return "unsure" if self.unsure else "loads"

    def to_json(self) -> Dict[str, Any]:
        return {
            "verdict": self.verdict,
            "newly_initialized": self.missing, "unused": self.unexpected,
            "mismatched": [{"key": k, "checkpoint": list(a), "model": list(b)} for k, a, b in self.mismatched],
            "renamed": [{"from": a, "to": b} for a, b in self.renamed],
            "prefix_added": [{"from": a, "to": b} for a, b in self.prefix_added],
            "prefix_stripped": [{"from": a, "to": b} for a, b in self.prefix_stripped],
            "tied_not_in_file": [{"key": a, "tied_to": b} for a, b in self.tied_filled],
            "ignored_missing": self.ignored_missing, "ignored_unexpected": self.ignored_unexpected,
            "unsure": self.unsure,
        }


def _dot_natural_key(s: str) -> List[Tuple[int, Any]]:
    return [(0, int(p)) if p.isdigit() else (1, p) for p in s.split(".")]


def conversions(facts: LoadFacts, mapping: Mapping) -> Tuple[List[Transform], List[str]]:
    """get_model_conversion_mapping(model) for the modelled class: (transforms, reasons it is not exact)."""
    out: List[Transform] = []
    unsure: List[str] = []
    seen: Dict[str, List[str]] = {}
    for sm in [facts.root] + facts.submodels:
        if any(s == "" or sm.path.startswith(s + ".") for s in seen.get(sm.class_name, [])):
            continue
        conv = mapping.get(sm.class_name)
        by_class = conv is not None
        if not by_class:
            if sm.model_type and any(s == "" or sm.path.startswith(s + ".") for s in seen.get(sm.model_type, [])):
                continue
            if sm.model_type is not None:
                conv = mapping.get(sm.model_type)
        if isinstance(conv, _Unknown):
            unsure.append(f"the conversion mapping of {sm.class_name} cannot be read: {conv.why}")
            conv = None
        if conv is None:
            continue
        if sm.path != "":
            scope = sm.path[len(facts.root.base_model_prefix):] if sm.path.startswith(facts.root.base_model_prefix) \
                else sm.path
            scope = scope[1:] if scope.startswith(".") else scope
            for t in conv:
                t.scope_prefix = scope
                t.base_model_prefix = facts.root.base_model_prefix
        out.extend(conv)
        seen.setdefault(sm.class_name, []).append(sm.path)
        if not by_class and sm.model_type:
            seen.setdefault(sm.model_type, []).append(sm.path)
    legacy = mapping.get("legacy")
    if isinstance(legacy, _Unknown):
        unsure.append(f"the legacy conversion mapping cannot be read: {legacy.why}")
    elif legacy:
        out.extend(legacy)
    return out, unsure


def _prefixed(key: str, bmp: str, meta: Dict[str, Any]) -> str:
    if bmp:
        stripped = re.sub(f"^{bmp}.", "", key, count=1)
        if key.startswith(bmp) and stripped in meta:
            return stripped
        if f"{bmp}.{key}" in meta:
            return f"{bmp}.{key}"
    return key


def from_pretrained(model: Dict[str, Optional[tuple]], buffers: Iterable[str], ties: Dict[str, str],
                    checkpoint: Dict[str, Optional[tuple]], facts: LoadFacts, mapping: Mapping) -> LoadReport:
    """``model``: state_dict key -> shape (ints; None when unknown), in order; ``buffers``: every buffer name
    (also non-persistent); ``ties``: {key: key it shares its tensor with}; ``checkpoint``: file key -> shape."""
    rep = LoadReport()
    transforms, rep.unsure = conversions(facts, mapping)
    rep.unsure += list(facts.unknown)
    renamings = [t for t in transforms if t.kind == "rename"]
    others = [t for t in transforms if t.kind != "rename"]
    bmp = facts.root.base_model_prefix
    missing: Set[str] = set(model)
    unexpected: Set[str] = set()
    for orig in sorted(checkpoint, key=_dot_natural_key):
        key = orig
        for t in renamings:
            key = t.rename(key)
        hit = next((t for t in others if t.match(key) is not None), None)
        if hit is not None:
            rep.unsure.append(f"`{orig}` is converted by a {hit.kind} ({', '.join(hit.sources)} -> "
                              f"{', '.join(hit.targets)}), which is not modelled: the sets below are not exact")
            rep.undecided = True
            continue
        renamed = key
        new = _prefixed(renamed, bmp, model)
        if new not in model and orig in model:
            renamed = orig
            new = _prefixed(orig, bmp, model)
        if renamed != orig:
            rep.renamed.append((orig, renamed))
        if new != renamed:
            (rep.prefix_stripped if len(new) < len(renamed) else rep.prefix_added).append((renamed, new))
        if new not in model:
            unexpected.add(new)
            continue
        missing.discard(new)
        want, got = model[new], checkpoint[orig]
        if want is None or got is None or any(d is None for d in want):
            rep.unsure.append(f"the shape of `{new}` is not known: a size mismatch cannot be ruled out")
        elif tuple(want) != tuple(got):
            rep.mismatched.append((new, tuple(got), tuple(want)))
    # tie_weights(missing_keys=...): a tie is symmetric at load time
    for target, source in ties.items():
        if target in missing and source not in missing:
            missing.discard(target)
            rep.tied_filled.append((target, source))
        elif source in missing and target not in missing:
            missing.discard(source)
            rep.tied_filled.append((source, target))
    # _adjust_missing_and_unexpected_keys
    ign_missing = set(facts.root.ignore_missing)
    ign_unexpected = set(facts.root.ignore_unexpected)
    for sm in facts.submodels:
        ign_missing |= set(sm.ignore_missing)
        ign_unexpected |= set(sm.ignore_unexpected)
    bufs = list(buffers)
    if any(b.endswith("rotary_emb.inv_freq") for b in bufs):
        ign_unexpected.add(r"rotary_emb\.inv_freq")
    if any(b.endswith("position_ids") for b in bufs):
        ign_unexpected.add(r"(^|\.)position_ids$")
    rx_m = _regex(ign_missing, rep)
    rx_u = _regex(ign_unexpected, rep)
    order = {k: i for i, k in enumerate(model)}
    for k in sorted(missing, key=lambda k: order.get(k, 0)):
        (rep.ignored_missing if rx_m is not None and rx_m.search(k) else rep.missing).append(k)
    for k in sorted(unexpected, key=_dot_natural_key):
        (rep.ignored_unexpected if rx_u is not None and rx_u.search(k) else rep.unexpected).append(k)
    return rep


def _regex(patterns: Set[str], rep: LoadReport) -> Optional["re.Pattern[str]"]:
    if not patterns:
        return None
    try:
        return re.compile("|".join(rf"({p})" for p in sorted(patterns)))
    except re.error as exc:
        rep.unsure.append(f"an ignore pattern of the class is not a valid regex: {exc}")
        return None
