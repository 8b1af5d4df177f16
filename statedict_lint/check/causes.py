"""Group ``check``'s per-key findings by their cause: one finding, one fix, instead of one line per key.

``compare`` explains every difference key by key (13 ``missing key ….bias`` lines for a file saved with
``bias=False``). ``group_causes`` looks for the cause and folds the keys it explains into one finding that
lists every key in ``extra["keys"]`` (text shows the count and a few examples; ``--verbose`` shows all):

* a constructor value (SDL310, the members' keys in ``extra``): every boolean the model was built with
  (``--set``, read off the file, or an ``__init__`` default) flipped, and every integer whose value the file's
  shapes and counts give otherwise (``h.0``..``h.2`` -> ``config.n_layer=3``), each *verified*: the class is
  predicted again with the value and compared with the file; the keys whose differences disappear (and no new
  difference appears) are that value's. "saved with config.bias=False" is said only when the class built with
  it matches those keys. Keys that need several values at once get one finding naming just those values.
* a constructor expression that changed (``explain.explain_sizes`` marks size mismatches where the file is
  consistent with one value and the model's expression gives another size): one finding per expression.
* BatchNorm counters missing from an old file: one finding with one fix for all of them.

Nothing here adds a claim that ``compare`` did not make: findings are only merged, with their messages kept in
``extra["members"]`` (JSON / SARIF).
"""

from __future__ import annotations

import itertools
import re
from typing import TYPE_CHECKING, Any, Dict, List, Mapping, Set, Tuple

from statedict_lint.codes import check_code
from statedict_lint.findings import Finding

if TYPE_CHECKING:
    from statedict_lint.checkpoint.container import Found
    from statedict_lint.checkpoint.records import Checkpoint
    from statedict_lint.check.compare import Comparison

# a constructor value to try: (name, value in the file, value in the model, where the model's value comes
# from, line); the values are what --set, the file or an __init__ default gives (a bool or an int)
Hypothesis = Tuple[str, Any, Any, str, int]

MAX_HYPOTHESES = 8
EXAMPLES = 3
_MISSING, _UNEXPECTED, _SIZE, _INFERRED, _CONTRADICTION, _NBT = (
    check_code(k).code for k in ("missing", "unexpected", "size", "inferred", "contradiction", "nbt"))
_KIND = {_MISSING: "missing", _UNEXPECTED: "unexpected", _SIZE: "size"}
_NOUN = {"missing": ("missing key", "missing keys"), "unexpected": ("unexpected key", "unexpected keys"),
         "size": ("size mismatch", "size mismatches")}


def _count_text(kinds: List[str]) -> str:
    parts = []
    for kind in ("missing", "unexpected", "size"):
        n = kinds.count(kind)
        if n:
            parts.append(f"{n} {_NOUN[kind][0 if n == 1 else 1]}")
    return " and ".join(parts)


def _hypotheses(path: str, cls: str, user: Mapping[str, Any], assumed: Mapping[str, Any], ck: Checkpoint,
                found: Found) -> List[Hypothesis]:
    """(name, value in the file, value in the model, where the model's value comes from, line) to try."""
    from statedict_lint.check.compare import compare
    from statedict_lint.check.explain import literal_params
    from statedict_lint.predict.api import predict
    from statedict_lint.predict.values import Opaque

    try:
        defaults, lines, _init = literal_params(path, cls)
    except Exception:  # an optional explanation: never a crash
        defaults, lines = {}, {}
    values: Dict[str, Any] = {}
    source: Dict[str, str] = {}
    for name, v in defaults.items():
        values[name], source[name] = v, f"the default of __init__, line {lines.get(name, 0)}"
    for name, v in {**assumed, **user}.items():
        values[name] = v
        source[name] = "--set" if name in user else "read off the checkpoint"
    out: List[Hypothesis] = []
    for name, v in values.items():
        if isinstance(v, bool):
            out.append((name, not v, v, source[name], lines.get(name, 0) if name not in user else 0))
    ints = {n: v for n, v in values.items() if isinstance(v, int) and not isinstance(v, bool)}
    if ints:
        sym = {**assumed, **user, **{n: Opaque(n, "int", 0, path) for n in ints}}
        try:
            r = compare(predict(path, cls, sym), ck, found)
            inferred, contradictions = r.inferred, [f.message for f in r.findings if f.code == _CONTRADICTION]
        except Exception:
            inferred, contradictions = {}, []
        for name, v in inferred.items():
            if any(re.search(r"(?<![\w.])" + re.escape(name) + r"(?![\w])", c) for c in contradictions):
                continue  # the file's shapes disagree about this value: it is not "the checkpoint's"
            if name in ints and ints[name] != v:
                out.append((name, v, ints[name], source[name], lines.get(name, 0) if name not in user else 0))
    return out[:MAX_HYPOTHESES]


