"""`check` without bindings: read the constructor values off the checkpoint, then check again with them.

``compare`` already solves the symbolic shapes and repetition counts (``n_embd=64`` from a ``[192, 64]``
weight, ``n_layer=3`` from ``h.0``..``h.2``). What shapes cannot tell are the switches: ``bias=config.bias``
decides whether ``*.bias`` keys exist at all, so a prediction with an unbound switch stays incomplete
("exists only if config.bias") and a bare ``check model.py:GPT ckpt.pt`` could only answer "unsure".

``check_with_inference`` tries the hypotheses: the inferred integers plus every True/False combination of the
unbound switches named in the prediction's conditions (at most ``MAX_SWITCHES``), each predicted afresh and
compared. It adopts a hypothesis only when the result is decided by it:

* exactly one complete hypothesis loads -> the checkpoint loads into the class built with those values
  (reported as an assumption, with the values to pass as ``--set``);
* every hypothesis is complete and none loads -> it fails whatever the values; the report of the
  hypothesis with the fewest differences explains it.

Otherwise the first, honest "unsure" result stands. Nothing is guessed: an adopted hypothesis is one the
checkpoint itself singles out, and it is always printed.
"""

from __future__ import annotations

import itertools
import re
from typing import TYPE_CHECKING, Any, Dict, List, Optional, Tuple

from statedict_lint.errors import UserError

if TYPE_CHECKING:
    from statedict_lint.checkpoint.container import Found
    from statedict_lint.checkpoint.records import Checkpoint
    from statedict_lint.check.compare import Comparison
    from statedict_lint.predict.template import Prediction

MAX_SWITCHES = 3
_DOTTED = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*$")
_LINE = re.compile(r"\s*\(line \d+\)$")
_ALIAS = re.compile(r"\[= ([A-Za-z_][\w.]*)\]")


def switches(conditions: List[str]) -> List[str]:
    """Unbound boolean names behind condition texts such as ``config.bias``, ``not use_bn`` or
    ``bias [= config.bias]`` (the name after ``[=`` is the user-facing one)."""
    out: List[str] = []
    for cond in conditions:
        for part in re.split(r"\s+and\s+|;\s*", cond):
            part = _LINE.sub("", part.strip())
            alias = _ALIAS.search(part)
            if alias:
                name: Optional[str] = alias.group(1)
            else:
                bare = part[4:] if part.startswith("not ") else part
                name = bare if _DOTTED.match(bare) else None
            if name and name not in out and name not in ("True", "False", "None"):
                out.append(name)
    return out


def _conditions(pred: Prediction) -> List[str]:
    conds = [k.condition for k in pred.keys if k.condition]
    conds += [u.message for u in pred.unresolved if u.message.startswith("some keys exist only if ")]
    return [c.replace("some keys exist only if ", "", 1) for c in conds]


def _differences(res: Comparison) -> int:
    """Differences that the hypothesis leaves (a wrapper prefix is explained apart, so count what remains)."""
    if res.after_prefix is not None:
        return res.after_prefix + len(res.not_tensors)
    return len(res.missing) + len(res.unexpected) + len(res.mismatched) + len(res.not_tensors)


def check_with_inference(path: str, cls: str, bindings: Dict[str, Any], ck: Checkpoint, found: Found,
                         pred: Optional[Prediction] = None) -> Tuple[Prediction, Comparison, Dict[str, Any]]:
    """-> (prediction, comparison, assumed values) -- assumed is empty when the first result stands."""
    from statedict_lint.check.compare import compare
    from statedict_lint.predict.api import predict

    if pred is None:
        pred = predict(path, cls, bindings)
    res = compare(pred, ck, found)
    if pred.complete or res.verdict == "loads":
        return pred, res, {}
    ints = {k: v for k, v in res.inferred.items() if k not in bindings and _DOTTED.match(k)}
    names = [n for n in switches(_conditions(pred)) if n not in bindings and n not in ints]
    if len(names) > MAX_SWITCHES or (not names and not ints):
        return pred, res, {}
    tried: List[Tuple[Dict[str, Any], Any, Any]] = []
    for combo in itertools.product((True, False), repeat=len(names)):
        assumed: Dict[str, Any] = {**ints, **dict(zip(names, combo))}
        try:
            p2 = predict(path, cls, {**bindings, **assumed})
        except UserError:
            return pred, res, {}
        tried.append((assumed, p2, compare(p2, ck, found)))
    complete = [t for t in tried if t[1].complete]
    loads = [t for t in complete if t[2].verdict == "loads"]
    if len(loads) == 1:
        chosen = loads[0]
    elif not loads and complete and len(complete) == len(tried):
        chosen = min(complete, key=lambda t: _differences(t[2]))
    else:
        return pred, res, {}
    assumed, p2, r2 = chosen
    r2.assumed = dict(assumed)
    return p2, r2, assumed
