"""`check` against torch: real checkpoints saved by torch in every format and wrapper, loaded with
load_state_dict(strict=True); check must report exactly torch's missing / unexpected / size-mismatch sets."""

from __future__ import annotations

import json
import os
import re
from collections import OrderedDict

import pytest

torch = pytest.importorskip("torch")
safetensors_torch = pytest.importorskip("safetensors.torch")
nn = torch.nn

from statedict_lint.checkpoint import read  # noqa: E402
from statedict_lint.checkpoint.container import find_state_dict  # noqa: E402
from statedict_lint.cli import main  # noqa: E402
from statedict_lint.check.compare import compare  # noqa: E402
from statedict_lint.predict.api import predict  # noqa: E402

from conftest import REPO, load_module_from_path  # noqa: E402

CNN = os.path.join(REPO, "fixtures", "checkpoints", "small_cnn.py")
LM = os.path.join(REPO, "fixtures", "checkpoints", "tiny_lm.py")
cnn_mod = load_module_from_path(CNN)
lm_mod = load_module_from_path(LM)
_PRED = {}


def _predict(path, cls, bindings=None):
    key = (path, cls, json.dumps(bindings or {}, sort_keys=True))
    if key not in _PRED:
        _PRED[key] = predict(path, cls, bindings or {})
    return _PRED[key]


def torch_report(model, sd):
    """(missing, unexpected, size-mismatch) sets from a real strict load, parsed from torch's message."""
    try:
        model.load_state_dict(sd, strict=True)
        return set(), set(), set()
    except RuntimeError as exc:
        msg = str(exc)

    def keys(label):
        m = re.search(label + r" key\(s\) in state_dict: (.*?)\.\s*$", msg, re.M)
        return set(re.findall(r'"([^"]+)"', m.group(1))) if m else set()

    return keys("Missing"), keys("Unexpected"), set(re.findall(r"size mismatch for ([^:]+):", msg))


def load_with_torch(path, found_path):
    if path.endswith(".safetensors"):
        return safetensors_torch.load_file(path)
    obj = torch.load(path, weights_only=True)
    for k in found_path:
        obj = obj[k]
    return obj


def run_check(target_file, cls, path, bindings=None, key=None):
    ck = read(path)
    found = find_state_dict(ck, key)
    return compare(_predict(target_file, cls, bindings), ck, found), found


def assert_same_as_torch(model, target_file, cls, path, bindings=None, key=None, expect_path=None):
    res, found = run_check(target_file, cls, path, bindings, key)
    if expect_path is not None:
        assert found.path == expect_path
    sd = load_with_torch(path, found.path)
    missing, unexpected, mismatched = torch_report(model, sd)
    assert set(res.missing) == missing
    assert set(res.unexpected) == unexpected
    assert {k for k, _, _ in res.mismatched} == mismatched
    assert res.fails == bool(missing or unexpected or mismatched)
    return res


def _save(obj, path, fmt):
    if fmt == "zip":
        torch.save(obj, path)
    elif fmt == "legacy":
        torch.save(obj, path, _use_new_zipfile_serialization=False)
    elif fmt == "safetensors":
        safetensors_torch.save_file({k: v.contiguous() for k, v in obj.items()}, path)
    return path


def _cnn_variants():
    torch.manual_seed(0)
    base = cnn_mod.SmallCNN()

    def sd_of(m):
        return m.state_dict()

    def renamed():
        sd = base.state_dict()
        out = OrderedDict((k.replace("head.", "classifier."), v) for k, v in sd.items())
        out._metadata = sd._metadata
        return out

    def removed():
        sd = base.state_dict()
        del sd["head.weight"], sd["head.bias"]
        return sd

    def added():
        sd = base.state_dict()
        sd["extra.weight"] = torch.zeros(3, 3)
        sd["blocks.0.conv.weight.junk"] = torch.zeros(1)  # under a parameter name: torch ignores it
        sd["blocks.0._extra_state"] = torch.zeros(1)  # _extra_state keys are never unexpected
        return sd

    def nonpersistent():
        sd = base.state_dict()
        sd["cache"] = torch.zeros(4)
        return sd

    def no_nbt():
        sd = base.state_dict()
        for k in [k for k in sd if k.endswith("num_batches_tracked")]:
            del sd[k]
        return sd

    def no_nbt_no_metadata():
        return dict(no_nbt())  # a plain dict loses _metadata: BatchNorm fills num_batches_tracked in

    def half():
        return {k: (v.half() if v.is_floating_point() else v) for k, v in base.state_dict().items()}

    class Lit(nn.Module):  # a LightningModule-style holder
        def __init__(self):
            super().__init__()
            self.model = cnn_mod.SmallCNN()
            self.loss = nn.CrossEntropyLoss()

    return {
        "same": lambda: sd_of(base),
        "resized": lambda: sd_of(cnn_mod.SmallCNN(num_classes=1000)),
        "deeper": lambda: sd_of(cnn_mod.SmallCNN(depth=3)),
        "wider": lambda: sd_of(cnn_mod.SmallCNN(width=16)),
        "renamed": renamed,
        "removed": removed,
        "added": added,
        "nonpersistent": nonpersistent,
        "no_nbt": no_nbt,
        "no_nbt_no_metadata": no_nbt_no_metadata,
        "half": half,
        "dataparallel": lambda: nn.DataParallel(cnn_mod.SmallCNN()).state_dict(),
        "compiled": lambda: torch.compile(cnn_mod.SmallCNN()).state_dict(),
        "dp_compiled": lambda: nn.DataParallel(torch.compile(cnn_mod.SmallCNN())).state_dict(),
        "lightning_module": lambda: Lit().state_dict(),
    }