def _value_causes(path: str, cls: str, user: Mapping[str, Any], assumed: Mapping[str, Any], res: Comparison,
                  ck: Checkpoint, found: Found) -> List[Tuple[List[Hypothesis], Set[Tuple[str, str]]]]:
    """Verified constructor values, each with the differences it explains (disjoint, largest first)."""
    from statedict_lint.check.compare import compare
    from statedict_lint.errors import UserError
    from statedict_lint.predict.api import predict

    base = res.differences()
    if not base:
        return []
    trials: List[Tuple[Hypothesis, Set[Tuple[str, str]]]] = []
    partial: List[Hypothesis] = []
    for hyp in _hypotheses(path, cls, user, assumed, ck, found):
        name, value = hyp[0], hyp[1]
        try:
            pred = predict(path, cls, {**assumed, **user, name: value})
        except (UserError, Exception):  # a value the class rejects explains nothing
            continue
        if not pred.complete:
            continue  # the class built with it is not fully known: no claim
        after = compare(pred, ck, found).differences()
        # no key that was fine goes wrong; a key may change kind (unexpected h.2.fc.weight becomes a size
        # mismatch with n_layer=3: n_layer explains its presence, the size has its own cause)
        if base - after:
            if {k for _, k in after} <= {k for _, k in base}:
                trials.append((hyp, base - after))
            else:
                partial.append(hyp)  # (n_layer=3 alone asks for h.2's biases too: it may need bias=False with it)
    trials.sort(key=lambda t: -len(t[1]))
    taken: Set[Tuple[str, str]] = set()
    out: List[Tuple[List[Hypothesis], Set[Tuple[str, str]]]] = []
    for hyp, explained in trials:
        if explained & taken:
            continue
        taken |= explained
        out.append(([hyp], explained))
    # keys that need several of the values at once (head.weight: [num_classes, embed_dim]): the smallest
    # combinations of the verified values first, a bounded number of them
    remaining = base - taken
    singles = ([hs[0] for hs, _ in out] + partial)[:5]
    tried = 0
    for size in range(2, len(singles) + 1):
        for combo in itertools.combinations(singles, size):
            if not remaining or tried >= MAX_HYPOTHESES:
                return out
            tried += 1
            try:
                pred = predict(path, cls, {**assumed, **user, **{h[0]: h[1] for h in combo}})
                after = compare(pred, ck, found).differences() if pred.complete else base
            except (UserError, Exception):
                continue
            together = (base - after) & remaining
            if together and {k for _, k in after} <= {k for _, k in base}:
                out.append((list(combo), together))
                remaining -= together
    return out


def _members(res: Comparison, explained: Set[Tuple[str, str]]) -> List[Finding]:
    return [f for f in res.findings if f.code in _KIND and (_KIND[f.code], f.extra.get("key")) in explained]


