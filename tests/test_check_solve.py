"""`check` with no bindings: values read off the checkpoint (shapes, counts and on/off switches such as
``config.bias``), judged against what a strict load into the class built with those values really does."""

from __future__ import annotations

import json
import os

import pytest

torch = pytest.importorskip("torch")

from statedict_lint.cli import main  # noqa: E402
from statedict_lint.check.solve import switches  # noqa: E402

from conftest import REPO, load_module_from_path  # noqa: E402

GPT = os.path.join(REPO, "fixtures", "gpt.py")
gpt = load_module_from_path(GPT)


def _save(tmp_path, name, **cfg):
    model = gpt.GPT(gpt.GPTConfig(**cfg))
    p = str(tmp_path / name)
    torch.save({"model": model.state_dict(), "iter_num": 3}, p)
    return p


def _check_json(capsys, *argv):
    rc = main(["check", f"{GPT}:GPT", *argv, "--format", "json"])
    return rc, json.loads(capsys.readouterr().out)


def _strict_load_ok(assumed, path):
    cfg = {k.split(".", 1)[1]: v for k, v in assumed.items()}
    cfg["n_head"] = 2  # no key depends on it: the file cannot tell it, and it needs not
    model = gpt.GPT(gpt.GPTConfig(**cfg))
    model.load_state_dict(torch.load(path, weights_only=True)["model"], strict=True)


@pytest.mark.parametrize("bias", [True, False])
def test_switch_and_sizes_read_off_the_file(tmp_path, capsys, bias):
    p = _save(tmp_path, f"gpt_{bias}.pt", n_layer=3, n_head=2, n_embd=16, vocab_size=40, block_size=8, bias=bias)
    rc, out = _check_json(capsys, p)
    assert rc == 0, out
    assert out["verdict"] == "loads"
    assert out["assumed"] == {"config.bias": bias, "config.n_layer": 3, "config.n_embd": 16,
                              "config.vocab_size": 40, "config.block_size": 8}
    _strict_load_ok(out["assumed"], p)  # the claim holds in torch


def test_bound_switch_is_not_overridden(tmp_path, capsys):
    p = _save(tmp_path, "gpt.pt", n_layer=2, n_head=2, n_embd=16, vocab_size=40, block_size=8, bias=True)
    rc, out = _check_json(capsys, p, "--set", "config.bias=False")
    assert rc == 1
    assert out["verdict"] == "fails"
    assert "config.bias" not in out["assumed"]
    model = gpt.GPT(gpt.GPTConfig(n_layer=2, n_head=2, n_embd=16, vocab_size=40, block_size=8, bias=False))
    with pytest.raises(RuntimeError) as exc:
        model.load_state_dict(torch.load(p, weights_only=True)["model"], strict=True)
    assert set(out["unexpected_keys"]) == {k for k in torch.load(p, weights_only=True)["model"]
                                          if f'"{k}"' in str(exc.value)}


def test_text_names_the_assumed_values(tmp_path, capsys):
    p = _save(tmp_path, "gpt.pt", n_layer=2, n_head=2, n_embd=16, vocab_size=40, block_size=8, bias=False)
    rc = main(["check", f"{GPT}:GPT", p])
    text = capsys.readouterr().out
    assert rc == 0
    assert text.startswith("OK:") and "config.bias=False" in text and "pin them with --set" in text


def test_switch_names_from_condition_texts():
    assert switches(["config.bias (line 3)", "not use_bn (line 9)", "bias [= config.bias] (line 24)",
                     "x > 2 (line 4)", "a and not cfg.norm (line 5)"]) == ["config.bias", "use_bn", "a", "cfg.norm"]
