"""Compare a predicted state_dict with a checkpoint's: what ``load_state_dict(strict=True)`` would say, and why.

``compare(pred, ck, found)`` returns a ``Comparison``:

* ``missing`` / ``unexpected`` / ``mismatched``: exactly the sets torch's strict load reports for the dict
  as found in the file (torch's per-module rules: a key under a parameter name is ignored, ``_extra_state``
  keys are never unexpected, BatchNorm fills ``num_batches_tracked`` when the dict's ``_metadata`` says
  version < 2 or has none, a 1-element 1-D tensor loads into a 0-D parameter);
* ``findings``: the explanations (wrapper prefix with its fix, renames, non-persistent buffers,
  num_batches_tracked, tied aliases, dtype casts, inferred bindings, contradictions) with source lines;
* ``unsure``: conclusions the prediction cannot support (unresolved code, unknown shapes, conditional keys).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Container, Dict, Iterable, List, Optional, Protocol, Set, Tuple

from statedict_lint.checkpoint.container import Found
from statedict_lint.checkpoint.records import Checkpoint, TensorRecord
from statedict_lint.codes import check_code
from statedict_lint.findings import Finding
from statedict_lint.predict.symbolic import Sym, render_shape
from statedict_lint.predict.template import PLACEHOLDER, KeySpec, Prediction, key_pattern

WRAPPERS = ["module", "_orig_mod", "model", "_forward_module", "_fsdp_wrapped_module", "_checkpoint_wrapped_module",
            "net", "network"]
INFIX_WRAPPERS = ["_orig_mod", "_fsdp_wrapped_module", "_checkpoint_wrapped_module"]
_NORM_LAYERS = ("BatchNorm", "InstanceNorm", "SyncBatchNorm", "_NormBase", "LazyBatchNorm")
_PH = PLACEHOLDER


@dataclass(frozen=True)
class Unsure:
    """A conclusion the prediction cannot support (reported as SDL312): the source location when there is one."""
    message: str
    path: str = ""
    line: int = 0
    key: str = ""  # the predicted key (pattern) it is about, when it is about one

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: {self.message}" if self.path else self.message


@dataclass
class Row:
    key: str
    shape: Optional[tuple]  # concrete ints, None elements when unknown; None when even the rank is unknown
    dtype: Optional[str]
    spec: KeySpec


@dataclass
class Comparison:
    target: str
    checkpoint: str
    container: str
    missing: List[str] = field(default_factory=list)
    unexpected: List[str] = field(default_factory=list)
    maybe_unexpected: List[str] = field(default_factory=list)  # unexpected unless the unpredicted part has them
    mismatched: List[Tuple[str, tuple, tuple]] = field(default_factory=list)  # key, checkpoint shape, model shape
    not_tensors: List[str] = field(default_factory=list)
    findings: List[Finding] = field(default_factory=list)
    unsure: List[Unsure] = field(default_factory=list)
    inferred: Dict[str, int] = field(default_factory=dict)
    prefix: str = ""  # wrapper prefix detected in the checkpoint keys ("module." / "model._orig_mod.")
    assumed: Dict[str, Any] = field(default_factory=dict)  # values the check adopted from the file (solve.py)
    after_prefix: Optional[int] = None  # differences left once the wrapper prefix is removed
    infixes: List[str] = field(default_factory=list)  # wrapper components inside keys (".{w}.")
    model_keys: List[str] = field(default_factory=list)  # the predicted keys compared (expanded)
    rename_map: Dict[str, str] = field(default_factory=dict)  # the grouped map (prefixes, {i}) of SDL305
    # (missing, unexpected, mismatched keys) once the wrapper prefix is removed: what the findings explain
    effective: Tuple[List[str], List[str], List[str]] = field(default_factory=lambda: ([], [], []))

    def differences(self) -> Set[Tuple[str, str]]:
        """("missing" | "unexpected" | "size", key) of every difference the findings explain."""
        m, u, s = self.effective
        return {("missing", k) for k in m} | {("unexpected", k) for k in u} | {("size", k) for k in s}

    @property
    def fails(self) -> bool:
        return bool(self.missing or self.unexpected or self.mismatched or self.not_tensors)

    @property
    def verdict(self) -> str:
        if self.fails:
            return "fails"
        return "unsure" if self.unsure else "loads"

    def to_json(self) -> Dict[str, Any]:
        return {
            "target": self.target, "checkpoint": self.checkpoint, "container": self.container,
            "verdict": self.verdict, "strict_load_succeeds": None if self.verdict == "unsure" else not self.fails,
            "missing_keys": self.missing, "unexpected_keys": self.unexpected,
            "maybe_unexpected_keys": self.maybe_unexpected,
            "size_mismatches": [{"key": k, "checkpoint": list(c), "model": list(m)} for k, c, m in self.mismatched],
            "not_tensors": self.not_tensors,
            "wrapper_prefix": self.prefix or None,
            "inferred": self.inferred,
            "assumed": self.assumed,
            "unsure": [str(u) for u in self.unsure],
            "findings": [{"code": f.code, "name": f.name, "severity": f.severity, "message": f.message,
                          "path": f.path, "line": f.line, **({"extra": f.extra} if f.extra else {})}
                         for f in self.findings],
        }


def _finding(kind: str, message: str, spec: Optional[KeySpec] = None, severity: str = "",
             **extra: Any) -> Finding:
    c = check_code(kind)
    code, name, severity = c.code, c.name, severity or c.severity
    path, line = "", 0
    if spec is not None:
        path, line = spec.origin_path or spec.path, spec.origin_line or spec.line
    return Finding(code=code, message=message, path=path, line=line, severity=severity, name=name, extra=extra)


# -- patterns ------------------------------------------------------------------------------------------
class _Matcher:
    def __init__(self, pred: Prediction) -> None:
        self.exact: Set[str] = set()
        self.patterns: List["re.Pattern[str]"] = []
        for k in list(pred.keys) + list(pred.non_persistent):
            if _PH.search(k.key):
                self.patterns.append(key_pattern(k.key))
            else:
                self.exact.add(k.key)

    def matches(self, key: str) -> bool:
        return key in self.exact or any(p.match(key) for p in self.patterns)

    def count(self, keys: List[str]) -> int:
        return sum(1 for k in keys if self.matches(k))


class KeyCounter(Protocol):
    """What ``strip_prefix`` asks of the predicted keys: how many of ``keys`` they match."""

    def count(self, keys: List[str]) -> int: ...


def strip_prefix(keys: List[str], matcher: KeyCounter) -> Tuple[str, List[str], Dict[str, str]]:
    """Detect wrapper prefixes (leading, nested) and infix wrapper components; -> (prefix, infixes, new->old)."""
    best = matcher.count(keys)
    mapping = {k: k for k in keys}
    prefix = ""
    candidates: Set[str] = set()
    for k in keys:
        parts = k.split(".")
        p = ""
        for part in parts[:-1]:
            if part not in WRAPPERS:
                break
            p += part + "."
            candidates.add(p)
    for p in sorted(candidates, key=lambda c: (c.count("."), c)):
        trial = {(k[len(p):] if k.startswith(p) else k): k for k in keys}
        if len(trial) != len(keys):
            continue
        score = matcher.count(list(trial))
        if score > best:
            best, mapping, prefix = score, trial, p
    infixes: List[str] = []
    for w in INFIX_WRAPPERS:
        seg = "." + w + "."
        current = list(mapping)
        if not any(seg in "." + k for k in current):
            continue
        trial = {("." + k).replace(seg, ".")[1:]: mapping[k] for k in current}
        score = matcher.count(list(trial))
        if score > best and len(trial) == len(current):
            best, mapping = score, trial
            infixes.append(w)
    return prefix, infixes, mapping


# -- inference -----------------------------------------------------------------------------------------
def infer(pred: Prediction, ck_shapes: Dict[str, Optional[tuple]]) -> Tuple[Dict[str, int], List[Finding], List[str]]:
    """Solve symbolic shapes and repetition counts against the checkpoint: (env, contradictions, notes)."""
    equations: List[Tuple[Any, int, str, KeySpec]] = []
    keys = list(ck_shapes)
    for spec in pred.keys:
        phs = _PH.findall(spec.key)
        if phs:
            pat = key_pattern(spec.key)
            hits = [(k, m) for k, m in ((k, pat.match(k)) for k in keys) if m]
            if not hits:
                continue
            first = phs[0].strip()
            if first in spec.repeat:
                idx = sorted({int(m.group(1)) for _, m in hits})
                if idx == list(range(len(idx))):
                    equations.append((spec.repeat[first], len(idx), f"count of {spec.key}", spec))
            instances = [k for k, _ in hits]
        else:
            if spec.key not in ck_shapes:
                continue
            instances = [spec.key]
        if spec.shape is None:
            continue
        for inst in instances:
            shape = ck_shapes.get(inst)
            if shape is None or len(shape) != len(spec.shape):
                continue
            for i, (d, v) in enumerate(zip(spec.shape, shape)):
                if isinstance(d, Sym) and not any(n.startswith("{") for n in d.variables()):
                    equations.append((d, v, f"{inst} dim {i}", spec))
    env: Dict[str, int] = {}
    contradictions: List[Finding] = []
    where: Dict[str, str] = {}
    progress = True
    while progress:
        progress = False
        for expr, value, what, spec in equations:
            if isinstance(expr, int):
                continue
            if not isinstance(expr, Sym):
                continue
            val = expr.evaluate(env)
            if val is not None:
                continue
            free = [n for n in expr.variables() if n not in env]
            if len(free) != 1:
                continue
            name = free[0]
            lin = expr.substitute(env)
            if isinstance(lin, int):
                continue
            sol = lin.linear_in(name) if isinstance(lin, Sym) else None
            if sol is None:
                continue
            a, rest = sol
            if not isinstance(rest, int) or (value - rest) % a != 0 or (value - rest) // a < 0:
                continue
            env[name] = (value - rest) // a
            where[name] = what
            progress = True
    for expr, value, what, spec in equations:
        got = expr if isinstance(expr, int) else expr.evaluate(env) if isinstance(expr, Sym) else None
        if got is not None and got != value:
            text = expr.render() if isinstance(expr, Sym) else str(expr)
            contradictions.append(_finding(
                "contradiction", f"{what}: the checkpoint has {value}, but {text} = {got} with "
                + ", ".join(f"{n}={env[n]}" for n in sorted(expr.variables() if isinstance(expr, Sym) else ())
                            if n in env) + f" (from {', '.join(where.get(n, '?') for n in sorted(expr.variables()) if n in env)})",
                spec))
    notes = [f"{n}={v} (from {where[n]})" for n, v in env.items()]
    return env, contradictions, notes


# -- torch's strict-load rules -------------------------------------------------------------------------
def _module_of(key: str) -> Tuple[str, str]:
    mod, _, leaf = key.rpartition(".")
    return mod, leaf


class _Tree:
    def __init__(self, rows: List[Row], non_persistent: List[str]) -> None:
        self.local: Dict[str, Set[str]] = {"": set()}
        self.children: Dict[str, Set[str]] = {"": set()}
        for r in rows:
            self._add(r.key, local=True)
        for k in non_persistent:
            self._add(k, local=False)

    def _add(self, key: str, local: bool) -> None:
        mod, leaf = _module_of(key)
        parts = mod.split(".") if mod else []
        path = ""
        for p in parts:
            self.children.setdefault(path, set()).add(p)
            path = f"{path}.{p}" if path else p
            self.children.setdefault(path, set())
            self.local.setdefault(path, set())
        if local and leaf != "_extra_state":
            self.local.setdefault(mod, set()).add(leaf)

    def unexpected(self, key: str) -> bool:
        """torch's rule, module by module: a dotted rest must name a child, a plain rest a local tensor.

        (An ``_extra_state`` key of a module without ``set_extra_state`` is unexpected too; expected keys,
        including real extra states, never get here.) Stateless modules are invisible to the prediction, but a
        key under one is unexpected either way, so the answer stays exact."""
        mod = ""
        while True:
            prefix = f"{mod}." if mod else ""
            rest = key[len(prefix):]
            first, dot, _ = rest.partition(".")
            if dot:
                if first in self.children.get(mod, ()):
                    mod = prefix + first
                    continue
                return True
            return first not in self.local.get(mod, ())


def strict_sets(rows: List[Row], sd: Dict[str, Any], versions: Optional[Dict[str, Any]],
                non_persistent: List[str]) -> Tuple[List[str], List[str], List[Tuple[str, tuple, tuple]],
                                                    List[str], List[Row]]:
    """(missing, unexpected, mismatched, not_tensors, unknown-shape rows) as torch would report them."""
    missing: List[str] = []
    mismatched: List[Tuple[str, tuple, tuple]] = []
    not_tensors: List[str] = []
    unknown: List[Row] = []
    for r in rows:
        if r.key not in sd:
            mod, leaf = _module_of(r.key)
            if leaf == "num_batches_tracked" and any(n in r.spec.layer for n in _NORM_LAYERS):
                local_meta = versions.get(mod, {}) if isinstance(versions, dict) else {}
                version = local_meta.get("version") if isinstance(local_meta, dict) else None
                if version is None or (isinstance(version, int) and version < 2):
                    continue  # _NormBase fills it in
            missing.append(r.key)
            continue
        if r.spec.kind == "extra_state":
            continue
        v = sd[r.key]
        if not isinstance(v, TensorRecord):
            not_tensors.append(r.key)
            continue
        if r.shape is None or any(d is None for d in r.shape):
            unknown.append(r)
            continue
        model = tuple(r.shape)
        if model == () and len(v.shape) == 1 and v.shape[0] >= 1:
            continue  # torch loads input_param[0] into a 0-d parameter
        if tuple(v.shape) != model:
            mismatched.append((r.key, tuple(v.shape), model))
    tree = _Tree(rows, non_persistent)
    expected = {r.key for r in rows}
    unexpected = [k for k in sd if k not in expected and tree.unexpected(k)]
    return missing, unexpected, mismatched, not_tensors, unknown


# -- the comparison ------------------------------------------------------------------------------------
def _rows(pred: Prediction, env: Dict[str, int]) -> Tuple[Optional[List[Row]], List[Tuple[str, KeySpec]]]:
    """Concrete rows (None when a repetition count stays unknown) and the conditional specs set apart."""
    from statedict_lint.predict.expand import expand

    expanded = expand(pred, env)
    if expanded is None:
        return None, []
    rows: List[Row] = []
    cond: List[Tuple[str, KeySpec]] = []
    for key, shape, dtype, spec in expanded:
        if spec.condition is not None:
            cond.append((key, spec))
            continue
        rows.append(Row(key, shape, dtype, spec))
    return rows, cond


def compare(pred: Prediction, ck: Checkpoint, found: Found) -> Comparison:
    from statedict_lint.check.renames import KeyInfo

    sd = found.state_dict
    res = Comparison(target=pred.target, checkpoint=ck.path, container=found.dotted)
    for u in pred.unresolved:
        res.unsure.append(Unsure(u.message, u.path, u.line) if u.path
                          else Unsure(f"{pred.target}:{u.line}: {u.message}"))
    matcher = _Matcher(pred)
    prefix, infixes, mapping = strip_prefix(list(sd), matcher)
    stripped = {new: sd[old] for new, old in mapping.items()}
    shapes = {k: (v.shape if isinstance(v, TensorRecord) else None) for k, v in stripped.items()}

    env: Dict[str, int] = {}
    if pred.variables() or any(k.repeat for k in pred.keys):
        env, contradictions, notes = infer(pred, shapes)
        res.inferred = dict(env)
        res.findings.extend(contradictions)
        if env:
            res.findings.append(_finding("inferred", "values read off the checkpoint's shapes: " + "; ".join(notes)
                                         + " (pass them with --set to check against the source)", severity="note",
                                         values=dict(env)))
        open_vars = [v for v in pred.variables() if v not in env]
        if open_vars:
            res.unsure.append(Unsure(f"no value for {', '.join(open_vars)}: shapes that depend on them are not "
                                     "checked"))
    rows, cond = _rows(pred, env)
    if rows is None:
        # a repetition count is still unknown: compare only the keys outside loops
        rows = [Row(k.key, k.shape if k.shape_known else (None if k.shape is None else tuple(
            d if isinstance(d, int) else None for d in k.shape)), k.dtype, k) for k in pred.keys
            if not _PH.search(k.key) and k.condition is None]
        looped = sorted({k.key for k in pred.keys if _PH.search(k.key)})
        res.unsure.append(Unsure(f"repetition count unknown for {len(looped)} key pattern(s) such as {looped[0]}: "
                                 "missing/unexpected keys under them cannot be decided"))
        rows_known = False
    else:
        rows_known = True
    np_keys = [k.key for k in pred.non_persistent if not _PH.search(k.key)]
    versions = found.versions
    # 1. what torch reports for the dict exactly as it is in the file
    missing, unexpected, mismatched, not_tensors, unknown = strict_sets(rows, sd, versions, np_keys)
    # conditional keys: present in the file -> fine (unsure), absent -> unsure missing
    seen_cond: Dict[str, List[bool]] = {}
    for key, spec in cond:
        seen_cond.setdefault(spec.key, []).append(key in stripped)
    for spec in {s.key: s for _, s in cond}.values():
        hits = seen_cond[spec.key]
        where = ("present in the file" if all(hits) else "absent from the file" if not any(hits)
                 else f"{sum(hits)} of {len(hits)} instances present in the file")
        line = "" if f"(line {spec.line})" in (spec.condition or "") else f" (line {spec.line})"
        res.unsure.append(Unsure(f"{spec.key} exists only if {spec.condition}{line}: {where}", key=spec.key))
    cond_keys = {key for key, _ in cond}
    inverse = {old: new for new, old in mapping.items()}
    unexpected = [k for k in unexpected if inverse.get(k, k) not in cond_keys]
    res_unexpected_sure = True
    if (not rows_known or pred.unresolved) and unexpected:
        why = "the prediction is incomplete" + (f" ({len(pred.unresolved)} unresolved)" if pred.unresolved else "")
        res.unsure.append(Unsure(f"{len(unexpected)} key(s) look unexpected, but {why}: they may belong to the "
                                 "part that could not be predicted"))
        res_unexpected_sure = False
    r: Optional[Row]  # (a row of the model, or None where a key has none)
    for r in unknown:
        res.unsure.append(Unsure(f"{r.key}: shape {render_shape(r.shape, '[?]')} not fully known "
                                 f"(line {r.spec.line}): size not checked", key=r.key))
    res.missing = missing  # every predicted key is a claim the predictor is sure of
    if res_unexpected_sure:
        res.unexpected = unexpected
    else:
        res.maybe_unexpected = unexpected
    res.mismatched = mismatched
    res.not_tensors = not_tensors
    res.model_keys = [r.key for r in rows]
    by_key = {r.key: r for r in rows}

    # 2. explanations on the dict with its wrapper prefix removed
    if prefix or infixes:
        res.prefix = prefix
        res.infixes = list(infixes)
        s_missing, s_unexpected, s_mismatched, _, _ = strict_sets(rows, stripped, None if prefix else versions,
                                                                   np_keys)
        what = " and ".join(([f"prefix `{prefix}`"] if prefix else [])
                            + [f"`.{w}.` inside keys" for w in infixes])
        if prefix and not infixes:
            fix = (f"sd = {{k.removeprefix({prefix!r}): v for k, v in sd.items()}}  "
                   f"(or torch.nn.modules.utils.consume_prefix_in_state_dict_if_present(sd, {prefix!r}))")
        else:
            fix = "sd = {" + _infix_expr(prefix, infixes) + ": v for k, v in sd.items()}"
        origin = {"module.": "nn.DataParallel / DistributedDataParallel", "_orig_mod.": "torch.compile",
                  "model.": "a wrapper holding the model as self.model (e.g. a LightningModule)",
                  "_forward_module.": "Lightning Fabric", "_fsdp_wrapped_module.": "FSDP"}.get(prefix, "a wrapper")
        rest = "" if not (s_missing or s_unexpected or s_mismatched) else \
            f"; after that {len(s_missing)} missing, {len(s_unexpected)} unexpected, {len(s_mismatched)} size mismatches remain"
        res.findings.append(_finding("prefix", f"checkpoint keys carry {what} (saved through {origin}): {fix}{rest}",
                                     severity="error", fix=fix, prefix=prefix, infixes=infixes))
        e_missing, e_unexpected, e_mismatched = s_missing, s_unexpected, s_mismatched
        res.after_prefix = len(s_missing) + len(s_unexpected) + len(s_mismatched)
        lookup = stripped
    else:
        e_missing, e_unexpected, e_mismatched = missing, unexpected, mismatched
        lookup = sd
    res.effective = (list(e_missing), list(e_unexpected) if res_unexpected_sure else [],
                     [k for k, _, _ in e_mismatched])

    np_set = {k.key: k for k in pred.non_persistent}
    meta_alias = dict(ck.metadata or {}) if ck.format.endswith("safetensors") else {}
    explained: Set[str] = set()
    for k in e_unexpected:
        if k in np_set:
            res.findings.append(_finding("nonpersistent", f"{k} is in the file but registered persistent=False "
                                         f"(line {np_set[k].line}): strict load fails; drop it: sd.pop({k!r})",
                                         np_set[k]))
            explained.add(k)
    tied_back: Dict[str, List[str]] = {}
    for r in rows:
        if r.spec.tied_to:
            tied_back.setdefault(r.spec.tied_to, []).append(r.key)
    for k in e_missing:
        r = by_key.get(k)
        if k.endswith("num_batches_tracked") and r is not None and any(n in r.spec.layer for n in _NORM_LAYERS):
            res.findings.append(_finding("nbt", f"{k} is missing (a checkpoint from before BatchNorm counted "
                                         f"batches, or filtered): safe to add sd[{k!r}] = torch.tensor(0)", r.spec,
                                         key=k))
            explained.add(k)
            continue
        alias = meta_alias.get(k)
        # partners sharing k's tensor, either way round (tied_to names the first key of the group only)
        partners = ([r.spec.tied_to] if r is not None and r.spec.tied_to else []) + tied_back.get(k, [])
        tied = next((t for t in partners if t in lookup), None)
        if (alias and alias in lookup) or tied:
            src = alias if alias and alias in lookup else tied
            how = ("which safetensors stores once; load with safetensors.torch.load_model(model, path) or tie the "
                   "weights after load_state_dict(sd, strict=False)") if ck.format.endswith("safetensors") and \
                alias else (f"which the file holds once (tied weights saved without the alias): "
                            f"sd[{k!r}] = sd[{src!r}], or tie the weights after load_state_dict(sd, strict=False)")
            res.findings.append(_finding("tied", f"{k} is not in the file: it shares its tensor with {src}, {how}",
                                         r.spec if r else None, source=src))
            explained.add(k)
    for k, c, m in e_mismatched:
        r = by_key[k]
        origin = f" — decided by `{r.spec.origin}`" if r.spec.origin else ""
        # (the finding's own location is the layer's line: no need to repeat it in the message)
        res.findings.append(_finding("size", f"size mismatch for {k}: checkpoint {render_shape(c, '[?]')}, "
                                     f"model {render_shape(m, '[?]')}{origin}", r.spec, checkpoint=list(c),
                                     model=list(m), key=k))
        explained.add(k)
    # renames among what is left
    old = [KeyInfo(k, shapes.get(k), lookup[k].dtype if isinstance(lookup[k], TensorRecord) else None)
           for k in e_unexpected if k not in explained]
    new = [KeyInfo(k, by_key[k].shape, by_key[k].dtype) for k in e_missing if k not in explained and k in by_key]
    if any(o.key.endswith(".num_batches_tracked") for o in old):
        # BatchNorm counters torch fills in are absent without being missing; a renamed submodule still moves
        # them (layers.0.bn.num_batches_tracked -> blocks.0.bn.num_batches_tracked): pair them too
        e_missing_set = set(e_missing)
        new += [KeyInfo(r.key, r.shape, r.dtype) for r in rows if r.key not in lookup and r.key not in e_missing_set
                and r.key.endswith(".num_batches_tracked") and any(n in r.spec.layer for n in _NORM_LAYERS)]
    if old and new:
        for f, olds, news in _rename_findings(old, new, lookup, shapes, rows, by_key):
            res.findings.append(f)
            explained |= olds | news
            res.rename_map.update(f.extra["map"])
    for k in e_missing:
        if k not in explained:
            r = by_key.get(k)
            res.findings.append(_finding("missing", f"missing key {k}: the model has {k} "
                                         f"{render_shape(r.shape, '[?]') if r else ''} but the checkpoint does not",
                                         r.spec if r else None, key=k))
    for k in e_unexpected:
        if k not in explained and res_unexpected_sure:
            v = lookup[k]
            shape = render_shape(v.shape, '[?]') if isinstance(v, TensorRecord) else type(v).__name__
            res.findings.append(_finding("unexpected", f"unexpected key {k} {shape}: in the checkpoint, not in "
                                         "the model", key=k))
    for k in not_tensors:
        res.findings.append(_finding("notensor", f"{k}: the checkpoint holds a {type(sd[k]).__name__}, not a tensor",
                                     by_key[k].spec if k in by_key else None))
    # dtype casts: notes only
    casts: Dict[Tuple[str, str], List[str]] = {}
    for k, v in lookup.items():
        r = by_key.get(k)
        if r is None or not isinstance(v, TensorRecord) or not r.dtype or r.dtype == v.dtype:
            continue
        casts.setdefault((v.dtype, r.dtype), []).append(k)
    for (have, want), ks in casts.items():
        res.findings.append(_finding("dtype", f"{len(ks)} tensor(s) are {have} in the file and {want} in the model "
                                     f"(e.g. {ks[0]}): load_state_dict casts them silently", by_key[ks[0]].spec,
                                     severity="note", count=len(ks)))
    return res


def _rename_findings(old: List[Any], new: List[Any], lookup: Dict[str, Any], shapes: Dict[str, Optional[tuple]],
                     rows: List[Row], by_key: Dict[str, Row]) -> List[Tuple[Finding, Set[str], Set[str]]]:
    """SDL305 findings from the grouped renames ``diff`` finds (``renames.grouped_renames``): one per prefix,
    with ``{i}`` where the same rename happens in every block, and the fix that applies it."""
    from statedict_lint.check.renames import KeyInfo, grouped_renames
    from statedict_lint.checkpoint.keymap import regex_entries

    def rec(key: str, shape: Optional[tuple]) -> KeyInfo:
        # (no dtype: load_state_dict casts, a rename does not change it; no kind: the file does not say)
        return KeyInfo(key, None if shape is None else list(shape), None)

    o = {k: rec(k, shapes.get(k)) for k in lookup}
    n = {r.key: rec(r.key, r.shape) for r in rows}
    n.update({k.key: rec(k.key, k.shape) for k in new})
    split, _, _ = grouped_renames([o[k.key] for k in old], [n[k.key] for k in new], o, n)
    out = []
    for (po, pn), g in sorted(split.items(), key=lambda kv: kv[1]["pairs"][0]):
        pairs = sorted(g["pairs"])
        first = by_key.get(pairs[0][1])
        spec = first.spec if first else None
        conf = g["conf"]
        olds, news = {a for a, _ in pairs}, {b for _, b in pairs}
        if not po.endswith("."):
            f = _finding("rename", f"probable rename {po} -> {pn} (confidence {conf:.2f}: {g['reason']})", spec,
                         severity="warning", old=po, new=pn, confidence=conf, pairs=[list(p) for p in pairs])
        else:
            if PLACEHOLDER.search(po):
                (pattern, repl), = regex_entries({po: pn})
                fix = f"sd = {{re.sub({pattern!r}, {repl!r}, k, count=1): v for k, v in sd.items()}}"
            else:
                fix = f"sd = {{({pn!r} + k[{len(po)}:] if k.startswith({po!r}) else k): v for k, v in sd.items()}}"
            f = _finding("rename", f"probable rename {po} -> {pn} ({len(pairs)} keys, confidence {conf:.2f}: "
                         f"{g['reason']}): {fix}", spec, severity="warning", old_prefix=po, new_prefix=pn,
                         confidence=conf, count=len(pairs), fix=fix, pairs=[list(p) for p in pairs])
        f.extra["map"] = {po: pn}
        out.append((f, olds, news))
    return out


def _infix_expr(prefix: str, infixes: List[str]) -> str:
    expr = f"k.removeprefix({prefix!r})" if prefix else "k"
    for w in infixes:
        expr = f"{expr}.replace('.{w}.', '.')"
    return expr


def tied_source(key: str, specs: Iterable[KeySpec], present: Container[str],
                aliases: Optional[Dict[str, str]] = None) -> Optional[str]:
    """SDL308's reading, for other commands (migrate --check): the key in ``present`` that holds ``key``'s
    tensor -- the safetensors ``__metadata__`` alias (``save_model`` stores a tied weight once and records
    removed -> kept there) or a predicted tie in either direction (``tied_to`` names the group's first key)
    -- or None."""
    alias = (aliases or {}).get(key)
    if alias and alias in present:
        return alias
    for s in specs:
        if s.key == key and s.tied_to and s.tied_to in present:
            return s.tied_to
        if s.tied_to == key and s.key in present:
            return s.key
    return None
