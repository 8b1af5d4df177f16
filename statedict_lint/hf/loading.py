"""What ``PreTrainedModel.from_pretrained`` does with a checkpoint's keys (transformers 5.23's
``convert_and_load_state_dict_in_model``, ``tie_weights(missing_keys=...)`` and
``_adjust_missing_and_unexpected_keys``), computed from the predicted state_dict and the file's header.

For each checkpoint key: every ``WeightRenaming`` of the model's conversion mapping in turn (the root
class's entry, by class name then ``model_type``; the entries of nested ``PreTrainedModel`` submodels scoped
to their prefix; then the ``legacy`` entry; none for custom code), then at most one ``WeightConverter``
(renaming the key to its first target), then the base-model prefix added or stripped when that names a
model key (``bert.x`` into ``BertModel``, ``x`` into ``BertForMaskedLM``). A key that lands on a model key
loads (or is a size mismatch); any other is *unused* (from_pretrained's ``unexpected_keys``). Model keys no
checkpoint key reached are *newly initialized* (``missing_keys``), except a tied weight whose partner was
loaded (ties are symmetric at load time). Finally the class's ``_keys_to_ignore_on_load_missing`` /
``_keys_to_ignore_on_load_unexpected`` regexes (gathered from every ``PreTrainedModel`` submodel, as
``post_init`` does), ``position_ids`` and ``rotary_emb.inv_freq`` (when the model has such buffers) drop keys
from the report.

Keys a ``WeightConverter`` takes are collected per first target key, in load order, and its operations run
on their shapes (``hf/operations.py``): e.g. Mixtral's per-expert ``w1``/``w3`` stacked and concatenated into
``experts.gate_up_proj``. The targets are then set like any key (a size mismatch, or newly initialized when
nothing reached them); an operation that would raise is a conversion error (from_pretrained raises). An
operation that is not modelled, or a renaming subclass that is not (``PrefixChange``, ...), makes the verdict
unsure, naming it -- never a guess. When two file keys land on one model key, the first (in from_pretrained's
natural key order) fills it and the other is not used, silently (``shadowed``), as in transformers.
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
    # custom code (not a module of the transformers package): from_pretrained applies no conversion mapping to
    # it (PreTrainedModel.is_custom_code)
    custom: bool = False


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
    # WeightConverters that ran: (file keys, {model key: shape}, the converter)
    converted: List[Tuple[List[str], Dict[str, tuple], str]] = field(default_factory=list)
    conversion_errors: List[Tuple[str, str]] = field(default_factory=list)  # first target key, why it raises
    shadowed: List[Tuple[str, str]] = field(default_factory=list)  # file key not used: an earlier one fills it
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
        return not (self.missing or self.unexpected or self.mismatched or self.conversion_errors)

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
            "converted": [{"from": a, "to": {k: list(v) for k, v in b.items()}, "by": c} for a, b, c in self.converted],
            "conversion_errors": [{"key": k, "error": e} for k, e in self.conversion_errors],
            "shadowed": [{"key": a, "model_key": b} for a, b in self.shadowed],
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
        if sm.custom:
            continue
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


class _Group:
    """One converter instance of convert_and_load_state_dict_in_model: the first target key it was collected
    under and the shapes it collected, per source pattern, in load order."""

    def __init__(self, conv: Transform, layer: str) -> None:
        self.conv = conv
        self.layer = layer
        self.collected: Dict[str, List[Optional[tuple]]] = {}
        self.keys: List[str] = []

    def describe(self) -> str:
        ops = ", ".join(str(o) for o in self.conv.ops) if self.conv.ops is not None else "operations not readable"
        return (f"WeightConverter({', '.join(self.conv.sources)} -> {', '.join(self.conv.targets)}; {ops})")


def _set(rep: "LoadReport", key: str, got: Optional[tuple], model: Dict[str, Optional[tuple]]) -> None:
    """set_param_for_module: a shape that differs from the model's is a mismatch."""
    want = model[key]
    if want is None or got is None or any(d is None for d in want):
        rep.unsure.append(f"the shape of `{key}` is not known: a size mismatch cannot be ruled out")
    elif tuple(want) != tuple(got):
        rep.mismatched.append((key, tuple(got), tuple(want)))


