"""`check` reports a cause once, with one fix, instead of one line per key (issue 11 items 1 and 3), on files
saved by torch; every key stays in JSON / SARIF / --verbose, and the cause is checked against real torch."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from typing import Any, List

import pytest

torch = pytest.importorskip("torch")
nn = torch.nn

from conftest import REPO, load_module_from_path  # noqa: E402

GPT_SRC = os.path.join(REPO, "fixtures", "gpt.py")
SETS = ["--set", "config.n_layer=2", "--set", "config.n_embd=64", "--set", "config.n_head=4",
        "--set", "config.vocab_size=100", "--set", "config.block_size=32", "--set", "config.bias=True"]


def cli(args: List[str], cwd: Any) -> subprocess.CompletedProcess:
    env = dict(os.environ, STATEDICT_LINT_CACHE_DIR=str(cwd / ".cache"))
    return subprocess.run([sys.executable, "-m", "statedict_lint", *args], capture_output=True, text=True, cwd=cwd,
                          env=env, timeout=300)


def torch_error(model: Any, sd: Any) -> str:
    try:
        model.load_state_dict(sd, strict=True)
    except RuntimeError as exc:
        return str(exc)
    return ""


def quoted_keys(msg: str, section: str) -> List[str]:
    """The keys torch lists after ``section`` ("Missing key(s)" / "Unexpected key(s)")."""
    line = next(ln for ln in msg.splitlines() if section in ln)
    return [p for i, p in enumerate(line.split('"')) if i % 2 == 1]


@pytest.fixture
def gpt(tmp_path: Any) -> Any:
    shutil.copy(GPT_SRC, tmp_path / "gpt.py")
    mod = load_module_from_path(str(tmp_path / "gpt.py"))

    def cfg(**kw: Any) -> Any:
        base = dict(n_layer=2, n_embd=64, n_head=4, vocab_size=100, block_size=32, bias=True)
        return mod.GPTConfig(**{**base, **kw})

    return tmp_path, mod, cfg


def test_bias_false_file_into_bias_true_model_is_one_cause(gpt: Any) -> None:
    tmp, mod, cfg = gpt
    torch.save(mod.GPT(cfg(bias=False)).state_dict(), tmp / "nobias.pt")
    sd = torch.load(tmp / "nobias.pt", weights_only=True)
    missing = quoted_keys(torch_error(mod.GPT(cfg(bias=True)), sd), "Missing key(s)")
    assert len(missing) == 13
    out = cli(["check", "gpt.py:GPT", "nobias.pt", *SETS], tmp)
    assert out.returncode == 1
    assert out.stdout.splitlines() == [
        "FAIL: load_state_dict(strict=True) of the file of nobias.pt into gpt.py:GPT fails: 13 missing, "
        "0 unexpected, 0 size mismatches",
        "gpt.py:65: error: SDL310 13 missing keys: the checkpoint was saved with config.bias=False, the model has "
        "config.bias=True (--set); build the model with config.bias=False (check it: --set config.bias=False)",
        "    e.g. transformer.h.0.ln_1.bias, transformer.h.0.attn.c_attn.bias, transformer.h.0.attn.c_proj.bias "
        "(+10 more; --verbose lists every key)",
    ]
    verbose = cli(["check", "gpt.py:GPT", "nobias.pt", *SETS, "--verbose"], tmp).stdout.splitlines()
    assert sorted(ln.strip() for ln in verbose[2:]) == sorted(missing)
    data = json.loads(cli(["check", "gpt.py:GPT", "nobias.pt", *SETS, "--format", "json"], tmp).stdout)
    (f,) = data["findings"]
    assert sorted(f["extra"]["keys"]) == sorted(missing) == sorted(data["missing_keys"])
    assert f["extra"]["name"] == "config.bias" and f["extra"]["checkpoint"] is False
    assert len(f["extra"]["members"]) == 13 and all(m.startswith("missing key ") for m in f["extra"]["members"])
    sarif = json.loads(cli(["check", "gpt.py:GPT", "nobias.pt", *SETS, "--format", "sarif"], tmp).stdout)
    (r,) = sarif["runs"][0]["results"]
    assert sorted(r["properties"]["keys"]) == sorted(missing)
    # the fix it names is right: torch loads the file into the class built with it, and check agrees
    assert torch_error(mod.GPT(cfg(bias=False)), sd) == ""
    fixed = cli(["check", "gpt.py:GPT", "nobias.pt", *SETS, "--set", "config.bias=False"], tmp)
    assert fixed.returncode == 0 and fixed.stdout.startswith("OK:")


def test_three_layer_file_into_two_layer_model_names_n_layer(gpt: Any) -> None:
    tmp, mod, cfg = gpt
    torch.save(mod.GPT(cfg(n_layer=3)).state_dict(), tmp / "l3.pt")
    sd = torch.load(tmp / "l3.pt", weights_only=True)
    unexpected = quoted_keys(torch_error(mod.GPT(cfg()), sd), "Unexpected key(s)")
    out = cli(["check", "gpt.py:GPT", "l3.pt", *SETS], tmp)
    assert out.returncode == 1
    lines = out.stdout.splitlines()
    assert len(lines) == 3, out.stdout
    assert lines[1] == ("error: SDL310 13 unexpected keys: the checkpoint has config.n_layer=3, the model has "
                        "config.n_layer=2 (--set); build the model with config.n_layer=3 (check it: --set "
                        "config.n_layer=3)")
    data = json.loads(cli(["check", "gpt.py:GPT", "l3.pt", *SETS, "--format", "json"], tmp).stdout)
    (f,) = data["findings"]
    assert sorted(f["extra"]["keys"]) == sorted(unexpected)
    assert torch_error(mod.GPT(cfg(n_layer=3)), sd) == ""


def test_missing_num_batches_tracked_is_one_finding_with_one_fix(tmp_path: Any) -> None:
    (tmp_path / "net.py").write_text(
        "import torch.nn as nn\n\nclass Net(nn.Module):\n    def __init__(self):\n        super().__init__()\n"
        "        self.convs = nn.Sequential(*[nn.Sequential(nn.Conv2d(3, 3, 1), nn.BatchNorm2d(3)) "
        "for _ in range(20)])\n")
    mod = load_module_from_path(str(tmp_path / "net.py"))
    full = mod.Net().state_dict()
    sd = type(full)((k, v) for k, v in full.items() if not k.endswith("num_batches_tracked"))
    sd._metadata = full._metadata  # saved by a current torch (version 2 metadata): torch does not fill them in
    torch.save(sd, tmp_path / "old.pt")
    missing = quoted_keys(torch_error(mod.Net(), torch.load(tmp_path / "old.pt", weights_only=True)), "Missing")
    assert len(missing) == 20
    out = cli(["check", "net.py:Net", "old.pt"], tmp_path)
    lines = out.stdout.splitlines()
    assert out.returncode == 1 and len(lines) == 3, out.stdout
    assert lines[1].startswith("net.py:6: error: SDL307 20 BatchNorm num_batches_tracked keys are missing")
    fix = lines[1].split("safe to add them: ")[1]
    env = {"sd": torch.load(tmp_path / "old.pt", weights_only=True), "torch": torch, "model": mod.Net()}
    exec(fix, env)  # noqa: S102 - the printed fix, applied to the real state dict
    assert torch_error(mod.Net(), env["sd"]) == ""


def test_changed_constructor_expression_is_blamed_once(gpt: Any) -> None:
    """The MLP went from 4x to 2x width: the file is consistent (n_embd=64 everywhere), the code changed."""
    tmp, mod, cfg = gpt
    torch.save(mod.GPT(cfg()).state_dict(), tmp / "ck.pt")
    src = (tmp / "gpt.py").read_text()
    src = src.replace("nn.Linear(config.n_embd, 4 * config.n_embd", "nn.Linear(config.n_embd, 2 * config.n_embd")
    src = src.replace("nn.Linear(4 * config.n_embd, config.n_embd", "nn.Linear(2 * config.n_embd, config.n_embd")
    (tmp / "gpt.py").write_text(src)
    new = load_module_from_path(str(tmp / "gpt.py"))
    msg = torch_error(new.GPT(cfg()), torch.load(tmp / "ck.pt", weights_only=True))
    assert msg.count("size mismatch for ") == 6
    out = cli(["check", "gpt.py:GPT", "ck.pt", *SETS], tmp)
    assert out.returncode == 1
    assert out.stdout.splitlines() == [
        "FAIL: load_state_dict(strict=True) of the file of ck.pt into gpt.py:GPT fails: 0 missing, 0 unexpected, "
        "6 size mismatches",
        "gpt.py:53: error: SDL303 6 size mismatches: the model's `2*config.n_embd` (lines 53, 55) gives 128 where "
        "the file has 256 = 4*config.n_embd; the file is consistent with config.n_embd=64 (23 other key(s) load "
        "fine with it): the model computes this size differently from the code that saved the file (restore that "
        "expression to load this file, or convert the weights)",
        "    e.g. transformer.h.0.mlp.c_fc.weight, transformer.h.0.mlp.c_fc.bias, transformer.h.0.mlp.c_proj.weight "
        "(+3 more; --verbose lists every key)",
    ]
    assert "contradict" not in out.stdout and "would need" not in out.stdout


def test_one_edited_key_is_still_the_file_contradicting_itself(tmp_path: Any) -> None:
    """Only one of four blocks differs: that is the file, not the code (no expression blamed)."""
    lm = os.path.join(REPO, "fixtures", "checkpoints", "tiny_lm.py")
    mod = load_module_from_path(lm)
    sd = mod.TinyLM(vocab_size=37, n_embd=8, n_layer=4).state_dict()
    sd["h.1.fc.weight"] = torch.zeros(40, 8)
    torch.save(sd, tmp_path / "lm.pt")
    out = cli(["check", f"{lm}:TinyLM", "lm.pt", "--set", "n_embd=8", "--set", "vocab_size=37", "--set", "n_layer=4",
               "--format", "json"], tmp_path)
    data = json.loads(out.stdout)
    (f,) = data["findings"]
    assert f["code"] == "SDL303" and "contradict" in f["message"] and "computes this size" not in f["message"]


ABSENT = '''
import torch.nn as nn

class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.body = nn.Linear(4, 4)
        self.head = nn.Linear(4, 2)

class WithAux(nn.Module):
    def __init__(self):
        super().__init__()
        self.body = nn.Linear(4, 4)
        self.head = nn.Linear(4, 2)
        self.aux_head = nn.Sequential(nn.Linear(4, 4), nn.Linear(4, 3))
'''


def test_module_the_model_lacks_is_one_finding_with_a_fix_that_loads(tmp_path: Any) -> None:
    (tmp_path / "net.py").write_text(ABSENT)
    mod = load_module_from_path(str(tmp_path / "net.py"))
    torch.save(mod.WithAux().state_dict(), tmp_path / "aux.pt")
    sd = torch.load(tmp_path / "aux.pt", weights_only=True)
    unexpected = quoted_keys(torch_error(mod.Net(), sd), "Unexpected key(s)")
    out = cli(["check", "net.py:Net", "aux.pt"], tmp_path)
    lines = out.stdout.splitlines()
    assert out.returncode == 1 and len(lines) == 3, out.stdout
    assert lines[1].startswith("error: SDL302 4 unexpected keys under aux_head.: the model has no state under "
                           "`aux_head`")
    data = json.loads(cli(["check", "net.py:Net", "aux.pt", "--format", "json"], tmp_path).stdout)
    (f,) = data["findings"]
    assert sorted(f["extra"]["keys"]) == sorted(unexpected)
    env = {"sd": sd}
    exec(f["extra"]["fix"], env)  # noqa: S102
    assert torch_error(mod.Net(), env["sd"]) == ""


def test_module_the_file_lacks_is_one_finding(tmp_path: Any) -> None:
    (tmp_path / "net.py").write_text(ABSENT)
    mod = load_module_from_path(str(tmp_path / "net.py"))
    full = mod.WithAux().state_dict()
    torch.save({k: v for k, v in full.items() if not k.startswith("aux_head.")}, tmp_path / "noaux.pt")
    missing = quoted_keys(torch_error(mod.WithAux(), torch.load(tmp_path / "noaux.pt", weights_only=True)),
                          "Missing key(s)")
    data = json.loads(cli(["check", "net.py:WithAux", "noaux.pt", "--format", "json"], tmp_path).stdout)
    (f,) = data["findings"]
    assert f["code"] == "SDL301"
    assert f["message"].startswith("4 missing keys under aux_head.: the checkpoint has nothing under")
    assert sorted(f["extra"]["keys"]) == sorted(missing)
    # a module partly in the file is not "absent": the group is the submodule that is (aux_head.1.)
    partial = {k: v for k, v in full.items() if k not in ("aux_head.1.weight", "aux_head.1.bias", "head.bias")}
    torch.save(partial, tmp_path / "partial.pt")
    data = json.loads(cli(["check", "net.py:WithAux", "partial.pt", "--format", "json"], tmp_path).stdout)
    assert not any("under aux_head.:" in f["message"] for f in data["findings"])
    assert any(f["message"].startswith("2 missing keys under aux_head.1.:") for f in data["findings"])
    assert any(f["message"].startswith("missing key head.bias") for f in data["findings"])


def test_several_causes_each_once_and_keys_needing_two_of_them(tmp_path: Any) -> None:
    """A ViT saved with embed_dim=192, qkv_bias=False, num_classes=10, checked against the defaults (768,
    True, 1000): one finding per value, head.weight (both num_classes and embed_dim) as one finding naming
    the two, every key of torch's error in exactly one finding, and the values named make torch load it."""
    vit = os.path.join(REPO, "fixtures", "vit.py")
    shutil.copy(vit, tmp_path / "vit.py")
    mod = load_module_from_path(str(tmp_path / "vit.py"))
    torch.save(mod.VisionTransformer(embed_dim=192, num_heads=3, qkv_bias=False, num_classes=10).state_dict(),
               tmp_path / "small.pt")
    sd = torch.load(tmp_path / "small.pt", weights_only=True)
    msg = torch_error(mod.VisionTransformer(), sd)
    missing = quoted_keys(msg, "Missing key(s)")
    resized = [ln.split("size mismatch for ")[1].split(":")[0] for ln in msg.splitlines() if "size mismatch for" in ln]
    data = json.loads(cli(["check", "vit.py:VisionTransformer", "small.pt", "--format", "json"], tmp_path).stdout)
    fs = data["findings"]
    assert [f["code"] for f in fs] == ["SDL310"] * 4
    by_name = {f["extra"].get("name"): f for f in fs}
    assert by_name["embed_dim"]["extra"]["checkpoint"] == 192 and by_name["qkv_bias"]["extra"]["checkpoint"] is False
    assert by_name["num_classes"]["extra"]["keys"] == ["head.bias"]
    (both,) = [f for f in fs if "names" in f["extra"]]
    assert sorted(both["extra"]["names"]) == ["embed_dim", "num_classes"] and both["extra"]["keys"] == ["head.weight"]
    keys = [k for f in fs for k in f["extra"]["keys"]]
    assert len(keys) == len(set(keys)) and sorted(keys) == sorted(missing + resized)
    assert torch_error(mod.VisionTransformer(embed_dim=192, num_heads=3, qkv_bias=False, num_classes=10), sd) == ""
    ok = cli(["check", "vit.py:VisionTransformer", "small.pt", "--set", "embed_dim=192", "--set", "num_heads=3",
              "--set", "qkv_bias=False", "--set", "num_classes=10"], tmp_path)
    assert ok.returncode == 0 and ok.stdout.startswith("OK:")


