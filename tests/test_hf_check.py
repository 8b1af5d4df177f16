"""`check` of Hugging Face folders against transformers' own from_pretrained(..., output_loading_info=True).

Each folder is written by ``save_pretrained`` (safetensors, .bin, sharded), or edited to look like an old
transformers version wrote it (a persistent ``position_ids`` buffer). The static check -- no transformers, no
torch -- must report exactly from_pretrained's missing (newly initialized), unexpected (unused) and size-
mismatched keys, and exit 0 only when from_pretrained loads everything.
"""

from __future__ import annotations

import json
import os

import pytest

transformers = pytest.importorskip("transformers")
torch = pytest.importorskip("torch")

from statedict_lint.cli import main  # noqa: E402

TINY_BERT = dict(hidden_size=32, num_hidden_layers=2, num_attention_heads=4, intermediate_size=37, vocab_size=99,
                 max_position_embeddings=64)
TINY_VIT = dict(hidden_size=32, num_hidden_layers=2, num_attention_heads=4, intermediate_size=37, image_size=32,
                patch_size=8)


@pytest.fixture(scope="module", autouse=True)
def quiet():
    from transformers.utils import logging

    logging.set_verbosity_error()
    torch.manual_seed(0)


def save(model, folder, **kw):
    model.save_pretrained(str(folder), **kw)
    return str(folder)


def truth(cls, folder, **kw):
    _m, info = cls.from_pretrained(folder, output_loading_info=True, **kw)
    return (sorted(info["missing_keys"]), sorted(info["unexpected_keys"]),
            sorted(k for k, *_ in info["mismatched_keys"]))


def static(capsys, target, folder=None, *extra):
    argv = ["check", target] + ([folder] if folder else []) + ["--format", "json"] + list(extra)
    rc = main(argv)
    out = capsys.readouterr().out
    return rc, json.loads(out)


def _sets(doc):
    fp = doc["from_pretrained"]
    return sorted(fp["newly_initialized"]), sorted(fp["unused"]), sorted(m["key"] for m in fp["mismatched"])


def modeling_file(cls):
    import inspect

    return inspect.getsourcefile(cls)


def test_same_class_safetensors_loads_with_tied_weights_absent(tmp_path, capsys):
    folder = save(transformers.BertForMaskedLM(transformers.BertConfig(**TINY_BERT)), tmp_path / "mlm")
    rc, doc = static(capsys, folder)
    assert _sets(doc) == truth(transformers.BertForMaskedLM, folder) == ([], [], [])
    assert rc == 0
    assert doc["semantics"] == "from_pretrained"
    assert doc["verdict"] == "fails"  # torch's strict load misses the tied decoder weight the file leaves out
    assert {t["key"] for t in doc["from_pretrained"]["tied_not_in_file"]} == {"cls.predictions.decoder.weight",
                                                                               "cls.predictions.decoder.bias"}
    rc, _doc = static(capsys, folder, None, "--semantics", "strict")
    assert rc == 1


def test_head_checkpoint_into_base_class_strips_the_prefix(tmp_path, capsys):
    folder = save(transformers.BertForMaskedLM(transformers.BertConfig(**TINY_BERT)), tmp_path / "mlm")
    target = f"{modeling_file(transformers.BertModel)}:BertModel"
    rc, doc = static(capsys, target, folder)
    want = truth(transformers.BertModel, folder)
    assert _sets(doc) == want
    assert want[0] and want[1]  # pooler newly initialized, the MLM head unused
    assert doc["from_pretrained"]["prefix_stripped"]
    assert rc == 1


def test_base_checkpoint_into_head_class_adds_the_prefix(tmp_path, capsys):
    folder = save(transformers.BertModel(transformers.BertConfig(**TINY_BERT)), tmp_path / "base")
    target = f"{modeling_file(transformers.BertForSequenceClassification)}:BertForSequenceClassification"
    rc, doc = static(capsys, target, folder)
    assert _sets(doc) == truth(transformers.BertForSequenceClassification, folder)
    assert doc["from_pretrained"]["newly_initialized"] == ["classifier.weight", "classifier.bias"]
    assert doc["from_pretrained"]["prefix_added"]
    assert rc == 1


