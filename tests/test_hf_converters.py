"""transformers 5's WeightConverters (tensors merged / split between stored and in-memory keys) as `check` models
them (statedict_lint/hf/operations.py, hf/loading.py), against transformers itself.

Folders are written by ``save_pretrained`` (which stores Mixtral / Qwen2-MoE experts one tensor per expert, as
the original checkpoints do, while the model holds them fused), then edited: an expert dropped, one expert's
``w3`` dropped, the fused in-memory layout stored as is. The static check must report exactly what
``from_pretrained(..., output_loading_info=True)`` reports, or that from_pretrained raises when it does.
The operations are also checked one by one against transformers' own ``WeightConverter.convert``.
"""

from __future__ import annotations

import json
import os

import pytest

transformers = pytest.importorskip("transformers")
torch = pytest.importorskip("torch")

from safetensors.torch import load_file, save_file  # noqa: E402

from statedict_lint.cli import main  # noqa: E402
from statedict_lint.hf.conversion import Op, Transform, read_mapping  # noqa: E402
from statedict_lint.hf.operations import ConversionError, NotModelled, convert, full_names  # noqa: E402

MIXTRAL = dict(vocab_size=99, hidden_size=32, num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2,
               intermediate_size=37, num_local_experts=3, num_experts_per_tok=2, max_position_embeddings=64)
QWEN2_MOE = dict(vocab_size=99, hidden_size=32, num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2,
                 intermediate_size=37, moe_intermediate_size=13, shared_expert_intermediate_size=21, num_experts=3,
                 num_experts_per_tok=2, max_position_embeddings=64)


@pytest.fixture(scope="module", autouse=True)
def quiet():
    from transformers.utils import logging

    logging.set_verbosity_error()
    torch.manual_seed(0)


def static(capsys, target, *extra):
    rc = main(["check", target, *extra, "--format", "json"])
    return rc, json.loads(capsys.readouterr().out)


def sets(doc):
    fp = doc["from_pretrained"]
    return sorted(fp["newly_initialized"]), sorted(fp["unused"]), sorted(m["key"] for m in fp["mismatched"])


def truth(cls, folder):
    _m, info = cls.from_pretrained(folder, output_loading_info=True, ignore_mismatched_sizes=True)
    return (sorted(info["missing_keys"]), sorted(info["unexpected_keys"]),
            sorted(k for k, *_ in info["mismatched_keys"]))


def modeling_file(cls):
    import inspect

    return inspect.getsourcefile(cls)


def mixtral_folder(tmp_path, name="mixtral"):
    model = transformers.MixtralForCausalLM(transformers.MixtralConfig(**MIXTRAL))
    folder = str(tmp_path / name)
    model.save_pretrained(folder)
    return folder


def edit(folder, fn):
    path = os.path.join(folder, "model.safetensors")
    sd = load_file(path)
    sd = fn(sd)
    save_file(sd, path, metadata={"format": "pt"})


def test_mixtral_folder_loads_through_the_expert_converters(tmp_path, capsys):
    folder = mixtral_folder(tmp_path)
    stored = load_file(os.path.join(folder, "model.safetensors"))
    assert "model.layers.0.block_sparse_moe.experts.2.w3.weight" in stored  # stored per expert, held fused
    rc, doc = static(capsys, folder)
    assert sets(doc) == truth(transformers.MixtralForCausalLM, folder) == ([], [], [])
    fp = doc["from_pretrained"]
    assert fp["verdict"] == "loads" and not fp["unsure"]
    assert rc == 0
    fused = {k: v for c in fp["converted"] for k, v in c["to"].items()}
    assert fused["model.layers.0.mlp.experts.gate_up_proj"] == [3, 2 * 37, 32]
    assert fused["model.layers.1.mlp.experts.down_proj"] == [3, 32, 37]
    assert doc["verdict"] == "fails"  # torch's strict load_state_dict sees the per-expert names


def test_mixtral_folder_into_the_base_class_strips_the_prefix_after_converting(tmp_path, capsys):
    folder = mixtral_folder(tmp_path)
    target = f"{modeling_file(transformers.MixtralModel)}:MixtralModel"
    rc, doc = static(capsys, target, folder)
    want = truth(transformers.MixtralModel, folder)
    assert sets(doc) == want
    assert want[1] == ["lm_head.weight"]
    assert rc == 1