def test_two_values_together_three_layers_without_bias(gpt: Any) -> None:
    """n_layer=3 alone would ask for the third block's biases too: the third block is explained by
    n_layer=3 with bias=False, said once; the other blocks' biases by bias=False."""
    tmp, mod, cfg = gpt
    torch.save(mod.GPT(cfg(n_layer=3, bias=False)).state_dict(), tmp / "l3nb.pt")
    sd = torch.load(tmp / "l3nb.pt", weights_only=True)
    msg = torch_error(mod.GPT(cfg()), sd)
    every = quoted_keys(msg, "Missing key(s)") + quoted_keys(msg, "Unexpected key(s)")
    data = json.loads(cli(["check", "gpt.py:GPT", "l3nb.pt", *SETS, "--format", "json"], tmp).stdout)
    fs = data["findings"]
    assert len(fs) == 2 and all(f["code"] == "SDL310" for f in fs)
    assert fs[0]["extra"]["name"] == "config.bias" and fs[0]["extra"]["checkpoint"] is False
    assert fs[1]["extra"]["checkpoint"] == {"config.bias": False, "config.n_layer": 3}
    assert fs[1]["message"].startswith("7 unexpected keys explained by 2 values together")  # h.2 without biases
    keys = [k for f in fs for k in f["extra"]["keys"]]
    assert sorted(keys) == sorted(every)
    assert torch_error(mod.GPT(cfg(n_layer=3, bias=False)), sd) == ""
    ok = cli(["check", "gpt.py:GPT", "l3nb.pt", *SETS, "--set", "config.bias=False", "--set", "config.n_layer=3"], tmp)
    assert ok.returncode == 0


