"""`check`'s explanations against real torch: the argument / config value behind a size mismatch, the printed
one-line fixes (wrapper prefixes, renames, non-persistent buffers, num_batches_tracked) applied to the real
state dict until strict load succeeds, and the SARIF / GitHub outputs (SARIF against the official schema)."""

from __future__ import annotations

import json
import os
from collections import OrderedDict

import jsonschema
import pytest

torch = pytest.importorskip("torch")
nn = torch.nn

from statedict_lint.cli import main  # noqa: E402

from conftest import REPO, load_module_from_path  # noqa: E402

CNN = os.path.join(REPO, "fixtures", "checkpoints", "small_cnn.py")
GPT = os.path.join(REPO, "fixtures", "gpt.py")
SCHEMA = os.path.join(REPO, "tests", "data", "sarif-schema-2.1.0.json")
cnn_mod = load_module_from_path(CNN)
gpt_mod = load_module_from_path(GPT)


def check_json(capsys, *argv):
    rc = main(["check", *argv, "--format", "json"])
    return rc, json.loads(capsys.readouterr().out)


def strict_error(model, sd):
    try:
        model.load_state_dict(sd, strict=True)
        return None
    except RuntimeError as exc:
        return str(exc)


def size_mismatches(msg):
    return msg.count("size mismatch for ") if msg else 0


def per_key(data, code):
    """The per-key messages of findings of ``code``, also those folded into a grouped finding (extra.members)."""
    out = []
    for f in data["findings"]:
        for m in f.get("extra", {}).get("members", [f["message"]]):
            if m.startswith("size mismatch for ") == (code == "SDL303") and (code == "SDL303" or f["code"] == code):
                out.append(m)
    return out


def cause(data):
    """The one finding naming a constructor value as the cause (SDL310), and the keys it covers."""
    (note,) = [f for f in data["findings"] if f["code"] == "SDL310"]
    return note


# -- the value behind a size mismatch ----------------------------------------------------------------------
def test_default_argument_behind_size_mismatch(tmp_path, capsys):
    path = str(tmp_path / "ck.pt")
    torch.save(cnn_mod.SmallCNN(num_classes=1000).state_dict(), path)
    sd = torch.load(path, weights_only=True)
    assert size_mismatches(strict_error(cnn_mod.SmallCNN(), sd)) == 2
    rc, data = check_json(capsys, f"{CNN}:SmallCNN", path)
    assert rc == 1
    note = cause(data)
    assert {k: note["extra"][k] for k in ("name", "model", "checkpoint", "mismatches")} == \
        {"name": "num_classes", "model": 10, "checkpoint": 1000, "mismatches": 2}
    assert sorted(note["extra"]["keys"]) == ["head.bias", "head.weight"]
    assert note["line"] == 18  # def __init__(self, num_classes=10, ...)
    assert note["message"].startswith("2 size mismatches: the checkpoint has num_classes=1000, the model has "
                                      "num_classes=10 (the default of __init__, line 18)")
    assert not [f for f in data["findings"] if f["code"] == "SDL303"]  # folded into the cause, said once
    assert len(per_key(data, "SDL303")) == 2
    for m in per_key(data, "SDL303"):
        assert "`num_classes` is 10 here (the default of __init__, line 18)" in m
        assert "num_classes=1000" in m
    # the suggestion is right: torch loads the file into the class built with it, and so does check
    assert strict_error(cnn_mod.SmallCNN(num_classes=1000), sd) is None
    assert main(["check", f"{CNN}:SmallCNN", path, "--set", "num_classes=1000"]) == 0
    capsys.readouterr()


def test_width_behind_every_mismatch(tmp_path, capsys):
    path = str(tmp_path / "ck.pt")
    torch.save(cnn_mod.SmallCNN(width=16).state_dict(), path)
    msg = strict_error(cnn_mod.SmallCNN(), torch.load(path, weights_only=True))
    rc, data = check_json(capsys, f"{CNN}:SmallCNN", path)
    assert rc == 1 and len(data["size_mismatches"]) == size_mismatches(msg) == 18
    note = cause(data)
    assert note["extra"]["name"] == "width" and note["extra"]["checkpoint"] == 16
    assert note["extra"]["mismatches"] == 18 and len(note["extra"]["keys"]) == 18
    assert strict_error(cnn_mod.SmallCNN(width=16), torch.load(path, weights_only=True)) is None


