"""Guess renames between keys that disappeared (``old``) and keys that appeared (``new``).

Shared by ``check`` (unexpected checkpoint keys vs missing model keys) and ``diff``. Keys are paired by
shape (never across different known shapes), structure (same leaf name such as ``.weight``, similar
position) and name similarity. When every disappeared key under one module prefix reappears under another
prefix with the same leaves and shapes, the pairs collapse into one ``PrefixRename`` (prefixes end with
``'.'``). Ambiguous pairings get a lower confidence or no guess at all.
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass
from typing import Dict, List, Optional, Sequence, Set, Tuple


@dataclass
class KeyInfo:
    key: str
    shape: Optional[tuple]
    dtype: Optional[str]


@dataclass
class RenameGuess:
    old: str
    new: str
    confidence: float
    reason: str


@dataclass
class PrefixRename:
    old_prefix: str
    new_prefix: str
    count: int
    confidence: float
    reason: str


# pairwise guessing compares at most this many (old, new) pairs; beyond it, no single-key guess is made (with
# thousands of look-alike keys a pairwise guess would be neither fast nor confident)
MAX_PAIRS = 200_000

# tensor names torch's own layers register: never renamed into one another
LAYER_LEAVES = {"weight", "bias", "running_mean", "running_var", "num_batches_tracked", "in_proj_weight",
                "in_proj_bias", "q_proj_weight", "k_proj_weight", "v_proj_weight", "bias_k", "bias_v",
                "_extra_state", "original0", "original1", "weight_g", "weight_v"}
_RNN_LEAF = re.compile(r"^(weight|bias)_(ih|hh|hr)_l\d+(_reverse)?$")


def _layer_leaf(leaf: str) -> bool:
    return leaf in LAYER_LEAVES or bool(_RNN_LEAF.match(leaf))


def _known(shape: Optional[tuple]) -> bool:
    return shape is not None and all(isinstance(d, int) for d in shape)


def _shape_ok(a: Optional[tuple], b: Optional[tuple]) -> Optional[bool]:
    """True: equal known shapes; False: different; None: cannot tell (unknown on a side)."""
    if _known(a) and _known(b):
        return tuple(a) == tuple(b)  # type: ignore[arg-type]
    if a is not None and b is not None and len(a) != len(b):
        return False
    if a is not None and b is not None:
        for x, y in zip(a, b):
            if isinstance(x, int) and isinstance(y, int) and x != y:
                return False
    return None


def _sim(a: str, b: str) -> float:
    return difflib.SequenceMatcher(None, a, b, autojunk=False).ratio()


def _split_common_suffix(a: str, b: str) -> Tuple[str, str, str]:
    """'x.fc.weight', 'y.fc.weight' -> ('x.', 'y.', 'fc.weight'); each prefix keeps at least one component."""
    pa, pb = a.split("."), b.split(".")
    limit = min(len(pa), len(pb)) - 1
    n = 0
    while n < limit and pa[-1 - n] == pb[-1 - n]:
        n += 1
    if n == 0:
        return "", "", ""
    return ".".join(pa[:-n]) + ".", ".".join(pb[:-n]) + ".", ".".join(pa[-n:])


def guess_renames(old: Sequence[KeyInfo], new: Sequence[KeyInfo]) -> Tuple[List[PrefixRename], List[RenameGuess]]:
    old_by = {k.key: k for k in old}
    new_by = {k.key: k for k in new}
    used_old: Set[str] = set()
    used_new: Set[str] = set()
    prefixes: List[PrefixRename] = []

    # 1. candidate prefix mappings from every same-shape pair (bucketed by shape: never all pairs)
    cands: Dict[Tuple[str, str], int] = {}
    by_shape: Dict[tuple, List[KeyInfo]] = {}
    for n in new:
        if _known(n.shape):
            by_shape.setdefault(tuple(n.shape), []).append(n)  # type: ignore[arg-type]
    pairs_seen = 0
    for o in old:
        if not _known(o.shape):
            continue
        bucket = by_shape.get(tuple(o.shape), [])  # type: ignore[arg-type]
        pairs_seen += len(bucket)
        if pairs_seen > MAX_PAIRS:
            cands.clear()  # too many look-alike keys for pairwise guessing: no prefix guess rather than minutes
            break
        for n in bucket:
            a, b, _ = _split_common_suffix(o.key, n.key)
            if a and b and a != b:
                cands[(a, b)] = cands.get((a, b), 0) + 1

    def coverage(a: str, b: str) -> Optional[List[Tuple[str, str]]]:
        """Pairs if every remaining old key under ``a`` has its counterpart under ``b`` (same shape) and back."""
        pairs = []
        olds = [k for k in old_by if k.startswith(a) and k not in used_old]
        news = [k for k in new_by if k.startswith(b) and k not in used_new]
        if not olds or len(olds) != len(news):
            return None
        for k in olds:
            target = b + k[len(a):]
            if target not in new_by or target in used_new:
                return None
            if _shape_ok(old_by[k].shape, new_by[target].shape) is not True:
                return None
            pairs.append((k, target))
        return pairs

    order = sorted(((ab, c) for ab, c in cands.items() if c >= 2),  # (a covered prefix pairs 2+ keys)
                   key=lambda kv: (-kv[1], len(kv[0][0]), kv[0]))
    by_old: Dict[str, List[Tuple[str, str]]] = {}
    by_new: Dict[str, List[Tuple[str, str]]] = {}
    for x, y in cands:
        by_old.setdefault(x, []).append((x, y))
        by_new.setdefault(y, []).append((x, y))
    for (a, b), _count in order:
        if any(a.startswith(p.old_prefix) for p in prefixes) or any(b.startswith(p.new_prefix) for p in prefixes):
            continue
        pairs = coverage(a, b)
        if pairs is None or len(pairs) < 2:
            continue
        # rivals: the same old prefix fully covered by another new prefix (or the reverse)
        rivals = [(x, y) for (x, y) in by_old.get(a, []) + by_new.get(b, []) if (x == a) != (y == b)
                  and coverage(x, y) is not None]
        sim = _sim(a, b)
        if rivals:
            best_rival = max(_sim(x, y) for x, y in rivals)
            if sim - best_rival < 0.15:
                continue  # two equally good targets: no guess
            conf = 0.5
            why = f"; {len(rivals)} other prefix{'es' if len(rivals) > 1 else ''} would fit as well by shape"
        else:
            conf = min(0.95, 0.7 + 0.05 * (len(pairs) - 2) + 0.1 * sim)
            why = ""
        for k, t in pairs:
            used_old.add(k)
            used_new.add(t)
        prefixes.append(PrefixRename(a, b, len(pairs), round(conf, 2),
                                     f"all {len(pairs)} keys under {a} reappear under {b} with the same names "
                                     f"and shapes{why}"))

    # 2. single keys: unique best pairs by shape, leaf name, name similarity and position
    rest_old = [k for k in old if k.key not in used_old]
    rest_new = [k for k in new if k.key not in used_new]
    pos_old = {k.key: i / max(1, len(old) - 1) for i, k in enumerate(old)}
    pos_new = {k.key: i / max(1, len(new) - 1) for i, k in enumerate(new)}

    def score(o: KeyInfo, n: KeyInfo) -> Optional[float]:
        same = _shape_ok(o.shape, n.shape)
        if same is False:
            return None
        leaf_o, leaf_n = o.key.rsplit(".", 1)[-1], n.key.rsplit(".", 1)[-1]
        if leaf_o != leaf_n:
            # a weight never becomes a bias; but a tensor the model registers itself under its own name
            # (self.pos_embed -> self.pos_embedding, self.scale -> self.scales) is renamed in place
            owner_o, owner_n = o.key[:-len(leaf_o)], n.key[:-len(leaf_n)]
            if owner_o != owner_n or _layer_leaf(leaf_o) or _layer_leaf(leaf_n) or same is not True:
                return None
        s = 0.45 if same else 0.1
        s += 0.35 * _sim(o.key, n.key)
        s += 0.1 * (1 - abs(pos_old[o.key] - pos_new[n.key]))
        if o.dtype and n.dtype and o.dtype != n.dtype:
            s -= 0.1
        if same and _known(o.shape) and len(o.shape or ()) >= 2:  # a 2-D+ shape is a stronger fingerprint
            s += 0.05
        return s

    scored: List[Tuple[float, str, str]] = []
    best_o: Dict[str, List[float]] = {}
    best_n: Dict[str, List[float]] = {}
    if len(rest_old) * len(rest_new) > MAX_PAIRS:
        rest_old = []  # (the structural renames of structdiff.grouped_renames come first, in linear time)
    for o in rest_old:
        for n in rest_new:
            s = score(o, n)
            if s is None:
                continue
            scored.append((s, o.key, n.key))
            best_o.setdefault(o.key, []).append(s)
            best_n.setdefault(n.key, []).append(s)
    guesses: List[RenameGuess] = []
    scored.sort(key=lambda t: (-t[0], t[1], t[2]))
    for s, ok, nk in scored:
        if ok in used_old or nk in used_new:
            continue
        if s < 0.5:
            continue
        # ambiguity: the runner-up for either key within a small margin
        so = sorted(best_o[ok], reverse=True)
        sn = sorted(best_n[nk], reverse=True)
        margin = min(so[0] - (so[1] if len(so) > 1 else 0.0), sn[0] - (sn[1] if len(sn) > 1 else 0.0))
        if margin < 0.03:
            continue
        conf = min(0.9, s) if margin >= 0.1 else min(0.5, s)
        shape_txt = "same shape " + str(list(old_by[ok].shape)) if _shape_ok(old_by[ok].shape,
                                                                               new_by[nk].shape) else "shape unknown"
        lo, ln = ok.rsplit(".", 1)[-1], nk.rsplit(".", 1)[-1]
        leaf_txt = f"same leaf .{lo}" if lo == ln else f"same owner, attribute {lo} renamed to {ln}"
        reason = f"{shape_txt}, {leaf_txt}, name similarity {_sim(ok, nk):.2f}"
        if margin < 0.1:
            reason += "; other pairings are nearly as good"
        guesses.append(RenameGuess(ok, nk, round(conf, 2), reason))
        used_old.add(ok)
        used_new.add(nk)
    return prefixes, guesses