def test_expression_with_two_values_is_not_blamed(tmp_path: Any) -> None:
    """`expansion * dim` with expansion an integer default: the file's 2x width is expansion=2 (a value, verified),
    not a changed expression -- the expression is blamed only when its one value is vouched for by other keys."""
    (tmp_path / "mlp.py").write_text(
        "import torch.nn as nn\n\nclass Block(nn.Module):\n    def __init__(self, dim, expansion):\n"
        "        super().__init__()\n        self.norm = nn.LayerNorm(dim)\n"
        "        self.fc1 = nn.Linear(dim, expansion * dim)\n        self.fc2 = nn.Linear(expansion * dim, dim)\n\n"
        "class Net(nn.Module):\n    def __init__(self, dim=16, expansion=4, depth=2):\n        super().__init__()\n"
        "        self.blocks = nn.ModuleList([Block(dim, expansion) for _ in range(depth)])\n")
    mod = load_module_from_path(str(tmp_path / "mlp.py"))
    torch.save(mod.Net(expansion=2).state_dict(), tmp_path / "x2.pt")
    data = json.loads(cli(["check", "mlp.py:Net", "x2.pt", "--format", "json"], tmp_path).stdout)
    (f,) = data["findings"]
    assert f["code"] == "SDL310" and f["extra"]["name"] == "expansion" and f["extra"]["checkpoint"] == 2
    assert not any("computes this size" in m for m in f["extra"]["members"])
    assert torch_error(mod.Net(expansion=2), torch.load(tmp_path / "x2.pt", weights_only=True)) == ""
