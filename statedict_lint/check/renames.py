"""Guess renames between keys that disappeared (``old``) and keys that appeared (``new``).

Shared by ``check`` (unexpected checkpoint keys vs missing model keys) and ``diff``. Keys are paired by
shape (never across different known shapes), structure (same leaf name such as ``.weight``, similar
position) and name similarity. When every disappeared key under one module prefix reappears under another
prefix with the same leaves and shapes, the pairs collapse into one ``PrefixRename`` (prefixes end with
``'.'``). Ambiguous pairings get a lower confidence or no guess at all.

``grouped_renames`` groups the renames of a whole class: structural renames (one path segment replaced,
inserted or dropped at several places, found through an index of the keys) first, the pairwise guesser for
what they leave, and ``{i}`` placeholders where every index of a container moved the same way.
"""

from __future__ import annotations

import difflib
import itertools
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Dict, List, Mapping, Optional, Protocol, Sequence, Set, Tuple

from statedict_lint.predict.template import placeholder

if TYPE_CHECKING:  # (typing.TypeGuard: Python 3.10+)
    from typing import TypeGuard


@dataclass
class KeyInfo:
    key: str
    shape: Optional[Sequence[Any]]  # ints; symbolic dimensions as text (``3*n_embd``, diff); None for unknown dims
    dtype: Optional[str]
    kind: str = ""  # "parameter" / "buffer" / ... when known (diff), "" when not (a checkpoint does not say)


class KeyLike(Protocol):
    """What the grouping reads of a key: a KeyInfo, or a lock's / snapshot's KeyRec (review)."""

    @property
    def key(self) -> str: ...

    @property
    def shape(self) -> Optional[Sequence[Any]]: ...

    @property
    def dtype(self) -> Optional[str]: ...

    @property
    def kind(self) -> str: ...


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


def _known(shape: Optional[Sequence[Any]]) -> TypeGuard[Sequence[Any]]:
    return shape is not None and all(isinstance(d, int) for d in shape)


def _shape_ok(a: Optional[Sequence[Any]], b: Optional[Sequence[Any]]) -> Optional[bool]:
    """True: equal known shapes; False: different; None: cannot tell (unknown on a side)."""
    if _known(a) and _known(b):
        return tuple(a) == tuple(b)
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
            by_shape.setdefault(tuple(n.shape), []).append(n)
    pairs_seen = 0
    for o in old:
        if not _known(o.shape):
            continue
        bucket = by_shape.get(tuple(o.shape), [])
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
        o_shape = old_by[ok].shape
        shape_txt = "same shape " + str(list(o_shape)) if o_shape is not None and _shape_ok(
            o_shape, new_by[nk].shape) else "shape unknown"
        lo, ln = ok.rsplit(".", 1)[-1], nk.rsplit(".", 1)[-1]
        leaf_txt = f"same leaf .{lo}" if lo == ln else f"same owner, attribute {lo} renamed to {ln}"
        reason = f"{shape_txt}, {leaf_txt}, name similarity {_sim(ok, nk):.2f}"
        if margin < 0.1:
            reason += "; other pairings are nearly as good"
        guesses.append(RenameGuess(ok, nk, round(conf, 2), reason))
        used_old.add(ok)
        used_new.add(nk)
    return prefixes, guesses


# -- grouped renames (shared by `check` and `diff`) ------------------------------------------------------
_NUM = re.compile(r"^[0-9]+$")
_SYM_BASE = 7_000_000_000_000  # symbolic dimensions travel to the guesser as stand-in integers


def _shape_known(s: Optional[Sequence[Any]]) -> bool:
    return s is not None and all(d is not None for d in s)


def _common_suffix_prefixes(old: str, new: str) -> Tuple[str, str]:
    """Split two keys into (old_prefix, new_prefix) sharing their longest common dotted suffix."""
    a, b = old.split("."), new.split(".")
    n = 0
    while n < min(len(a), len(b)) - 0 and a[len(a) - 1 - n] == b[len(b) - 1 - n]:
        n += 1
        if n == min(len(a), len(b)):
            break
    n = min(n, len(a) - 1, len(b) - 1)
    pa, pb = ".".join(a[: len(a) - n]), ".".join(b[: len(b) - n])
    return (pa + "." if n else pa), (pb + "." if n else pb)