@pytest.mark.parametrize("kw", [dict(bin=True), dict(max_shard_size="20KB")], ids=["bin", "sharded"])
def test_bin_and_sharded_folders(tmp_path, capsys, kw):
    model = transformers.GPT2LMHeadModel(transformers.GPT2Config(vocab_size=99, n_embd=32, n_layer=2, n_head=4,
                                                                   n_positions=64))
    if kw.get("bin"):  # transformers 5 writes safetensors only; a .bin folder as transformers 4 wrote it
        folder = save(model, tmp_path / "gpt2")
        os.remove(os.path.join(folder, "model.safetensors"))
        torch.save(model.state_dict(), os.path.join(folder, "pytorch_model.bin"))
    else:
        folder = save(model, tmp_path / "gpt2", **kw)
    names = os.listdir(folder)
    assert any(n.endswith(".bin") for n in names) if kw.get("bin") else \
        any(n.endswith(".index.json") for n in names)
    rc, doc = static(capsys, folder)
    assert _sets(doc) == truth(transformers.GPT2LMHeadModel, folder) == ([], [], [])
    assert rc == 0


def test_size_mismatch_is_reported_as_from_pretrained_does(tmp_path, capsys):
    cfg = transformers.BertConfig(**TINY_BERT, num_labels=2)
    folder = save(transformers.BertForSequenceClassification(cfg), tmp_path / "cls2")
    with open(os.path.join(folder, "config.json"), encoding="utf-8") as fh:
        data = json.load(fh)
    data["id2label"] = {"0": "a", "1": "b", "2": "c"}
    data.pop("label2id", None)
    cfg3 = tmp_path / "cfg3.json"
    cfg3.write_text(json.dumps(data))
    target = f"{modeling_file(transformers.BertForSequenceClassification)}:BertForSequenceClassification"
    rc, doc = static(capsys, target, folder, "--config", f"config={cfg3}")
    want = truth(transformers.BertForSequenceClassification, folder, num_labels=3, ignore_mismatched_sizes=True)
    assert _sets(doc) == want
    assert want[2] == ["classifier.bias", "classifier.weight"]
    assert rc == 1
    sizes = [f for f in doc["from_pretrained"]["findings"] if f["code"] == "SDL303"]
    assert sorted(f["extra"]["key"] for f in sizes) == want[2]
    assert all(f["path"].endswith("modeling_bert.py") and f["line"] > 0 for f in sizes)


def test_vit_keys_renamed_in_transformers_5_load_through_the_conversion_mapping(tmp_path, capsys):
    folder = save(transformers.ViTModel(transformers.ViTConfig(**TINY_VIT)), tmp_path / "vit")
    with open(os.path.join(folder, "config.json"), encoding="utf-8") as fh:
        arch = json.load(fh)["architectures"]
    assert arch == ["ViTModel"]
    rc, doc = static(capsys, folder)
    assert doc["missing_keys"] and doc["unexpected_keys"]  # torch's strict load: the file holds the stored names
    assert _sets(doc) == truth(transformers.ViTModel, folder) == ([], [], [])
    assert any(r["from"].startswith("encoder.layer.0.attention.attention.query")
               for r in doc["from_pretrained"]["renamed"])
    assert rc == 0
    target = f"{modeling_file(transformers.ViTForImageClassification)}:ViTForImageClassification"
    rc, doc = static(capsys, target, folder)
    assert _sets(doc) == truth(transformers.ViTForImageClassification, folder)
    assert rc == 1  # the classifier is newly initialized