def _group(members: List[Finding], message: str, code: str = "", **extra: Any) -> Finding:
    """One error finding for ``members`` (with their keys and messages); ``code`` defaults to theirs."""
    code, name = (code, check_code("inferred").name) if code else (members[0].code, members[0].name)
    first = members[0]
    return Finding(code=code, message=message, path=first.path, line=first.line, severity="error", name=name,
                   extra={**extra, "count": len(members), "keys": [f.extra.get("key") for f in members],
                          "members": [f.message for f in members]})


def _replace(res: Comparison, members: List[Finding], group: Finding) -> None:
    ids = {id(f) for f in members}
    at = next(i for i, f in enumerate(res.findings) if id(f) in ids)
    res.findings = [f for f in res.findings if id(f) not in ids]
    res.findings.insert(min(at, len(res.findings)), group)


def group_causes(path: str, cls: str, user: Mapping[str, Any], assumed: Mapping[str, Any], res: Comparison,
                 ck: Checkpoint, found: Found) -> None:
    """Rewrite ``res.findings`` in place (see the module docstring)."""
    # 1. constructor values, verified by predicting the class again with them
    for hyps, explained in _value_causes(path, cls, user, assumed, res, ck, found):
        members = _members(res, explained)
        if not members:
            continue
        kinds = [_KIND[f.code] for f in members]
        if len(hyps) == 1:
            (name, value, model, source, line), = hyps
            said = "was saved with" if isinstance(value, bool) else "has"
            msg = (f"{_count_text(kinds)}: the checkpoint {said} {name}={value!r}, the model has {name}={model!r} "
                   f"({source}); build the model with {name}={value!r} (check it: --set {name}={value!r})")
            group = _group(members, msg, code=_INFERRED, name=name, checkpoint=value, model=model,
                           mismatches=kinds.count("size"))
            if line:
                group.path, group.line = _init_path(path, cls), line
        else:
            file_side = " and ".join(f"{h[0]}={h[1]!r}" for h in hyps)
            model_side = " and ".join(f"{h[0]}={h[2]!r}" for h in hyps)
            sets = " ".join(f"--set {h[0]}={h[1]!r}" for h in hyps)
            msg = (f"{_count_text(kinds)} explained by {len(hyps)} values together: the checkpoint has "
                   f"{file_side}, the model {model_side}; with them they load (check it: {sets})")
            group = _group(members, msg, code=_INFERRED, names=[h[0] for h in hyps],
                           checkpoint={h[0]: h[1] for h in hyps}, model={h[0]: h[2] for h in hyps},
                           mismatches=kinds.count("size"))
        # the size note of explain_sizes for the same value says it again
        said_by = {(h[0], h[1]) for h in hyps}
        res.findings = [f for f in res.findings
                        if not (f.code == _INFERRED and "keys" not in f.extra
                                and (f.extra.get("name"), f.extra.get("checkpoint")) in said_by)]
        _replace(res, members, group)
    # 2. constructor expressions that changed since the file was saved (explain.explain_sizes)
    by_expr: Dict[Tuple[Any, ...], List[Finding]] = {}
    for f in res.findings:
        b = f.extra.get("blame") if f.code == _SIZE else None
        if b:
            by_expr.setdefault((b["expression"], b["model"], b["checkpoint"], b["name"], b["value"]), []).append(f)
    for (expr, model, ckv, name, value), members in by_expr.items():
        lines = sorted({f.line for f in members if f.line})
        where = f" (line{'s' if len(lines) > 1 else ''} {', '.join(map(str, lines))})" if lines else ""
        ratio = f" = {ckv // value}*{name}" if value > 0 and ckv % value == 0 else ""
        vouch = max(f.extra["blame"].get("vouching", 0) for f in members)
        msg = (f"{_count_text(['size'] * len(members))}: the model's `{expr}`{where} gives {model} where the file "
               f"has {ckv}{ratio}; the file is consistent with {name}={value} ({vouch} other key(s) load fine with "
               f"it): the model computes this size differently from the code that saved the file (restore that "
               f"expression to load this file, or convert the weights)")
        _replace(res, members, _group(members, msg, expression=expr, model=model, checkpoint=ckv))
    # 3. what is left: keys under a module one side lacks entirely
    file_keys = list(found.state_dict)
    if res.prefix:
        file_keys = [k[len(res.prefix):] if k.startswith(res.prefix) else k for k in file_keys]
    _absent_modules(res, _UNEXPECTED, file_keys, res.model_keys)
    _absent_modules(res, _MISSING, res.model_keys, file_keys)
    # 4. BatchNorm counters of an old file: one fix for all
    nbt = [f for f in res.findings if f.code == _NBT]
    if len(nbt) > 1:
        fix = ("sd.update({k: torch.tensor(0) for k in model.state_dict() "
               "if k.endswith('num_batches_tracked') and k not in sd})")
        msg = (f"{len(nbt)} BatchNorm num_batches_tracked keys are missing (a checkpoint from before BatchNorm "
               f"counted batches, or filtered): safe to add them: {fix}")
        group = Finding(code=_NBT, message=msg, path=nbt[0].path, line=nbt[0].line, severity="error",
                        name=nbt[0].name, extra={"count": len(nbt), "keys": [f.extra.get("key") for f in nbt],
                                                 "members": [f.message for f in nbt], "fix": fix})
        _replace(res, nbt, group)