def _convert(rep: "LoadReport", g: _Group, model: Dict[str, Optional[tuple]], parameters: Set[str],
             missing: Set[str]) -> None:
    from statedict_lint.hf.operations import ConversionError, NotModelled, convert, full_names

    conv = g.conv
    try:
        if conv.ops is None:
            raise NotModelled("its operations cannot be read")
        result = convert(conv.ops, g.collected, conv.source_patterns, conv.target_patterns, g.layer, model,
                         parameters)
        named = full_names(g.layer, result)
        if named is None:
            raise NotModelled(f"none of its results ({', '.join(result)}) is part of `{g.layer}`")
        outside = [k for k in named if k not in model]
        if outside:
            raise NotModelled(f"it would set {', '.join(outside)}, which the predicted state_dict does not hold")
    except NotModelled as exc:
        rep.unsure.append(f"{len(g.keys)} key(s) of the file ({_short(g.keys)}) are converted into `{g.layer}` by "
                          f"{g.describe()}: {exc}; the sets below are not exact")
        rep.undecided = True
        return
    except ConversionError as exc:
        rep.conversion_errors.append((g.layer, f"{g.describe()}: {exc}"))
        return
    rep.converted.append((list(g.keys), dict(named), g.describe()))
    for key, shape in named.items():
        missing.discard(key)
        _set(rep, key, shape, model)


def _short(keys: List[str], n: int = 2) -> str:
    return ", ".join(keys[:n]) + (f" ... (+{len(keys) - n})" if len(keys) > n else "")


def from_pretrained(model: Dict[str, Optional[tuple]], buffers: Iterable[str], ties: Dict[str, str],
                    checkpoint: Dict[str, Optional[tuple]], facts: LoadFacts, mapping: Mapping) -> LoadReport:
    """``model``: state_dict key -> shape (ints; None when unknown), in order; ``buffers``: every buffer name
    (also non-persistent); ``ties``: {key: key it shares its tensor with}; ``checkpoint``: file key -> shape."""
    rep = LoadReport()
    transforms, rep.unsure = conversions(facts, mapping)
    rep.unsure += list(facts.unknown)
    # WeightRenaming and its subclasses, in order (only plain ones are modelled); then the WeightConverters
    renamings = [t for t in transforms if t.kind != "convert"]
    converters = [t for t in transforms if t.kind == "convert"]
    pattern_to_converter = {p: c for c in converters for p in c.source_patterns}
    bmp = facts.root.base_model_prefix
    buffers = list(buffers)
    parameters = set(model) - set(buffers)
    missing: Set[str] = set(model)
    unexpected: Set[str] = set()
    loaded: Dict[str, Any] = {}  # model key -> what fills it: a file key, or a _Group of a converter
    for orig in sorted(checkpoint, key=_dot_natural_key):
        key = orig
        blocked = None
        for t in renamings:
            if t.kind == "rename":
                key = t.rename(key)
            elif t.match(key) is not None:
                blocked = t
                break
        if blocked is not None:
            rep.unsure.append(f"`{orig}` is renamed by a {blocked.kind} ({', '.join(blocked.sources)} -> "
                              f"{', '.join(blocked.targets)}), which is not modelled: the sets below are not exact")
            rep.undecided = True
            continue
        conv: Optional[Transform] = None
        pattern: Optional[str] = None
        for c in converters:  # at most one converter (apply_converters)
            new_key, pattern = c.rename_source(key)
            if pattern is not None:
                key, conv = new_key, c
                break
        renamed = key
        new = _prefixed(renamed, bmp, model)
        if new not in model and orig in model:
            renamed, conv, pattern = orig, None, None
            new = _prefixed(orig, bmp, model)
        if conv is None:
            if renamed != orig:
                rep.renamed.append((orig, renamed))
            if new != renamed:
                (rep.prefix_stripped if len(new) < len(renamed) else rep.prefix_added).append((renamed, new))
        if new not in model:
            if conv is not None and pattern is not None:  # every target of the converter is unused
                tgts = pattern_to_converter[pattern].target_patterns
                unexpected.update(new.replace(tgts[0], k) for k in tgts)
            else:
                unexpected.add(new)
            continue
        first = loaded.get(new)
        if conv is not None and pattern is not None:
            if first is None:
                first = loaded[new] = _Group(pattern_to_converter[pattern], new)
            if not isinstance(first, _Group):
                rep.unsure.append(f"`{orig}` is converted into `{new}`, which `{first}` already fills: not modelled")
                rep.undecided = True
                continue
            first.collected.setdefault(pattern, []).append(checkpoint[orig])
            first.keys.append(orig)
            continue
        if isinstance(first, _Group):
            rep.unsure.append(f"`{orig}` loads into `{new}`, which a {first.describe()} already fills: not modelled")
            rep.undecided = True
            continue
        if first is not None:  # WeightRenaming(first, new) collected it too: only its first tensor is used
            rep.shadowed.append((orig, new))
            continue
        loaded[new] = orig
        missing.discard(new)
        _set(rep, new, checkpoint[orig], model)
    for target, g in loaded.items():
        if isinstance(g, _Group):
            _convert(rep, g, model, parameters, missing)
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