VARIANTS = _cnn_variants()


@pytest.mark.parametrize("fmt", ["zip", "legacy", "safetensors"])
@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_small_cnn_variants_match_torch(tmp_path, fmt, variant):
    sd = VARIANTS[variant]()
    if fmt == "safetensors" and any(not isinstance(v, torch.Tensor) for v in sd.values()):
        pytest.skip("safetensors holds tensors only")
    path = _save(sd, str(tmp_path / f"ck.{'safetensors' if fmt == 'safetensors' else 'pt'}"), fmt)
    res = assert_same_as_torch(cnn_mod.SmallCNN(), CNN, "SmallCNN", path)
    codes = {f.code for f in res.findings}
    if variant in ("dataparallel", "compiled", "dp_compiled", "lightning_module"):
        assert "SDL304" in codes and res.fails
        expected = {"dataparallel": "module.", "compiled": "_orig_mod.", "dp_compiled": "module._orig_mod.",
                    "lightning_module": "model."}[variant]
        assert res.prefix == expected
        # the fix it prints, applied, makes torch's strict load succeed
        fixed = {k[len(expected):]: v for k, v in load_with_torch(path, []).items() if k.startswith(expected)}
        cnn_mod.SmallCNN().load_state_dict(fixed, strict=True)
    if variant == "resized":
        (f,) = [f for f in res.findings if f.code == "SDL303" and "head.weight" in f.message]
        assert "[1000, 8]" in f.message and "[10, 8]" in f.message and "num_classes" in f.message
        assert f.line == 22
    if variant == "renamed":
        (f,) = [f for f in res.findings if f.code == "SDL305"]
        assert f.extra["old_prefix"] == "classifier." and f.extra["new_prefix"] == "head."
    if variant == "nonpersistent":
        assert "SDL306" in codes
    if variant == "no_nbt" and fmt != "safetensors":
        assert "SDL307" in codes and len(res.missing) == 3
    if variant == "half":
        assert not res.fails and "SDL309" in codes
    if variant == "same":
        assert res.verdict == "loads"


def test_lightning_checkpoint_container(tmp_path):
    model = cnn_mod.SmallCNN()
    sd = OrderedDict(("model." + k, v) for k, v in model.state_dict().items())
    path = str(tmp_path / "epoch=3.ckpt")
    torch.save({"state_dict": sd, "epoch": 3, "global_step": 30, "pytorch-lightning_version": "2.2.0",
                "optimizer_states": [{"state": {}, "param_groups": [{"lr": 0.1}]}], "lr_schedulers": []}, path)
    res = assert_same_as_torch(cnn_mod.SmallCNN(), CNN, "SmallCNN", path, expect_path=["state_dict"])
    assert res.prefix == "model."


@pytest.mark.parametrize("container", ["model", "model_state_dict", "state_dict_ema"])
def test_nested_containers(tmp_path, container):
    model = cnn_mod.SmallCNN(num_classes=5)
    path = str(tmp_path / "ck.pt")
    torch.save({container: model.state_dict(), "epoch": 1, "optimizer": {"state": {}, "param_groups": []}}, path)
    res = assert_same_as_torch(cnn_mod.SmallCNN(), CNN, "SmallCNN", path, expect_path=[container])
    assert len(res.mismatched) == 2


def test_explicit_key_picks_ema(tmp_path):
    path = str(tmp_path / "ck.pt")
    torch.save({"model": cnn_mod.SmallCNN().state_dict(), "model_ema": cnn_mod.SmallCNN(depth=1).state_dict()}, path)
    res = assert_same_as_torch(cnn_mod.SmallCNN(), CNN, "SmallCNN", path, key="model_ema", expect_path=["model_ema"])
    # BatchNorm fills in blocks.1.bn.num_batches_tracked: the file's _metadata has no entry for that module
    assert set(res.missing) == {k for k in cnn_mod.SmallCNN().state_dict()
                                if k.startswith("blocks.1.") and not k.endswith("num_batches_tracked")}