def test_set_value_behind_mismatch(tmp_path, capsys):
    path = str(tmp_path / "ck.pt")
    torch.save(cnn_mod.SmallCNN(num_classes=7).state_dict(), path)
    rc, data = check_json(capsys, f"{CNN}:SmallCNN", path, "--set", "num_classes=5")
    assert rc == 1
    note = cause(data)
    assert {k: note["extra"][k] for k in ("name", "model", "checkpoint", "mismatches")} == \
        {"name": "num_classes", "model": 5, "checkpoint": 7, "mismatches": 2}
    assert "(--set)" in note["message"]


def test_config_value_behind_mismatch(tmp_path, capsys):
    cfg = dict(n_layer=2, n_head=2, n_embd=32, vocab_size=40, block_size=8)
    m = gpt_mod.GPT(gpt_mod.GPTConfig(**cfg))
    path = str(tmp_path / "ck.pt")
    torch.save({"model": m.state_dict(), "iter_num": 5}, path)
    sets = [x for k, v in cfg.items() if k != "n_embd" for x in ("--set", f"config.{k}={v}")]
    sets += ["--set", "config.bias=True", "--set", "config.dropout=0.0"]
    wrong = gpt_mod.GPT(gpt_mod.GPTConfig(**{**cfg, "n_embd": 48}))
    msg = strict_error(wrong, m.state_dict())
    rc, data = check_json(capsys, f"{GPT}:GPT", path, *sets, "--set", "config.n_embd=48")
    assert rc == 1 and len(data["size_mismatches"]) == size_mismatches(msg)
    note = cause(data)
    assert note["extra"]["name"] == "config.n_embd" and note["extra"]["checkpoint"] == 32
    c_fc = next(m for m in per_key(data, "SDL303") if "mlp.c_fc.weight" in m)
    assert "`4*config.n_embd` = 192 here with config.n_embd=48 (--set)" in c_fc
    assert "the checkpoint's 128 means config.n_embd=32" in c_fc
    assert main(["check", f"{GPT}:GPT", path, *sets, "--set", "config.n_embd=32"]) == 0
    capsys.readouterr()


def test_literal_dimension_is_named_and_not_solved(tmp_path, capsys):
    sd = cnn_mod.SmallCNN().state_dict()
    sd["stem.0.weight"] = torch.zeros(8, 1, 3, 3)  # a 1-channel stem: the source says nn.Conv2d(3, width, 3)
    path = str(tmp_path / "ck.pt")
    torch.save(sd, path)
    assert size_mismatches(strict_error(cnn_mod.SmallCNN(), sd)) == 1
    rc, data = check_json(capsys, f"{CNN}:SmallCNN", path)
    (f,) = [f for f in data["findings"] if f["code"] == "SDL303"]
    assert rc == 1 and "dim 1 is the literal 3 in the source" in f["message"]
    assert not [f for f in data["findings"] if f["code"] == "SDL310"]


def test_disagreeing_mismatches_give_no_single_value(tmp_path, capsys):
    sd = cnn_mod.SmallCNN().state_dict()
    sd["head.weight"] = torch.zeros(12, 8)
    sd["head.bias"] = torch.zeros(13)  # no num_classes explains both
    path = str(tmp_path / "ck.pt")
    torch.save(sd, path)
    rc, data = check_json(capsys, f"{CNN}:SmallCNN", path)
    assert rc == 1 and size_mismatches(strict_error(cnn_mod.SmallCNN(), sd)) == 2
    assert not [f for f in data["findings"] if f["code"] == "SDL310"]
    msgs = [f["message"] for f in data["findings"] if f["code"] == "SDL303"]
    assert any("num_classes=12" in m for m in msgs) and any("num_classes=13" in m for m in msgs)


# -- the printed fixes, applied to the real state dict ---------------------------------------------------
class _Holder(nn.Module):
    def __init__(self, attr, inner):
        super().__init__()
        setattr(self, attr, inner)


def _fsdp_inner():
    m = cnn_mod.SmallCNN()
    m.blocks[0] = _Holder("_fsdp_wrapped_module", m.blocks[0])
    return m


WRAPPED = {
    "dataparallel": lambda: nn.DataParallel(cnn_mod.SmallCNN()),
    # torch.compile's OptimizedModule holds the model as `_orig_mod` (the real one is covered, slower, in
    # test_check_differential.py); a plain holder gives the same keys without dynamo's start-up
    "compiled": lambda: _Holder("_orig_mod", cnn_mod.SmallCNN()),
    "fabric": lambda: _Holder("_forward_module", cnn_mod.SmallCNN()),
    "fsdp_nested": lambda: _Holder("_fsdp_wrapped_module", _fsdp_inner()),
    "lightning_compiled": lambda: _Holder("model", _Holder("_orig_mod", cnn_mod.SmallCNN())),
}