def _absent_modules(res: Comparison, code: str, all_keys: List[str], other_keys: List[str]) -> None:
    """Leftover per-key findings of ``code`` (SDL301 / SDL302) under one module prefix that the other side
    lacks entirely (no key of ``other_keys`` under it): one finding for the module (``12 unexpected keys under
    aux_head.``)."""
    rest = [f for f in res.findings if f.code == code and f.extra.get("key")]
    if len(rest) < 2:
        return
    keys = {f.extra["key"] for f in rest}
    groups: Dict[str, List[Finding]] = {}
    for f in rest:
        parts = f.extra["key"].split(".")
        for i in range(1, len(parts)):
            pre = ".".join(parts[:i]) + "."
            under = [k for k in all_keys if k.startswith(pre)]
            if len(under) > 1 and all(k in keys for k in under) and not any(k.startswith(pre) for k in other_keys):
                groups.setdefault(pre, []).append(f)
                break
    for pre, members in groups.items():
        if len(members) < 2:
            continue
        if code == _UNEXPECTED:
            fix = f"sd = {{k: v for k, v in sd.items() if not k.startswith({pre!r})}}"
            msg = (f"{len(members)} unexpected keys under {pre}: the model has no state under `{pre[:-1]}` (a "
                   f"module of the model the checkpoint was saved from); if it is not needed, drop them: {fix}")
        else:
            fix = "model.load_state_dict(sd, strict=False)"
            msg = (f"{len(members)} missing keys under {pre}: the checkpoint has nothing under `{pre[:-1]}` (a "
                   f"module added since it was saved, or left out when saving); load the rest with {fix} and "
                   f"initialise it")
        _replace(res, members, _group(members, msg, module=pre, fix=fix))


def _init_path(path: str, cls: str) -> str:
    from statedict_lint.check.explain import literal_params

    try:
        return literal_params(path, cls)[2]
    except Exception:
        return path


def example_lines(f: Finding, verbose: bool, indent: str = "    ") -> List[str]:
    """The keys of a grouped finding as text: a few examples, or every key with --verbose."""
    keys = [k for k in f.extra.get("keys") or [] if k]
    if not keys:
        return []
    if verbose:
        return [indent + k for k in keys]
    shown = ", ".join(keys[:EXAMPLES])
    more = f" (+{len(keys) - EXAMPLES} more; --verbose lists every key)" if len(keys) > EXAMPLES else ""
    return [f"{indent}e.g. {shown}{more}" if more else f"{indent}{shown}"]