def test_an_expert_missing_from_the_file_is_a_size_mismatch_of_the_fused_tensor(tmp_path, capsys):
    folder = mixtral_folder(tmp_path)
    edit(folder, lambda sd: {k: v for k, v in sd.items() if ".layers.0.block_sparse_moe.experts.2." not in k})
    rc, doc = static(capsys, folder)
    want = truth(transformers.MixtralForCausalLM, folder)
    assert sets(doc) == want
    assert want[2] == ["model.layers.0.mlp.experts.down_proj", "model.layers.0.mlp.experts.gate_up_proj"]
    mism = {m["key"]: m for m in doc["from_pretrained"]["mismatched"]}
    assert mism["model.layers.0.mlp.experts.gate_up_proj"]["checkpoint"] == [2, 74, 32]
    assert rc == 1
    with pytest.raises(RuntimeError):  # without ignore_mismatched_sizes from_pretrained raises
        transformers.MixtralForCausalLM.from_pretrained(folder)


def test_one_expert_without_w3_is_a_conversion_error(tmp_path, capsys):
    folder = mixtral_folder(tmp_path)
    edit(folder, lambda sd: {k: v for k, v in sd.items() if k != "model.layers.1.block_sparse_moe.experts.1.w3.weight"})
    with pytest.raises(RuntimeError, match="conversion"):
        transformers.MixtralForCausalLM.from_pretrained(folder, ignore_mismatched_sizes=True)
    rc, doc = static(capsys, folder)
    fp = doc["from_pretrained"]
    assert [e["key"] for e in fp["conversion_errors"]] == ["model.layers.1.mlp.experts.gate_up_proj"]
    assert "Concatenate(dim=1)" in fp["conversion_errors"][0]["error"]
    assert fp["verdict"] == "fails" and rc == 1


def test_the_fused_layout_stored_as_is_loads_without_conversion(tmp_path, capsys):
    model = transformers.MixtralForCausalLM(transformers.MixtralConfig(**MIXTRAL))
    folder = mixtral_folder(tmp_path)
    sd = {k: v.contiguous() for k, v in model.state_dict().items()}
    save_file(sd, os.path.join(folder, "model.safetensors"), metadata={"format": "pt"})
    rc, doc = static(capsys, folder)
    assert sets(doc) == truth(transformers.MixtralForCausalLM, folder) == ([], [], [])
    assert not doc["from_pretrained"]["converted"]
    assert rc == 0


def test_qwen2_moe_folder(tmp_path, capsys):
    model = transformers.Qwen2MoeForCausalLM(transformers.Qwen2MoeConfig(**QWEN2_MOE))
    folder = str(tmp_path / "qwen2moe")
    model.save_pretrained(folder)
    rc, doc = static(capsys, folder)
    assert sets(doc) == truth(transformers.Qwen2MoeForCausalLM, folder) == ([], [], [])
    assert doc["from_pretrained"]["converted"]
    assert rc == 0


# -- the operations one by one, against transformers' WeightConverter.convert ----------------------------------

def _real_ops(ops):
    import transformers.core_model_loading as cml

    return [getattr(cml, o.name)(*o.args, **dict(o.kwargs)) for o in ops]


CASES = [
    # (source patterns, target patterns, ops, {source pattern: [shapes]}, layer)
    (["qkv"], ["q", "k", "v"], [Op("Chunk", (), (("dim", 0),))], {"qkv": [(7, 4)]}, "a.q"),
    (["qkv"], ["q", "k", "v", "w"], [Op("Chunk", (), (("dim", 0),))], {"qkv": [(6, 4)]}, "a.q"),
    (["w1", "w3"], ["w13"], [Op("Concatenate", (), (("dim", 0),))], {"w1": [(5, 4)], "w3": [(3, 4)]}, "a.w13"),
    (["e.*.a", "e.*.b"], ["e.ab"], [Op("MergeModulelist", (), (("dim", 0),)), Op("Concatenate", (), (("dim", 1),))],
     {"e.*.a": [(5, 4)] * 3, "e.*.b": [(2, 4)] * 3}, "m.e.ab"),
    (["e.*.a"], ["e.a"], [Op("MergeModulelist", (), (("dim", 1),))], {"e.*.a": [(5, 4)] * 2}, "m.e.a"),
    (["w"], ["v"], [Op("Transpose", (), (("dim0", 0), ("dim1", 1)))], {"w": [(5, 4)]}, "a.v"),
    (["w"], ["v"], [Op("Transpose", (1, 2))], {"w": [(3, 5, 4)]}, "a.v"),
    (["w"], ["v"], [Op("Interleave", (), (("dim", 1),))], {"w": [(3, 6)]}, "a.v"),
    (["w"], ["a", "b"], [Op("Interleave", (), (("dim", 0),)), Op("Chunk", (), (("dim", 0),))], {"w": [(8, 3)]}, "x.a"),
    # conversions transformers refuses
    (["e.*.a", "e.*.b"], ["e.ab"], [Op("MergeModulelist", (), (("dim", 0),)), Op("Concatenate", (), (("dim", 1),))],
     {"e.*.a": [(5, 4)] * 3, "e.*.b": [(5, 4)] * 2}, "m.e.ab"),
    (["e.*.a"], ["e.a"], [Op("MergeModulelist", (), (("dim", 0),))], {"e.*.a": [(5, 4), (5, 3)]}, "m.e.a"),
    (["w"], ["a", "b"], [Op("MergeModulelist", (), (("dim", 0),))], {"w": [(5, 4)]}, "x.a"),
    (["w"], ["v"], [Op("Interleave", (), (("dim", 1),))], {"w": [(3, 5)]}, "a.v"),
    (["w1", "w3"], ["w13"], [Op("Concatenate", (), (("dim", 0),))], {"w1": [(5, 4)], "w3": [(3, 2)]}, "a.w13"),
]