def _guess(removed: Sequence[KeyLike], added: Sequence[KeyLike]) -> Tuple[List[PrefixRename], List[RenameGuess]]:
    """(prefix renames, key renames) from the shared rename guesser (``guess_renames``).

    Both sides come from the same class, so equal symbolic dimensions (``3*n_embd``) are equal: each
    distinct expression is handed over as a stand-in integer, and turned back into text in the reasons."""
    table: Dict[str, int] = {}

    def dim(d: Any) -> Any:  # (an int, a symbolic size as text, or None)
        if isinstance(d, str):
            return table.setdefault(d, _SYM_BASE + len(table))
        return d

    def info(k: KeyLike) -> KeyInfo:
        return KeyInfo(k.key, tuple(dim(d) for d in k.shape) if k.shape is not None else None, k.dtype)

    prefixes, keys = guess_renames([info(k) for k in removed], [info(k) for k in added])
    back = {str(v): k for k, v in table.items()}
    if back:
        rx = re.compile(r"\b(" + "|".join(re.escape(v) for v in back) + r")\b")
        for g in list(prefixes) + list(keys):
            g.reason = rx.sub(lambda m: back[m.group(1)], g.reason)
    return prefixes, keys


def _same_tensor(a: KeyLike, b: KeyLike) -> bool:
    return (a.shape is None) == (b.shape is None) and list(a.shape or []) == list(b.shape or []) and \
        a.dtype == b.dtype and a.kind == b.kind


def _segment_renames(removed: Sequence[KeyLike], added: Sequence[KeyLike], o: Mapping[str, KeyLike],
                     n: Mapping[str, KeyLike]) -> Dict[Tuple[str, str], Dict[str, Any]]:
    """Attribute renames seen at several places at once (``blocks.0.attn.`` -> ``blocks.0.self_attn.``,
    ``blocks.1.attn.`` -> ``blocks.1.self_attn.``, ...): one path segment replaced by the same other
    segment in at least two places, each place a whole subtree that moved with the same leaves, shapes
    and dtypes. The pairwise guesser cannot tell such places apart (every block looks alike); the
    shared substitution can. Single places are left to the guesser."""
    gone = {k.key for k in removed}
    came = {k.key: k for k in added}
    index: Dict[Tuple[int, int, Tuple[str, ...]], List[str]] = {}
    for k in added:
        segs = k.key.split(".")
        for j in range(len(segs)):
            index.setdefault((len(segs), j, tuple(segs[:j] + segs[j + 1:])), []).append(k.key)
    # substitution (old segment, new segment) -> {old prefix: new prefix}
    subs: Dict[Tuple[str, str], Dict[str, str]] = {}
    bad: set = set()
    for k in removed:
        segs = k.key.split(".")
        for j in range(len(segs)):
            for nk in index.get((len(segs), j, tuple(segs[:j] + segs[j + 1:])), []):
                x, y = segs[j], nk.split(".")[j]
                if _NUM.match(x) and _NUM.match(y):
                    continue  # index shifts are the guesser's (renumbering)
                leaf = j == len(segs) - 1
                po = ".".join(segs[: j + 1]) + ("" if leaf else ".")
                pn = ".".join(nk.split(".")[: j + 1]) + ("" if leaf else ".")
                m = subs.setdefault((x, y), {})
                if m.get(po, pn) != pn:
                    bad.add((x, y))
                m[po] = pn
    # one segment inserted (``layers.0.fc.`` -> ``layers.0.inner.fc.``, ``blocks.`` -> ``encoder.blocks.``) or
    # dropped: index each side by its keys with one segment left out, look the other side's keys up as they are
    for shorter, longer, inserted in ((removed, added, True), (added, removed, False)):
        by_drop: Dict[Tuple[str, ...], List[Tuple[str, int]]] = {}
        for k in longer:
            segs = k.key.split(".")
            for j in range(len(segs) - 1):  # never the leaf
                by_drop.setdefault(tuple(segs[:j] + segs[j + 1:]), []).append((k.key, j))
        for k in shorter:
            segs = k.key.split(".")
            for lk, j in by_drop.get(tuple(segs), []):
                lsegs = lk.split(".")
                seg = lsegs[j]
                if _NUM.match(seg):
                    continue
                # the place: the module the segment is inserted into (with the next segment at the root)
                cut = j if j > 0 else 1
                short_p = ".".join(segs[:cut]) + "."
                long_p = ".".join(lsegs[:cut + 1]) + "."
                po, pn = (short_p, long_p) if inserted else (long_p, short_p)
                label = ("", seg) if inserted else (seg, "")
                m = subs.setdefault(label, {})
                if m.get(po, pn) != pn:
                    bad.add(label)
                m[po] = pn
    out: Dict[Tuple[str, str], Dict[str, Any]] = {}
    taken_old: set = set()
    taken_new: set = set()
    for (x, y), places in sorted(subs.items(), key=lambda kv: (-len(kv[1]), kv[0])):
        # a replaced segment needs two places to tell it from a one-off rename; an inserted or dropped one is
        # structural already (the guesser would see every block as a rival of every other)
        if (x, y) in bad or len(places) < (2 if x and y else 1):
            continue
        found = []
        for po, pn in sorted(places.items()):
            if po.endswith("."):
                olds = [key for key in o if key.startswith(po)]
                news = [key for key in n if key.startswith(pn)]
            else:
                olds, news = [po], [pn]
            if len(olds) != len(news) or not olds:
                break
            pairs = [(a, pn + a[len(po):]) for a in olds] if po.endswith(".") else [(po, pn)]
            if not all(a in gone and a not in taken_old and b in came and b not in taken_new and
                       _same_tensor(o[a], came[b]) for a, b in pairs):
                break
            found.append((po, pn, pairs))
        else:
            unknown = any(o[a].shape is None or not _shape_known(o[a].shape) for _po, _pn, ps in found
                          for a, _b in ps)
            for po, pn, pairs in found:
                nkeys = len(pairs)
                out[(po, pn)] = {
                    "pairs": pairs, "conf": 0.8 if unknown else 0.95,
                    "reason": (f"all {nkeys} key(s) under {po} reappear under {pn} with the same names"
                               + (" (shapes not fully known)" if unknown else " and shapes")
                               + (f"; the same rename `{x}` -> `{y}`" if x and y else
                                  f"; `{y}` inserted" if y else f"; `{x}` dropped")
                               + (f" at {len(found)} places" if len(found) > 1 else ""))}
                taken_old |= {a for a, _ in pairs}
                taken_new |= {b for _, b in pairs}
    return out


