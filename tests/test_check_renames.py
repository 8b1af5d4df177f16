"""`check` finds renames inside repeated blocks the way `diff` does (one `{i}` prefix rename), and
`check --map-out MAP.json` + `migrate --map MAP.json` take an old checkpoint from FAIL to a file torch loads
with strict=True (issue 11 item 2); the grouped renames are found without pairing every key with every key
(issue 12 item 4: a ModuleList of 100 layers moved one level deeper)."""

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
SETS = ["--set", "config.n_layer=3", "--set", "config.n_embd=32", "--set", "config.n_head=2",
        "--set", "config.vocab_size=50", "--set", "config.block_size=16", "--set", "config.bias=True"]
CFG = dict(n_layer=3, n_embd=32, n_head=2, vocab_size=50, block_size=16, bias=True)


def cli(args: List[str], cwd: Any, timeout: int = 300) -> subprocess.CompletedProcess:
    env = dict(os.environ, STATEDICT_LINT_CACHE_DIR=str(cwd / ".cache"))
    return subprocess.run([sys.executable, "-m", "statedict_lint", *args], capture_output=True, text=True, cwd=cwd,
                          env=env, timeout=timeout)


def strict_load(model: Any, path: Any) -> None:
    model.load_state_dict(torch.load(path, weights_only=True), strict=True)  # raises on any difference


EDITS = {
    "c_attn->qkv": ([("self.c_attn = nn.Linear", "self.qkv = nn.Linear"), ("self.c_attn(x)", "self.qkv(x)")],
                    "transformer.h.{i}.attn.c_attn.", "transformer.h.{i}.attn.qkv.", 6),
    "attn->self_attn": ([("self.attn = CausalSelfAttention", "self.self_attn = CausalSelfAttention"),
                         ("self.attn(self.ln_1", "self.self_attn(self.ln_1")],
                        "transformer.h.{i}.attn.", "transformer.h.{i}.self_attn.", 15),
}


@pytest.mark.parametrize("edit", sorted(EDITS))
@pytest.mark.parametrize("wrapped", [False, True])
def test_fail_then_migrate_then_strict_load(tmp_path: Any, edit: str, wrapped: bool) -> None:
    replacements, old_prefix, new_prefix, count = EDITS[edit]
    shutil.copy(GPT_SRC, tmp_path / "old_gpt.py")
    old = load_module_from_path(str(tmp_path / "old_gpt.py"))
    model = old.GPT(old.GPTConfig(**CFG))
    torch.save((nn.DataParallel(model) if wrapped else model).state_dict(), tmp_path / "old.pt")
    src = (tmp_path / "old_gpt.py").read_text()
    for a, b in replacements:
        assert a in src
        src = src.replace(a, b)
    (tmp_path / "model.py").write_text(src)
    new = load_module_from_path(str(tmp_path / "model.py"))
    with pytest.raises(RuntimeError):
        strict_load(new.GPT(new.GPTConfig(**CFG)), tmp_path / "old.pt")

    # 1. check: FAIL, one grouped rename (not per-key pairings), and the map
    out = cli(["check", "model.py:GPT", "old.pt", *SETS, "--map-out", "map.json"], tmp_path)
    assert out.returncode == 1 and out.stdout.startswith("FAIL")
    renames = [ln for ln in out.stdout.splitlines() if "SDL305" in ln]
    assert len(renames) == 1, out.stdout
    assert f"probable rename {old_prefix} -> {new_prefix} ({count} keys, confidence 0.95" in renames[0]
    assert "nearly as good" not in out.stdout
    mapping = json.loads((tmp_path / "map.json").read_text())
    prefix = "module." if wrapped else ""
    assert mapping == ({prefix + old_prefix: new_prefix, "module.": ""} if wrapped else {old_prefix: new_prefix})
    assert "migrate old.pt --map map.json" in out.stderr

    # 2. migrate with that map; torch loads the result with strict=True, and check agrees
    mig = cli(["migrate", "old.pt", "--map", "map.json", "-o", "new.pt"], tmp_path)
    assert mig.returncode == 0, mig.stderr
    strict_load(new.GPT(new.GPTConfig(**CFG)), tmp_path / "new.pt")
    again = cli(["check", "model.py:GPT", "new.pt", *SETS], tmp_path)
    assert again.returncode == 0 and again.stdout.startswith("OK:")