@pytest.mark.parametrize("case", CASES, ids=[f"{'+'.join(str(o) for o in c[2])}-{i}" for i, c in enumerate(CASES)])
def test_operations_match_transformers(case):
    from transformers.core_model_loading import WeightConverter

    sources, targets, ops, shapes, layer = case
    real = WeightConverter(list(sources), list(targets), operations=_real_ops(ops))
    for sp, ss in shapes.items():
        for s in ss:
            real.collected_tensors[sp].append(lambda s=s: torch.zeros(s))
    mine = Transform("convert", list(sources), list(targets), list(ops))
    try:
        got = convert(ops, {sp: list(ss) for sp, ss in shapes.items()}, mine.source_patterns, mine.target_patterns,
                      layer, {}, set())
    except ConversionError:
        got = None
    try:
        want = {k: tuple((v[0] if isinstance(v, list) else v).shape)
                for k, v in real.convert(layer, model=None, config=None).items()}
    except Exception:  # noqa: BLE001 - transformers raises (from_pretrained records a conversion error)
        want = None
    if got is not None:
        got = full_names(layer, got)
    assert got == want


def test_split_and_checked_transpose_read_the_model_shapes():
    import torch.nn as nn
    from transformers.core_model_loading import Split, Transpose, WeightConverter

    class M(nn.Module):
        def __init__(self):
            super().__init__()
            self.a = nn.Module()
            self.a.q = nn.Parameter(torch.zeros(5, 4))
            self.a.k = nn.Parameter(torch.zeros(3, 4))
            self.a.t = nn.Parameter(torch.zeros(2, 6, 5))

    m = M()
    model = {k: tuple(v.shape) for k, v in m.state_dict().items()}
    for shape in ((8, 4), (7, 4)):
        real = WeightConverter(["qk"], ["q", "k"], operations=[Split(dim=0)])
        real.collected_tensors["qk"].append(lambda s=shape: torch.zeros(s))
        try:
            want = {k: tuple(v.shape) for k, v in real.convert("a.q", model=m, config=None).items()}
        except Exception:  # noqa: BLE001
            want = None
        try:
            got = full_names("a.q", convert([Op("Split", (), (("dim", 0),))], {"qk": [shape]}, ["qk"], ["q", "k"],
                                            "a.q", model, set(model)))
        except ConversionError:
            got = None
        assert got == want
        assert (got is None) == (shape == (7, 4))
    for shape in ((2, 5, 6), (2, 6, 5)):
        real = WeightConverter(["w"], ["t"], operations=[Transpose(1, 2, check_dims=True)])
        real.collected_tensors["w"].append(lambda s=shape: torch.zeros(s))
        want = {k: tuple(v.shape) for k, v in real.convert("a.t", model=m, config=None).items()}
        got = full_names("a.t", convert([Op("Transpose", (1, 2), (("check_dims", True),))], {"w": [shape]}, ["w"],
                                        ["t"], "a.t", model, set(model)))
        assert got == want == {"a.t": (2, 6, 5)}


def test_an_operation_that_is_not_modelled_is_named():
    with pytest.raises(NotModelled, match="PermuteForRope"):
        convert([Op("Chunk", (), (("dim", 0),)), Op("PermuteForRope", (), ())], {"qkv": [(6, 4)]}, ["qkv"],
                ["q", "k"], "a.q", {}, set())
    with pytest.raises(NotModelled, match="config"):
        convert([Op("Chunk", (), (("dim", 0), ("num_shards_attribute", "n")))], {"w": [(6, 4)]}, ["w"], ["x.*"],
                "a.x.0", {}, set())