def _collapse_indices(split: Dict[Tuple[str, str], Dict[str, Any]], o: Mapping[str, KeyLike],
                      n: Mapping[str, KeyLike]) -> Dict[Tuple[str, str], Dict[str, Any]]:
    """``blocks.0.attn. -> blocks.0.self_attn.``, ..., ``blocks.11.attn. -> ...`` at every index the
    class has under ``blocks.`` -> one ``blocks.{i}.attn. -> blocks.{i}.self_attn.``: the map then holds
    for checkpoints of any depth, not only the default one."""
    while True:
        buckets: Dict[Tuple[str, str, int], List[Tuple[str, str]]] = {}
        for po, pn in split:
            if not po.endswith(".") or not pn.endswith("."):
                continue
            a, b = po.split("."), pn.split(".")
            for t in range(min(len(a), len(b)) - 1):  # (a segment inserted after the index: lengths differ)
                if a[t] == b[t] and _NUM.match(a[t]) and a[:t] == b[:t]:
                    ph = next(x for x in map(placeholder, itertools.count())
                              if "{" + x + "}" not in po and "{" + x + "}" not in pn)
                    pat_o = ".".join(a[:t] + ["{" + ph + "}"] + a[t + 1:])
                    pat_n = ".".join(b[:t] + ["{" + ph + "}"] + b[t + 1:])
                    buckets.setdefault((pat_o, pat_n, t), []).append((po, pn))
        merged = False
        for (pat_o, pat_n, t), members in sorted(buckets.items(), key=lambda kv: -len(kv[1])):
            if len(members) < 2 or any(m not in split for m in members):
                continue
            head = pat_o.split(".")[:t]
            lead = ".".join(head) + "." if head else ""
            have = {m[0].split(".")[t] for m in members}
            present = set()
            for m in members:  # the indices next to each member's own outer indices
                segs = m[0].split(".")[:t]
                rx = re.compile("^" + "".join("[0-9]+\\." if re.fullmatch(r"\{\w+\}", x) else re.escape(x) + "\\."
                                              for x in segs) + "([0-9]+)\\.")
                present |= {mm.group(1) for key in list(o) + list(n) for mm in [rx.match(key)] if mm}
            if have != present:
                continue  # some indices keep their keys (or are something else): keep exact prefixes
            gs = [split.pop(m) for m in members]
            pairs = sorted(p for g in gs for p in g["pairs"])
            split[(pat_o, pat_n)] = {"pairs": pairs, "conf": min(g["conf"] for g in gs),
                                     "reason": re.split(r"; (?:the same rename|`)", gs[0]["reason"])[0].replace(
                                         members[0][0], pat_o).replace(members[0][1], pat_n)
                                     + f"; at every index of {lead}{{...}} ({len(members)})"}
            merged = True
            break
        if not merged:
            return split