def test_printed_fix_with_placeholder_loads(tmp_path: Any) -> None:
    """The one-line fix of a `{i}` rename, applied to the real state dict, makes strict load succeed."""
    shutil.copy(GPT_SRC, tmp_path / "old_gpt.py")
    old = load_module_from_path(str(tmp_path / "old_gpt.py"))
    torch.save(old.GPT(old.GPTConfig(**CFG)).state_dict(), tmp_path / "old.pt")
    src = (tmp_path / "old_gpt.py").read_text()
    for a, b in EDITS["c_attn->qkv"][0]:
        src = src.replace(a, b)
    (tmp_path / "model.py").write_text(src)
    new = load_module_from_path(str(tmp_path / "model.py"))
    data = json.loads(cli(["check", "model.py:GPT", "old.pt", *SETS, "--format", "json"], tmp_path).stdout)
    (f,) = [f for f in data["findings"] if f["code"] == "SDL305"]
    assert f["extra"]["count"] == 6 and len(f["extra"]["pairs"]) == 6
    import re

    env = {"sd": torch.load(tmp_path / "old.pt", weights_only=True), "re": re}
    exec(f["extra"]["fix"], env)  # noqa: S102
    new.GPT(new.GPTConfig(**CFG)).load_state_dict(env["sd"], strict=True)


DEEP_OLD = '''
import torch.nn as nn

class Net(nn.Module):
    def __init__(self, n={n}):
        super().__init__()
        self.layers = nn.ModuleList([nn.Sequential(nn.Linear(8, 8), nn.LayerNorm(8)) for _ in range(n)])
'''
DEEP_NEW = '''
import torch.nn as nn

class Wrapper(nn.Module):
    def __init__(self):
        super().__init__()
        self.block = nn.Sequential(nn.Linear(8, 8), nn.LayerNorm(8))

class Net(nn.Module):
    def __init__(self, n={n}):
        super().__init__()
        self.layers = nn.ModuleList([Wrapper() for _ in range(n)])
'''


def _deep(tmp_path: Any, n: int) -> Any:
    (tmp_path / "old_net.py").write_text(DEEP_OLD.format(n=n))
    (tmp_path / "net.py").write_text(DEEP_NEW.format(n=n))
    torch.save(load_module_from_path(str(tmp_path / "old_net.py")).Net().state_dict(), tmp_path / "deep.pt")
    return load_module_from_path(str(tmp_path / "net.py"))


def test_module_list_moved_one_level_deeper_without_pairwise_scan(tmp_path: Any, monkeypatch: Any) -> None:
    """Every layer has the same shapes, so a pairwise guesser sees 100 rivals per key; the structural pass
    finds `layers.{i}.` -> `layers.{i}.block.` from an index of the keys: no key-by-key comparison at all."""
    from statedict_lint.check import renames
    from statedict_lint.checkpoint.container import find_state_dict
    from statedict_lint.checkpoint.readers import read
    from statedict_lint.check.compare import compare
    from statedict_lint.predict.api import predict

    _deep(tmp_path, 100)
    calls = {"sim": 0, "split": 0}
    real_sim, real_split = renames._sim, renames._split_common_suffix

    def sim(a: str, b: str) -> float:
        calls["sim"] += 1
        return real_sim(a, b)

    def split(a: str, b: str) -> Any:
        calls["split"] += 1
        return real_split(a, b)

    monkeypatch.setattr(renames, "_sim", sim)
    monkeypatch.setattr(renames, "_split_common_suffix", split)
    ck = read(str(tmp_path / "deep.pt"))
    res = compare(predict(str(tmp_path / "net.py"), "Net", {}), ck, find_state_dict(ck, None))
    assert len(res.missing) == len(res.unexpected) == 400
    (f,) = [f for f in res.findings if f.code == "SDL305"]
    assert f.extra["old_prefix"] == "layers.{i}." and f.extra["new_prefix"] == "layers.{i}.block."
    assert f.extra["count"] == 400
    assert calls == {"sim": 0, "split": 0}