def _apply(fix, sd):
    code = fix.split("  (or ")[0]
    env = {"sd": sd}
    exec(code, {}, env)  # noqa: S102 - the one-liner check printed
    return env["sd"]


@pytest.mark.parametrize("wrapper", sorted(WRAPPED))
def test_prefix_fix_one_liner_makes_strict_load_succeed(tmp_path, capsys, wrapper):
    sd = WRAPPED[wrapper]().state_dict()
    path = str(tmp_path / "ck.pt")
    torch.save(sd, path)
    assert strict_error(cnn_mod.SmallCNN(), sd) is not None
    rc, data = check_json(capsys, f"{CNN}:SmallCNN", path)
    (f,) = [f for f in data["findings"] if f["code"] == "SDL304"]
    assert rc == 1 and "remain" not in f["message"]  # nothing is left after the fix
    fixed = _apply(f["extra"]["fix"], torch.load(path, weights_only=True))
    assert strict_error(cnn_mod.SmallCNN(), fixed) is None


def test_rename_suggestion_applied_loads(tmp_path, capsys):
    base = cnn_mod.SmallCNN().state_dict()
    sd = OrderedDict((k.replace("blocks.", "layers."), v) for k, v in base.items())
    sd._metadata = OrderedDict((k.replace("blocks.", "layers."), v) for k, v in base._metadata.items())
    path = str(tmp_path / "ck.pt")
    torch.save(sd, path)
    rc, data = check_json(capsys, f"{CNN}:SmallCNN", path)
    (f,) = [f for f in data["findings"] if f["code"] == "SDL305"]
    assert rc == 1 and f["extra"]["old_prefix"] == "layers." and f["extra"]["new_prefix"] == "blocks."
    assert 0.5 < f["extra"]["confidence"] <= 1.0 and "confidence" in f["message"]
    fix = f["message"].split("): ", 1)[1]
    assert strict_error(cnn_mod.SmallCNN(), _apply(fix, torch.load(path, weights_only=True))) is None


def test_single_key_rename_has_confidence_and_reason(tmp_path, capsys):
    base = cnn_mod.SmallCNN().state_dict()
    sd = OrderedDict(("scales" if k == "scale" else k, v) for k, v in base.items())
    sd._metadata = base._metadata
    path = str(tmp_path / "ck.pt")
    torch.save(sd, path)
    msg = strict_error(cnn_mod.SmallCNN(), sd)
    assert '"scale"' in msg and '"scales"' in msg
    rc, data = check_json(capsys, f"{CNN}:SmallCNN", path)
    assert rc == 1 and data["missing_keys"] == ["scale"] and data["unexpected_keys"] == ["scales"]
    (f,) = [f for f in data["findings"] if f["code"] == "SDL305"]
    assert f["extra"]["old"] == "scales" and f["extra"]["new"] == "scale"
    assert 0 < f["extra"]["confidence"] <= 1 and f["line"] == 23
    sd["scale"] = sd.pop("scales")
    assert strict_error(cnn_mod.SmallCNN(), sd) is None


def test_nonpersistent_and_nbt_fixes(tmp_path, capsys):
    sd = cnn_mod.SmallCNN().state_dict()
    sd["cache"] = torch.zeros(4)
    for k in [k for k in sd if k.endswith("num_batches_tracked")]:
        del sd[k]
    path = str(tmp_path / "ck.pt")
    torch.save(sd, path)
    msg = strict_error(cnn_mod.SmallCNN(), sd)
    assert '"cache"' in msg and "num_batches_tracked" in msg
    rc, data = check_json(capsys, f"{CNN}:SmallCNN", path)
    assert rc == 1
    np_f = [f for f in data["findings"] if f["code"] == "SDL306"]
    (nbt,) = [f for f in data["findings"] if f["code"] == "SDL307"]  # one finding, one fix for the 3 counters
    assert len(np_f) == 1 and nbt["extra"]["count"] == 3 and len(nbt["extra"]["keys"]) == 3
    assert nbt["message"].startswith("3 BatchNorm num_batches_tracked keys are missing")
    env = {"sd": torch.load(path, weights_only=True), "torch": torch, "model": cnn_mod.SmallCNN()}
    exec(np_f[0]["message"].split("drop it: ")[1], env)  # noqa: S102
    exec(nbt["message"].split("safe to add them: ")[1], env)  # noqa: S102
    assert strict_error(cnn_mod.SmallCNN(), env["sd"]) is None