def grouped_renames(removed: Sequence[KeyLike], added: Sequence[KeyLike], o: Mapping[str, KeyLike],
                    n: Mapping[str, KeyLike]) -> Tuple[Dict[Tuple[str, str], Dict[str, Any]], set, set]:
    """Renames between ``removed`` and ``added`` keys, grouped: ``{(old, new): {"pairs", "conf", "reason"}}``
    where old/new are keys or prefixes ending in "." (``{i}`` placeholders where every index moved the same
    way), and the old / new keys they take. ``o`` / ``n``: every key of each side (a prefix rename must cover
    every key under it). Shared by ``diff`` (two versions of a class) and ``check`` (a file and a class).

    Structural renames (one path segment replaced, inserted or dropped at several places) are found through
    an index of the keys, in time linear in the number of keys; only what they leave goes to the pairwise
    guesser (``renames.guess_renames``)."""
    groups: Dict[Tuple[str, str], Dict[str, Any]] = _segment_renames(removed, added, o, n)
    taken_old: set = {a for g in groups.values() for a, _ in g["pairs"]}
    taken_new: set = {b for g in groups.values() for _, b in g["pairs"]}
    rest_r = [k for k in removed if k.key not in taken_old]
    rest_a = [k for k in added if k.key not in taken_new]
    prefix_renames, key_renames = _guess(rest_r, rest_a) if rest_r and rest_a else ([], [])
    for pr in prefix_renames:
        pairs = []
        for k in removed:
            if k.key.startswith(pr.old_prefix) and k.key not in taken_old:
                nk = pr.new_prefix + k.key[len(pr.old_prefix):]
                if nk in n and nk not in taken_new:
                    pairs.append((k.key, nk))
        if not pairs:
            continue
        g = groups.setdefault((pr.old_prefix, pr.new_prefix),
                              {"pairs": [], "conf": pr.confidence, "reason": pr.reason})
        g["pairs"].extend(pairs)
        taken_old |= {a for a, _ in pairs}
        taken_new |= {b for _, b in pairs}
    for kr in key_renames:
        if kr.old in taken_old or kr.new in taken_new or kr.old not in o or kr.new not in n:
            continue
        po, pn = _common_suffix_prefixes(kr.old, kr.new)
        if not po.endswith("."):
            po, pn = kr.old, kr.new
        g = groups.setdefault((po, pn), {"pairs": [], "conf": kr.confidence, "reason": kr.reason})
        g["pairs"].append((kr.old, kr.new))
        g["conf"] = min(g["conf"], kr.confidence)
        taken_old.add(kr.old)
        taken_new.add(kr.new)
    split: Dict[Tuple[str, str], Dict[str, Any]] = {}
    for (po, pn), g in groups.items():
        olds = {a for a, _ in g["pairs"]}
        news = {b for _, b in g["pairs"]}
        covered = po.endswith(".") and {k for k in o if k.startswith(po)} == olds and \
            {k for k in n if k.startswith(pn)} == news
        if covered or not po.endswith("."):
            split[(po, pn)] = g
        else:  # a prefix map would also move keys that stay: keep exact keys
            for a, b in g["pairs"]:
                split[(a, b)] = {"pairs": [(a, b)], "conf": g["conf"], "reason": g["reason"]}
    split = _collapse_indices(split, o, n)
    return split, taken_old, taken_new