def test_pairwise_guesser_is_bounded(monkeypatch: Any) -> None:
    """Without structure to find, look-alike keys beyond MAX_PAIRS get no pairwise guess instead of
    minutes of comparisons (counted, not timed)."""
    from statedict_lint.check import renames

    calls = {"sim": 0}
    real_sim = renames._sim

    def sim(a: str, b: str) -> float:
        calls["sim"] += 1
        return real_sim(a, b)

    monkeypatch.setattr(renames, "_sim", sim)
    old = [renames.KeyInfo(f"a{i}.w{i % 7}.weight", (4, 4), "float32") for i in range(1000)]
    new = [renames.KeyInfo(f"b{i}.v{i % 5}.weight", (4, 4), "float32") for i in range(1000)]
    renames.guess_renames(old, new)
    assert calls["sim"] <= renames.MAX_PAIRS


def test_deep_module_list_cli_is_bounded_and_migrates(tmp_path: Any) -> None:
    new = _deep(tmp_path, 100)
    out = cli(["check", "net.py:Net", "deep.pt", "--map-out", "map.json"], tmp_path, timeout=120)
    assert out.returncode == 1
    assert json.loads((tmp_path / "map.json").read_text()) == {"layers.{i}.": "layers.{i}.block."}
    assert cli(["migrate", "deep.pt", "--map", "map.json", "-o", "new.pt"], tmp_path, timeout=120).returncode == 0
    strict_load(new.Net(), tmp_path / "new.pt")


def test_compiled_checkpoint_map_is_the_prefix(tmp_path: Any) -> None:
    """A torch.compile checkpoint (`_orig_mod.` keys) with no rename: the map drops the prefix, and the migrated
    file loads with strict=True."""
    shutil.copy(GPT_SRC, tmp_path / "model.py")
    mod = load_module_from_path(str(tmp_path / "model.py"))
    model = mod.GPT(mod.GPTConfig(**CFG))

    class Compiled(nn.Module):  # what torch.compile's OptimizedModule saves: the model under `_orig_mod`
        def __init__(self, inner: Any) -> None:
            super().__init__()
            self._orig_mod = inner

    torch.save(Compiled(model).state_dict(), tmp_path / "compiled.pt")
    out = cli(["check", "model.py:GPT", "compiled.pt", *SETS, "--map-out", "map.json"], tmp_path)
    assert out.returncode == 1 and "SDL304" in out.stdout
    assert json.loads((tmp_path / "map.json").read_text()) == {"_orig_mod.": ""}
    assert cli(["migrate", "compiled.pt", "--map", "map.json", "-o", "plain.pt"], tmp_path).returncode == 0
    strict_load(mod.GPT(mod.GPTConfig(**CFG)), tmp_path / "plain.pt")
    none = cli(["check", "model.py:GPT", "plain.pt", *SETS, "--map-out", "again.json"], tmp_path)
    assert none.returncode == 0 and not (tmp_path / "again.json").exists()
    assert "no renames or wrapper prefix found; no map written" in none.stderr

    # a map path that is a link (planted by a repository) is never written through: one line, exit 2
    outside = tmp_path / "outside.json"
    outside.write_text("keep")
    (tmp_path / "planted.json").symlink_to(outside)
    refused = cli(["check", "model.py:GPT", "compiled.pt", *SETS, "--map-out", "planted.json"], tmp_path)
    assert refused.returncode == 2 and "Traceback" not in refused.stderr, refused.stderr
    assert refused.stderr.strip().count("\n") == 0 and "cannot write planted.json" in refused.stderr
    assert outside.read_text() == "keep" and (tmp_path / "planted.json").is_symlink()
