"""transformers 5's conversion mapping read as text (statedict_lint/hf/conversion.py) against the real one, and
the from_pretrained rules of statedict_lint/hf/loading.py on synthetic key tables."""

from __future__ import annotations

import os
import re

import pytest

from statedict_lint.hf.conversion import Mapping, Transform, read_mapping
from statedict_lint.hf.loading import LoadFacts, SubModel, from_pretrained


def _sample_keys(pattern: str):
    """Keys a pattern should (and should not) match: the pattern's literal text inside a typical key."""
    lit = re.sub(r"\\(.)", r"\1", pattern).replace("^", "")
    lit = re.sub(r"\(\?[^)]*\)", "", lit)
    lit = re.sub(r"\((?:[^()]*)\)", "0", lit).replace("*", "0").replace("+", "").replace("?", "")
    return [lit, f"model.{lit}.weight", f"{lit}.bias", "model.layers.0.mlp.weight", f"x{lit}y.weight"]


def test_every_renaming_matches_transformers():
    transformers = pytest.importorskip("transformers")
    from transformers.conversion_mapping import _build_checkpoint_conversion_mapping
    from transformers.core_model_loading import PrefixChange, WeightRenaming

    real = _build_checkpoint_conversion_mapping()
    ours = read_mapping(os.path.dirname(transformers.__file__))
    assert not ours.error
    compared = prefix_changes = 0
    for name, entries in real.items():
        mine = ours.get(name)
        if not isinstance(mine, list):  # an entry the reader could not follow is Unknown, never wrong
            continue
        assert len(mine) == len(entries), name
        for t_real, t_mine in zip(entries, mine):
            if type(t_real) not in (WeightRenaming, PrefixChange):
                assert t_mine.kind != "rename", (name, t_real)
                continue
            assert t_mine.kind == "rename", (name, t_real)
            for src in t_real._original_source_patterns:
                for key in _sample_keys(src):
                    assert t_mine.rename(key) == t_real.rename_source_key(key)[0], (name, src, key)
                    compared += 1
                    prefix_changes += type(t_real) is PrefixChange
    assert compared > 2000 and prefix_changes > 50


def _facts(prefix="bert", **kw):
    return LoadFacts(SubModel("", "BertForMaskedLM", "bert", prefix, **kw), [])


def test_converter_that_is_not_modelled_makes_the_verdict_unsure_and_is_named():
    from statedict_lint.hf.conversion import Op

    ops = [Op("Chunk", (), (("dim", 0),)), Op("PermuteForRope", (), ())]
    mapping = Mapping({"bert": [Transform("convert", ["qkv"], ["q", "k", "v"], ops)]})
    model = {"bert.a.q.weight": (2, 2), "bert.a.k.weight": (2, 2), "bert.a.v.weight": (2, 2)}
    rep = from_pretrained(model, [], {}, {"bert.a.qkv.weight": (6, 2)}, _facts(), mapping)
    assert rep.verdict == "unsure" and rep.undecided
    assert any("PermuteForRope is not modelled" in u and "WeightConverter(qkv -> q, k, v" in u for u in rep.unsure)


def test_chunk_converter_fills_every_target():
    from statedict_lint.hf.conversion import Op

    mapping = Mapping({"bert": [Transform("convert", ["qkv"], ["q", "k", "v"], [Op("Chunk", (), (("dim", 0),))])]})
    model = {"bert.a.q.weight": (2, 2), "bert.a.k.weight": (2, 2), "bert.a.v.weight": (2, 2)}
    rep = from_pretrained(model, [], {}, {"bert.a.qkv.weight": (6, 2)}, _facts(), mapping)
    assert rep.verdict == "loads" and not rep.unsure
    assert rep.converted == [(["bert.a.qkv.weight"], {k: (2, 2) for k in model}, rep.converted[0][2])]
    # 5 rows cut in 3: torch.chunk makes pieces of 2, 2, 1 -> the last is a size mismatch
    rep = from_pretrained(model, [], {}, {"bert.a.qkv.weight": (5, 2)}, _facts(), mapping)
    assert rep.mismatched == [("bert.a.v.weight", (1, 2), (2, 2))] and rep.verdict == "fails"
    # into a model without those keys: every target is unused, as transformers lists them
    rep = from_pretrained({"bert.b": (1,)}, [], {}, {"bert.a.qkv.weight": (6, 2)}, _facts(), mapping)
    assert sorted(rep.unexpected) == ["bert.a.k.weight", "bert.a.q.weight", "bert.a.v.weight"]


def test_custom_code_gets_no_conversion_mapping():
    mapping = Mapping({"bert": [Transform("rename", ["old"], ["new"])]})
    facts = LoadFacts(SubModel("", "MyBert", "bert", "bert", custom=True), [])
    rep = from_pretrained({"bert.new": (1,)}, [], {}, {"bert.old": (1,)}, facts, mapping)
    assert rep.unexpected == ["bert.old"] and rep.missing == ["bert.new"]


def test_ignore_lists_tie_swap_and_prefix():
    mapping = Mapping({})
    model = {"bert.emb.weight": (4, 2), "cls.decoder.weight": (4, 2), "cls.extra": (1,)}
    ties = {"cls.decoder.weight": "bert.emb.weight"}
    # the file holds only the tied *target* (swap), a base-model key without the prefix, and an ignored extra
    ck = {"cls.decoder.weight": (4, 2), "pooler.dense.weight": (2, 2)}
    facts = _facts(ignore_missing=[r"cls\.extra"], ignore_unexpected=[r"pooler"])
    rep = from_pretrained(model, [], ties, ck, facts, mapping)
    assert rep.missing == [] and rep.unexpected == []
    assert rep.tied_filled == [("bert.emb.weight", "cls.decoder.weight")]
    assert rep.ignored_missing == ["cls.extra"] and rep.ignored_unexpected == ["pooler.dense.weight"]
    assert rep.verdict == "loads"