# -- TinyLM: tied weights, symbolic shapes, inference --------------------------------------------------
LM_ARGS = {"vocab_size": 50, "n_embd": 12, "n_layer": 3}


@pytest.mark.parametrize("fmt", ["zip", "legacy", "save_model"])
def test_tiny_lm_formats(tmp_path, fmt):
    lm = lm_mod.TinyLM(**LM_ARGS)
    if fmt == "save_model":
        path = str(tmp_path / "lm.safetensors")
        safetensors_torch.save_model(lm, path)
    else:
        path = _save(lm.state_dict(), str(tmp_path / "lm.pt"), fmt)
    res = assert_same_as_torch(lm_mod.TinyLM(**LM_ARGS), LM, "TinyLM", path, bindings=LM_ARGS)
    if fmt == "save_model":
        assert res.fails and [f.code for f in res.findings if f.code == "SDL308"]
        # safetensors' own loader handles the alias: the explanation is right
        safetensors_torch.load_model(lm_mod.TinyLM(**LM_ARGS), path, strict=True)
    else:
        assert res.verdict == "loads"


def test_inference_without_bindings(tmp_path):
    lm = lm_mod.TinyLM(vocab_size=37, n_embd=8, n_layer=4)
    path = str(tmp_path / "lm.pt")
    torch.save(lm.state_dict(), path)
    res, _ = run_check(LM, "TinyLM", path)
    assert res.inferred == {"vocab_size": 37, "n_embd": 8, "n_layer": 4}
    assert res.verdict == "loads"
    missing, unexpected, mismatched = torch_report(lm_mod.TinyLM(37, 8, 4), lm.state_dict())
    assert not (missing or unexpected or mismatched)


def test_wrong_binding_matches_torch(tmp_path):
    lm = lm_mod.TinyLM(vocab_size=50, n_embd=12, n_layer=3)
    path = str(tmp_path / "lm.pt")
    torch.save(lm.state_dict(), path)
    for b in ({**LM_ARGS, "n_layer": 2}, {**LM_ARGS, "n_embd": 16}, {**LM_ARGS, "n_layer": 5}):
        assert_same_as_torch(lm_mod.TinyLM(**b), LM, "TinyLM", path, bindings=b)


def test_contradiction_is_reported(tmp_path):
    lm = lm_mod.TinyLM(vocab_size=50, n_embd=12, n_layer=2)
    sd = lm.state_dict()
    sd["h.1.fc.weight"] = torch.zeros(40, 12)  # 4*n_embd would be 48
    path = str(tmp_path / "lm.pt")
    torch.save(sd, path)
    res, _ = run_check(LM, "TinyLM", path)
    (c,) = [f for f in res.findings if f.code == "SDL311"]
    assert "h.1.fc.weight" in c.message and "48" in c.message
    assert res.fails and [k for k, _, _ in res.mismatched] == ["h.1.fc.weight"]
    assert torch_report(lm_mod.TinyLM(50, 12, 2), sd)[2] == {"h.1.fc.weight"}


# -- CLI ---------------------------------------------------------------------------------------------
def test_cli_exit_codes_and_formats(tmp_path, capsys):
    good = str(tmp_path / "good.pt")
    bad = str(tmp_path / "bad.pt")
    torch.save(cnn_mod.SmallCNN().state_dict(), good)
    torch.save(nn.DataParallel(cnn_mod.SmallCNN(num_classes=3)).state_dict(), bad)
    target = f"{CNN}:SmallCNN"
    assert main(["check", target, good]) == 0
    assert capsys.readouterr().out.startswith("OK")
    assert main(["check", target, bad, "--format", "json"]) == 1
    data = json.loads(capsys.readouterr().out)
    assert data["verdict"] == "fails" and data["wrapper_prefix"] == "module."
    # the resize shows after the prefix, as its cause with both keys
    (resize,) = [f for f in data["findings"] if f["code"] == "SDL310"]
    assert "num_classes=3" in resize["message"] and sorted(resize["extra"]["keys"]) == ["head.bias", "head.weight"]
    assert main(["check", target, bad, "--format", "markdown"]) == 1
    md = capsys.readouterr().out
    assert md.startswith("### FAIL") and "| Location | Code | Message |" in md
    assert main(["check", target, str(tmp_path / "nosuch.pt")]) == 2
    assert capsys.readouterr().err.count("\n") == 1
    assert main(["check", f"{CNN}:NoSuchClass", good]) == 2
    assert main(["check", target, good, "--key", "nope"]) == 2


def test_unresolved_prediction_is_unsure_not_ok(unresolved_model_ckpt, capsys):
    target, path = unresolved_model_ckpt
    rc = main(["check", target, path, "--format", "json"])
    data = json.loads(capsys.readouterr().out)
    assert rc == 1
    assert data["verdict"] == "unsure" and data["unsure"]
    assert data["unexpected_keys"] == [] and data["maybe_unexpected_keys"] == ["body.weight"]