def test_every_converter_of_the_installed_mapping_is_read_with_its_operations():
    """Each WeightConverter of transformers' own table is read with the same patterns and the same operations
    (class and arguments), so what the shapes are computed from is transformers' mapping, not a copy."""
    from transformers.conversion_mapping import _build_checkpoint_conversion_mapping
    from transformers.core_model_loading import WeightConverter

    real = _build_checkpoint_conversion_mapping()
    ours = read_mapping(os.path.dirname(transformers.__file__))
    compared = 0
    for name, entries in real.items():
        mine = ours.get(name)
        if not isinstance(mine, list):
            continue
        for t_real, t_mine in zip(entries, mine):
            if not isinstance(t_real, WeightConverter):
                continue
            assert t_mine.kind == "convert" and t_mine.ops is not None, (name, t_real)
            assert t_mine.source_patterns == t_real.source_patterns, name
            assert t_mine.target_patterns == t_real.target_patterns, name
            assert [o.name for o in t_mine.ops] == [type(o).__name__ for o in t_real.operations], name
            for o_mine, o_real in zip(t_mine.ops, t_real.operations):
                rebuilt = _real_ops([o_mine])[0]
                assert vars(rebuilt) == vars(o_real), (name, o_mine)
            compared += 1
    assert compared > 50


def test_two_file_keys_for_one_model_key_the_first_fills_it(tmp_path, capsys):
    """A file holding a key with and without the base-model prefix: from_pretrained loads the first in its
    natural key order and silently drops the other (neither unused nor a mismatch)."""
    cfg = transformers.BertConfig(hidden_size=32, num_hidden_layers=1, num_attention_heads=4, intermediate_size=37,
                                  vocab_size=99, max_position_embeddings=64)
    folder = str(tmp_path / "bert")
    transformers.BertModel(cfg).save_pretrained(folder)
    edit(folder, lambda sd: {**sd, "bert.pooler.dense.bias": torch.zeros(5)})
    rc, doc = static(capsys, folder)
    want = truth(transformers.BertModel, folder)
    assert sets(doc) == want
    assert want[2] == ["pooler.dense.bias"]  # the prefixed one comes first and is the one loaded
    assert doc["from_pretrained"]["shadowed"] == [{"key": "pooler.dense.bias", "model_key": "pooler.dense.bias"}]
    assert rc == 1


@pytest.mark.parametrize("strip", [False, True], ids=["clip-model-file", "vision-keys-without-prefix"])
def test_prefix_change_of_the_clip_vision_tower(tmp_path, capsys, strip):
    """CLIPVisionModel's mapping is a PrefixChange (remove `vision_model.`): modelled as the WeightRenaming it
    builds. A whole CLIPModel file into CLIPVisionModel, and the vision tower's keys stored without the prefix."""
    vision = dict(hidden_size=32, num_hidden_layers=2, num_attention_heads=4, intermediate_size=37, image_size=32,
                  patch_size=8)
    text = dict(vocab_size=99, hidden_size=32, num_hidden_layers=2, num_attention_heads=4, intermediate_size=37,
                max_position_embeddings=16)
    folder = str(tmp_path / "clip")
    transformers.CLIPModel(transformers.CLIPConfig(text_config=text, vision_config=vision)).save_pretrained(folder)
    if strip:
        edit(folder, lambda sd: {k[len("vision_model."):]: v for k, v in sd.items() if k.startswith("vision_model.")})
    with open(os.path.join(folder, "config.json"), encoding="utf-8") as fh:
        vcfg = json.load(fh)["vision_config"]
    cfg = tmp_path / "vision.json"
    cfg.write_text(json.dumps(vcfg))
    target = f"{modeling_file(transformers.CLIPVisionModel)}:CLIPVisionModel"
    rc, doc = static(capsys, target, folder, "--config", f"config={cfg}")
    _m, info = transformers.CLIPVisionModel.from_pretrained(
        folder, config=transformers.CLIPVisionConfig(**vcfg), output_loading_info=True)
    want = (sorted(info["missing_keys"]), sorted(info["unexpected_keys"]), [])
    assert sets(doc) == want
    assert not doc["from_pretrained"]["unsure"]
    assert rc == (0 if want == ([], [], []) else 1)
    if not strip:
        assert want[1] and all(k.startswith(("text_model.", "text_projection", "visual_projection", "logit_scale"))
                               for k in want[1])
