"""Instantiate a symbolic prediction for concrete values of its free variables.

``expand(pred, env)`` turns ``blocks.{i}.fc.weight`` (repeat ``i < depth``) with shape ``[4*dim, dim]``
into ``blocks.0.fc.weight``, ``blocks.1.fc.weight``, ... with concrete shapes, in torch's order (every
key of block 0, then every key of block 1, ...). Used to compare a symbolic prediction with torch and with
checkpoints.
"""

from __future__ import annotations

import re
from typing import Any, Dict, List, Mapping, Optional, Tuple

from statedict_lint.predict.symbolic import Sym
from statedict_lint.predict.template import KeySpec, Prediction

_PLACEHOLDER = re.compile(r"\{([^{}]+)\}")
_SAFE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*( *[+*] *[0-9A-Za-z_]+)*$|^[0-9]+( *[+*] *[A-Za-z_][A-Za-z0-9_]*)+$")


def _value(x: Any, env: Mapping[str, int]) -> Optional[int]:
    if isinstance(x, int):
        return x
    if isinstance(x, Sym):
        return x.evaluate(env)
    return None


def _eval_placeholder(text: str, env: Mapping[str, int]) -> Optional[int]:
    expr = text.strip()
    if not _SAFE.match(expr):
        return None
    total = 0
    for term in expr.split("+"):
        prod = 1
        for factor in term.split("*"):
            f = factor.strip()
            if f.isdigit():
                prod *= int(f)
            elif f in env:
                prod *= env[f]
            else:
                return None
        total += prod
    return total


def expand(pred: Prediction, env: Mapping[str, int]) -> Optional[List[Tuple[str, Optional[tuple], Optional[str], KeySpec]]]:
    """Concrete (key, shape, dtype, spec) rows, or None when a count cannot be evaluated with ``env``."""
    rows = _expand(list(pred.keys), dict(env), {})
    return rows


def _expand(keys: List[KeySpec], env: Dict[str, int], bound: Dict[str, int]) -> Optional[list]:
    out: list = []
    i = 0
    while i < len(keys):
        k = keys[i]
        name = _substitute(k.key, bound)
        m = _PLACEHOLDER.search(name)
        if m is None:
            shape = None if k.shape is None else tuple(_value(d, {**env, **{"{" + p + "}": v for p, v in bound.items()}}) for d in k.shape)
            out.append((name, shape, k.dtype, k))
            i += 1
            continue
        content = m.group(1)
        phs = [p for p in k.repeat if re.search(rf"\b{re.escape(p)}\b", content)]
        if not phs:  # an index computed from free variables, not a loop: `blocks.{depth}` after `depth` blocks
            val = _eval_placeholder(content, {**env, **bound})
            if val is None:
                return None
            k2 = KeySpec(**{**k.__dict__, "key": name[: m.start()] + str(val) + name[m.end():]})
            sub = _expand([k2], env, bound)
            if sub is None:
                return None
            out.extend(sub)
            i += 1
            continue
        if len(phs) != 1:
            return None
        ph = phs[0]
        count = _value(k.repeat[ph], env)
        if count is None:
            return None
        # the run: consecutive keys of the same module repeated by the same loop (same placeholder)
        owner = name[: name.rfind(".", 0, m.start()) + 1]
        group = (owner, m.group(0))
        j = i + 1
        while j < len(keys):
            other = _substitute(keys[j].key, bound)
            om = _PLACEHOLDER.search(other)
            if om is None or (other[: other.rfind(".", 0, om.start()) + 1], om.group(0)) != group:
                break
            j += 1
        run = keys[i:j]
        for v in range(count):
            sub = _expand(run, env, {**bound, ph: v})
            if sub is None:
                return None
            out.extend(sub)
        i = j
    return out


def _substitute(key: str, bound: Dict[str, int]) -> str:
    if not bound:
        return key

    def repl(m: "re.Match[str]") -> str:
        val = _eval_placeholder(m.group(1), bound)
        return str(val) if val is not None else m.group(0)

    return _PLACEHOLDER.sub(repl, key)