# -- SARIF / GitHub --------------------------------------------------------------------------------------
def _validate(log):
    with open(SCHEMA, encoding="utf-8") as fh:
        schema = json.load(fh)
    jsonschema.Draft4Validator(schema, format_checker=jsonschema.FormatChecker()).validate(log)


def test_sarif_output_validates(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(REPO)
    good, bad = str(tmp_path / "good.pt"), str(tmp_path / "bad.pt")
    torch.save(cnn_mod.SmallCNN().state_dict(), good)
    torch.save(nn.DataParallel(cnn_mod.SmallCNN(num_classes=3)).state_dict(), bad)
    assert main(["check", f"{CNN}:SmallCNN", bad, "--format", "sarif"]) == 1
    log = json.loads(capsys.readouterr().out)
    _validate(log)
    run = log["runs"][0]
    assert run["properties"]["verdict"] == "fails" and run["properties"]["strictLoadSucceeds"] is False
    ids = [r["ruleId"] for r in run["results"]]
    # the 2 size mismatches have one cause (num_classes=3): one result, at the default, listing both keys
    assert "SDL304" in ids and ids.count("SDL310") == 1 and "SDL303" not in ids
    cause = next(r for r in run["results"] if r["ruleId"] == "SDL310")
    assert cause["level"] == "error" and "num_classes=3" in cause["message"]["text"]
    assert sorted(cause["properties"]["keys"]) == ["head.bias", "head.weight"]
    loc = cause["locations"][0]["physicalLocation"]
    assert loc["artifactLocation"]["uri"] == "fixtures/checkpoints/small_cnn.py"
    assert loc["region"]["startLine"] == 18
    assert main(["check", f"{CNN}:SmallCNN", good, "--format", "sarif"]) == 0
    log = json.loads(capsys.readouterr().out)
    _validate(log)
    assert log["runs"][0]["results"] == [] and log["runs"][0]["properties"]["strictLoadSucceeds"] is True


def test_github_annotations(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(REPO)
    path = str(tmp_path / "ck.pt")
    torch.save(cnn_mod.SmallCNN(num_classes=3).state_dict(), path)
    assert main(["check", f"{CNN}:SmallCNN", path, "--format", "github"]) == 1
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("::error title=statedict-lint check::FAIL: ")
    (cause,) = [ln for ln in lines if "SDL310" in ln]
    assert cause.startswith("::error file=fixtures/checkpoints/small_cnn.py,line=18,")
    assert "2 size mismatches: the checkpoint has num_classes=3" in cause and "head.weight" in cause
    assert not [ln for ln in lines if "SDL303" in ln]


def test_unsure_lines_become_notes(unresolved_model_ckpt, capsys):
    target, path = unresolved_model_ckpt
    assert main(["check", target, path, "--format", "sarif"]) == 1
    log = json.loads(capsys.readouterr().out)
    _validate(log)
    assert log["runs"][0]["properties"]["verdict"] == "unsure"
    notes = [r for r in log["runs"][0]["results"] if r["ruleId"] == "SDL312"]
    assert notes and all(r["level"] == "note" for r in notes)
    assert any("body.weight" in r["message"]["text"] for r in notes)
    assert main(["check", target, path, "--format", "github"]) == 1
    assert capsys.readouterr().out.startswith("::warning title=statedict-lint check::UNSURE")


def test_contradicting_shapes_are_not_called_the_checkpoints_value(tmp_path, capsys):
    lm_mod = load_module_from_path(os.path.join(REPO, "fixtures", "checkpoints", "tiny_lm.py"))
    sd = lm_mod.TinyLM(vocab_size=37, n_embd=8, n_layer=4).state_dict()
    sd["h.1.fc.weight"] = torch.zeros(40, 8)  # 4*n_embd = 40 would need n_embd=10; every other key says 8
    path = str(tmp_path / "lm.pt")
    torch.save(sd, path)
    assert size_mismatches(strict_error(lm_mod.TinyLM(37, 8, 4), sd)) == 1
    assert size_mismatches(strict_error(lm_mod.TinyLM(37, 10, 4), sd)) > 1  # n_embd=10 is no fix
    lm = os.path.join(REPO, "fixtures", "checkpoints", "tiny_lm.py")
    rc, data = check_json(capsys, f"{lm}:TinyLM", path, "--set", "n_embd=8", "--set", "vocab_size=37",
                          "--set", "n_layer=4")
    assert rc == 1
    assert not [f for f in data["findings"] if f["code"] == "SDL310"]
    (f,) = [f for f in data["findings"] if f["code"] == "SDL303"]
    assert "would need n_embd=10" in f["message"] and "contradict" in f["message"]
    assert "means n_embd=10" not in f["message"]


@pytest.mark.parametrize("dropped", ["wte.weight", "lm_head.weight"])
def test_tied_key_dropped_from_sharded_safetensors(tmp_path, capsys, dropped):
    """HF-style: a sharded safetensors checkpoint that leaves out one name of a tied pair (either one)."""
    st = pytest.importorskip("safetensors.torch")
    lm_path = os.path.join(REPO, "fixtures", "checkpoints", "tiny_lm.py")
    lm_mod = load_module_from_path(lm_path)
    args = dict(vocab_size=37, n_embd=8, n_layer=2)
    sd = {k: v.contiguous().clone() for k, v in lm_mod.TinyLM(**args).state_dict().items() if k != dropped}
    keys = sorted(sd)
    weight_map = {}
    for i, part in enumerate((keys[:4], keys[4:])):
        name = f"model-{i + 1:05d}-of-00002.safetensors"
        st.save_file({k: sd[k] for k in part}, str(tmp_path / name))
        weight_map.update({k: name for k in part})
    (tmp_path / "model.safetensors.index.json").write_text(json.dumps({"metadata": {}, "weight_map": weight_map}))
    msg = strict_error(lm_mod.TinyLM(**args), dict(sd))
    assert f'"{dropped}"' in msg and "Missing key" in msg
    rc, data = check_json(capsys, f"{lm_path}:TinyLM", str(tmp_path), *[x for k, v in args.items()
                                                                         for x in ("--set", f"{k}={v}")])
    assert rc == 1 and data["missing_keys"] == [dropped]
    (f,) = [f for f in data["findings"] if f["code"] == "SDL308"]
    fix = f["message"].split("(tied weights saved without the alias): ")[1].split(", or tie")[0]
    env = {"sd": dict(sd)}
    exec(fix, {}, env)  # noqa: S102 - the one-liner check printed
    assert strict_error(lm_mod.TinyLM(**args), env["sd"]) is None


def test_non_tensor_values_in_the_state_dict(tmp_path, capsys):
    sd = cnn_mod.SmallCNN().state_dict()
    sd["scale"] = [1.0] * 8  # a list where the model has a buffer
    sd["step"] = 5  # a plain value the model does not have
    path = str(tmp_path / "ck.pt")
    torch.save(sd, path)
    msg = strict_error(cnn_mod.SmallCNN(), sd)
    assert 'While copying the parameter named "scale"' in msg and '"step"' in msg
    rc, data = check_json(capsys, f"{CNN}:SmallCNN", path)
    assert rc == 1 and data["not_tensors"] == ["scale"] and data["unexpected_keys"] == ["step"]
    (f,) = [f for f in data["findings"] if f["code"] == "SDL313"]
    assert f["line"] == 23 and "list" in f["message"]
    assert main(["check", f"{CNN}:SmallCNN", path]) == 1
    assert "1 not a tensor" in capsys.readouterr().out.splitlines()[0]


def test_container_with_plain_values_is_still_a_container(tmp_path, capsys):
    sd = cnn_mod.SmallCNN().state_dict()
    path = str(tmp_path / "ck.pt")
    torch.save({"model": sd, "epoch": 3, "w": torch.zeros(1)}, path)  # a dict value: a container, not a state_dict
    rc, data = check_json(capsys, f"{CNN}:SmallCNN", path)
    assert rc == 0 and data["container"] == "model"


def test_size_mismatch_behind_a_wrapper_prefix_is_explained(tmp_path, capsys):
    sd = _Holder("_orig_mod", cnn_mod.SmallCNN(num_classes=3)).state_dict()  # torch.compile's keys (nanoGPT)
    path = str(tmp_path / "ck.pt")
    torch.save({"model": sd, "iter_num": 10}, path)
    rc, data = check_json(capsys, f"{CNN}:SmallCNN", path)
    assert rc == 1 and data["wrapper_prefix"] == "_orig_mod." and data["size_mismatches"] == []
    note = cause(data)
    assert {k: note["extra"][k] for k in ("name", "model", "checkpoint", "mismatches")} == \
        {"name": "num_classes", "model": 10, "checkpoint": 3, "mismatches": 2}
    assert sorted(note["extra"]["keys"]) == ["head.bias", "head.weight"]  # without the prefix: after the fix
    fixed = {k.removeprefix("_orig_mod."): v for k, v in sd.items()}
    assert size_mismatches(strict_error(cnn_mod.SmallCNN(), fixed)) == 2
    assert strict_error(cnn_mod.SmallCNN(num_classes=3), fixed) is None
