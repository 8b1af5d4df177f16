"""Bindings the class never reads (typos in --set / --config) are reported with a "did you mean", against
files saved by torch; bindings that are read stay silent."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from typing import Any, List

import pytest

torch = pytest.importorskip("torch")

from conftest import REPO, load_module_from_path  # noqa: E402

GPT = os.path.join(REPO, "fixtures", "gpt.py")
gpt_mod = load_module_from_path(GPT)
UNET_LIKE = '''
import torch.nn as nn

class UNetLite(nn.Module):
    def __init__(self, n_channels, n_classes, bilinear=False):
        super().__init__()
        self.inc = nn.Conv2d(n_channels, 16, 3, padding=1)
        self.outc = nn.Conv2d(16, n_classes, 1)
'''


def cli(args: List[str], cwd: Any) -> subprocess.CompletedProcess:
    env = dict(os.environ, STATEDICT_LINT_CACHE_DIR=str(cwd / ".cache"))
    return subprocess.run([sys.executable, "-m", "statedict_lint", *args], capture_output=True, text=True, cwd=cwd,
                          env=env, timeout=300)


@pytest.fixture
def gpt_ckpt(tmp_path: Any) -> Any:
    cfg = gpt_mod.GPTConfig(n_layer=2, n_embd=64, n_head=4, vocab_size=100, block_size=32, bias=True)
    torch.save(gpt_mod.GPT(cfg).state_dict(), tmp_path / "gpt.pt")
    return tmp_path


def test_config_json_typo_is_named_with_what_the_class_reads(gpt_ckpt: Any) -> None:
    (gpt_ckpt / "cfg.json").write_text(json.dumps({"n_embed": 64, "n_layer": 2, "n_head": 4, "vocab_size": 100,
                                                   "block_size": 32, "bias": True}))
    out = cli(["check", f"{GPT}:GPT", "gpt.pt", "--config", "config=cfg.json"], gpt_ckpt)
    warnings = [ln for ln in out.stderr.splitlines() if "warning" in ln]
    assert len(warnings) == 1, out.stderr
    assert "GPT never reads `config.n_embed`; did you mean `config.n_embd`?" in warnings[0]
    assert "it reads config.bias, config.block_size" in warnings[0]
    assert "Traceback" not in out.stderr


def test_set_attribute_nobody_reads_is_reported_without_a_guess(gpt_ckpt: Any) -> None:
    out = cli(["keys", f"{GPT}:GPT", "--set", "config.nosuch=3", "--set", "config.n_layer=2"], gpt_ckpt)
    assert out.returncode == 0
    (w,) = [ln for ln in out.stderr.splitlines() if "warning" in ln]
    assert "never reads `config.nosuch` (it reads config.bias" in w and "did you mean" not in w
    assert "config.n_layer" not in w.split("(")[0]  # the binding that is read is not reported
    again = cli(["keys", f"{GPT}:GPT", "--set", "config.nosuch=3", "--set", "config.n_layer=2"], gpt_ckpt)
    assert again.stderr == out.stderr  # a prediction-cache hit keeps the warning
    assert os.listdir(gpt_ckpt / ".cache")


def test_bindings_that_are_read_are_silent(gpt_ckpt: Any) -> None:
    out = cli(["check", f"{GPT}:GPT", "gpt.pt", "--set", "config.n_layer=2", "--set", "config.n_embd=64",
               "--set", "config.bias=True"], gpt_ckpt)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "warning" not in out.stderr


def test_misspelled_parameter_suggests_the_parameter(tmp_path: Any) -> None:
    (tmp_path / "unet.py").write_text(UNET_LIKE)
    mod = load_module_from_path(str(tmp_path / "unet.py"))
    torch.save(mod.UNetLite(3, 2).state_dict(), tmp_path / "u.pt")
    out = cli(["check", "unet.py:UNetLite", "u.pt", "--set", "n_chanels=3", "--set", "n_classes=2"], tmp_path)
    assert out.returncode == 2 and out.stdout == ""
    (line,) = out.stderr.strip().splitlines()
    assert "`n_chanels` is neither a parameter of UNetLite.__init__" in line
    assert line.endswith("did you mean `n_channels`?")
    fixed = cli(["check", "unet.py:UNetLite", "u.pt", "--set", "n_channels=3", "--set", "n_classes=2"], tmp_path)
    assert fixed.returncode == 0 and fixed.stdout.startswith("OK:") and "warning" not in fixed.stderr


def test_kwargs_catch_all_still_gets_a_suggestion(tmp_path: Any) -> None:
    (tmp_path / "kw.py").write_text("import torch.nn as nn\n\nclass M(nn.Module):\n"
                                    "    def __init__(self, hidden=4, **kwargs):\n        super().__init__()\n"
                                    "        self.fc = nn.Linear(hidden, 2)\n")
    out = cli(["keys", "kw.py:M", "--set", "hiden=8"], tmp_path)
    assert out.returncode == 0
    assert "`hiden` is not a parameter of M.__init__ (it goes to **kwargs); did you mean `hidden`?" in out.stderr


def test_dynamic_attribute_reads_keep_it_silent(tmp_path: Any) -> None:
    """A class that reads its config by name at run time (``vars(config)``, ``config.__dict__``) may read any
    binding: no warning (precision first)."""
    (tmp_path / "dyn.py").write_text(
        "import torch.nn as nn\n\nclass M(nn.Module):\n    def __init__(self, config):\n        super().__init__()\n"
        "        self.opts = dict(config.__dict__)\n        self.fc = nn.Linear(config.width, 2)\n")
    out = cli(["keys", "dyn.py:M", "--set", "config.width=4", "--set", "config.extra=1"], tmp_path)
    assert out.returncode == 0 and "warning" not in out.stderr


def test_many_unread_config_fields_are_one_line_typos_their_own(gpt_ckpt: Any) -> None:
    """A Hugging Face-style config.json holds many fields a class ignores: one line for them, while a likely
    typo still gets its own line with the suggestion."""
    fields = {"n_embed": 64, "n_layer": 2, "n_head": 4, "vocab_size": 100, "block_size": 32, "bias": True,
              "architectures": ["GPT"], "model_type": "gpt", "torch_dtype": "float32", "use_cache": True}
    (gpt_ckpt / "config.json").write_text(json.dumps(fields))
    out = cli(["keys", f"{GPT}:GPT", "--config", "config=config.json"], gpt_ckpt)
    warnings = [ln for ln in out.stderr.splitlines() if "warning" in ln]
    assert len(warnings) == 2, out.stderr
    assert "never reads `config.n_embed`; did you mean `config.n_embd`?" in warnings[0]
    assert ("never reads 4 of the bindings: `config.architectures`, `config.model_type`, `config.torch_dtype`, "
            "`config.use_cache`") in warnings[1]