def test_old_folder_with_a_persistent_position_ids_buffer(tmp_path, capsys):
    from safetensors.torch import load_file, save_file

    folder = save(transformers.BertModel(transformers.BertConfig(**TINY_BERT)), tmp_path / "old")
    path = os.path.join(folder, "model.safetensors")
    sd = load_file(path)
    sd["embeddings.position_ids"] = torch.arange(64).expand((1, -1)).contiguous()
    save_file(sd, path, metadata={"format": "pt"})
    rc, doc = static(capsys, folder)
    assert _sets(doc) == truth(transformers.BertModel, folder) == ([], [], [])
    assert doc["from_pretrained"]["ignored_unexpected"] == ["embeddings.position_ids"]
    assert doc["unexpected_keys"] == ["embeddings.position_ids"]  # a strict load_state_dict refuses it
    assert rc == 0


def _run(capsys, argv):
    rc = main(argv)
    return rc, capsys.readouterr().out


@pytest.mark.parametrize("into,extra", [(None, []), ("BertModel", []), (None, ["--semantics", "strict"])],
                         ids=["fp-loads", "fp-fails", "strict-decides"])
def test_machine_formats_carry_the_deciding_verdict(tmp_path, capsys, into, extra):
    """json, sarif and github say what the text output says: the deciding verdict (from_pretrained's for a
    transformers class unless --semantics strict), its findings, and the same exit status."""
    folder = save(transformers.BertForMaskedLM(transformers.BertConfig(**TINY_BERT)), tmp_path / "mlm")
    target = [folder] if into is None else [f"{modeling_file(getattr(transformers, into))}:{into}", folder]
    rc_text, text = _run(capsys, ["check", *target, *extra])
    strict = bool(extra)
    head = next(line for line in text.splitlines() if not line.startswith("note:"))
    want = {"OK": "loads", "NOT CLEAN": "fails", "UNSURE": "unsure", "FAIL": "fails"}[head.split(":")[0]]
    assert ("from_pretrained of" in head) != strict  # the deciding verdict comes first
    rc_json, out = _run(capsys, ["check", *target, *extra, "--format", "json"])
    doc = json.loads(out)
    assert doc["deciding_verdict"] == want and rc_json == rc_text == (0 if want == "loads" else 1)
    rc_sarif, out = _run(capsys, ["check", *target, *extra, "--format", "sarif"])
    run = json.loads(out)["runs"][0]
    assert run["properties"]["verdict"] == want and rc_sarif == rc_text
    assert run["properties"]["semantics"] == ("strict" if strict else "from_pretrained")
    results = {r["ruleId"]: r for r in run["results"]}
    rc_gh, gh = _run(capsys, ["check", *target, *extra, "--format", "github"])
    assert rc_gh == rc_text
    assert gh.splitlines()[0].startswith({"loads": "::notice", "fails": "::error", "unsure": "::warning"}[want])
    if strict:  # the strict findings: the tied decoder weight is not in the file
        assert doc["verdict"] == want == "fails"
        assert set(results) == {f["code"] for f in doc["findings"]}
        return
    fp = doc["from_pretrained"]
    assert {f["code"] for f in fp["findings"]} == set(results)
    if want == "loads":
        assert not [r for r in run["results"] if r["level"] == "error"] and "::error" not in gh
        assert doc["verdict"] == "fails"  # the strict verdict, for information: not what decides
        return
    # BertForMaskedLM's file into BertModel: the pooler newly initialized, the MLM head not used
    assert sorted(results["SDL314"]["properties"]["keys"]) == sorted(fp["newly_initialized"]) == \
        ["pooler.dense.bias", "pooler.dense.weight"]
    assert sorted(results["SDL315"]["properties"]["keys"]) == sorted(fp["unused"])
    assert results["SDL314"]["locations"][0]["physicalLocation"]["artifactLocation"]["uri"].endswith("modeling_bert.py")
    assert "SDL314" in gh and "SDL315" in gh and "SDL301" not in gh
