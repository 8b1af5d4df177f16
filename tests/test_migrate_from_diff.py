"""End to end: `diff` finds renames between two revisions, its map migrates real checkpoints (torch zip and
safetensors) so that the new class loads them with strict=True, bit-identical; its pre-hook does the same
inside load_state_dict."""

from __future__ import annotations

import json
import os
import re
import subprocess
import textwrap
from typing import Any, Dict

import pytest

torch = pytest.importorskip("torch")

from conftest import load_module_from_path  # noqa: E402
from statedict_lint.cli import main  # noqa: E402
from test_migrate import _load_any, save_safetensors  # noqa: E402

OLD = '''
import torch
import torch.nn as nn


class Attention(nn.Module):
    def __init__(self, dim):
        super().__init__()
        self.qkv = nn.Linear(dim, 3 * dim)
        self.proj = nn.Linear(dim, dim)


class Block(nn.Module):
    def __init__(self, dim):
        super().__init__()
        self.norm = nn.LayerNorm(dim)
        self.attn = Attention(dim)
        self.mlp = nn.Sequential(nn.Linear(dim, 4 * dim), nn.GELU(), nn.Linear(4 * dim, dim))


class Model(nn.Module):
    def __init__(self, depth, dim, classes=10):
        super().__init__()
        self.blocks = nn.ModuleList([Block(dim) for _ in range(depth)])
        self.bn = nn.BatchNorm1d(dim)
        self.head = nn.Linear(dim, classes)
'''

NEW = (OLD.replace("self.attn = Attention(dim)", "self.self_attn = Attention(dim)")
       .replace("nn.GELU(), nn.Linear(4 * dim, dim)", "nn.GELU(), nn.Dropout(0.1), nn.Linear(4 * dim, dim)"))


def git(repo: str, *args: str) -> None:
    env = dict(os.environ, GIT_AUTHOR_NAME="t", GIT_AUTHOR_EMAIL="t@e", GIT_COMMITTER_NAME="t",
               GIT_COMMITTER_EMAIL="t@e")
    subprocess.run(["git", "-C", repo, *args], check=True, stdout=subprocess.PIPE, env=env)


def _random_state(model: Any) -> Dict[str, Any]:
    g = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for t in model.state_dict().values():
            if t.is_floating_point():
                t.copy_(torch.randn(t.shape, generator=g))
            else:
                t.fill_(3)
    return {k: v.clone() for k, v in model.state_dict().items()}


@pytest.fixture
def setup(tmp_path: Any, monkeypatch: Any) -> Dict[str, Any]:
    repo = tmp_path / "repo"
    repo.mkdir()
    (repo / "model.py").write_text(textwrap.dedent(OLD))
    git(str(repo), "init", "-q", "-b", "main")
    git(str(repo), "add", "-A")
    git(str(repo), "commit", "-qm", "old")
    old_mod = load_module_from_path(str(repo / "model.py"))
    (repo / "model.py").write_text(textwrap.dedent(NEW))
    new_mod = load_module_from_path(str(repo / "model.py"))
    monkeypatch.chdir(repo)
    return {"repo": repo, "old": old_mod, "new": new_mod}


def test_map_from_diff_migrates_zip_and_safetensors(setup: Dict[str, Any], tmp_path: Any, capsys: Any) -> None:
    repo = setup["repo"]
    capsys.readouterr()
    assert main(["diff", "--no-cache", "--map-out", str(tmp_path / "rename.json"), "--format", "json"]) == 1
    mapping = json.loads((tmp_path / "rename.json").read_text())
    assert mapping == {"blocks.{i}.attn.": "blocks.{i}.self_attn.", "blocks.{i}.mlp.2.": "blocks.{i}.mlp.3."}
    sd = _random_state(setup["old"].Model(3, 8))
    for fmt in ("pt", "safetensors"):
        src, dst = str(tmp_path / f"old.{fmt}"), str(tmp_path / f"new.{fmt}")
        (torch.save(sd, src) if fmt == "pt" else save_safetensors(sd, src))
        rc = main(["migrate", src, "--map", str(tmp_path / "rename.json"), "-o", dst,
                   "--check", f"{repo / 'model.py'}:Model", "--set", "depth=3", "--set", "dim=8"])
        assert rc == 0, capsys.readouterr()
        new = setup["new"].Model(3, 8)
        new.load_state_dict(_load_any(dst), strict=True)
        got = new.state_dict()
        for k, v in sd.items():
            nk = re.sub(r"^blocks\.(\d+)\.attn\.", r"blocks.\1.self_attn.", k)
            nk = re.sub(r"^blocks\.(\d+)\.mlp\.2\.", r"blocks.\1.mlp.3.", nk)
            assert torch.equal(got[nk], v), (fmt, k)
        # the old checkpoint itself does not load: the change really is breaking
        with pytest.raises(RuntimeError):
            setup["new"].Model(3, 8).load_state_dict(_load_any(src), strict=True)


def test_check_refuses_a_wrong_map(setup: Dict[str, Any], tmp_path: Any, capsys: Any) -> None:
    sd = _random_state(setup["old"].Model(2, 8))
    src = str(tmp_path / "old.pt")
    torch.save(sd, src)
    (tmp_path / "half.json").write_text(json.dumps({"blocks.{i}.attn.": "blocks.{i}.self_attn."}))
    capsys.readouterr()
    rc = main(["migrate", src, "--map", str(tmp_path / "half.json"), "-o", str(tmp_path / "x.pt"),
               "--check", f"{setup['repo'] / 'model.py'}:Model", "--set", "depth=2", "--set", "dim=8"])
    out = capsys.readouterr().out
    assert rc == 1 and "nothing written" in out and "blocks.0.mlp.2.weight" in out
    assert not (tmp_path / "x.pt").exists()


def test_pre_hook_snippet_loads_old_checkpoints(setup: Dict[str, Any], capsys: Any) -> None:
    capsys.readouterr()
    assert main(["diff", "--no-cache", "--format", "json"]) == 1
    data = json.loads(capsys.readouterr().out)
    snippet = data["pre_hooks"]["model.py:Block"]
    ns: Dict[str, Any] = {"re": re}
    exec(compile(snippet, "<hook>", "exec"), ns)  # the snippet as a user would paste it
    hook = next(v for k, v in ns.items() if k.endswith("_rename_old_keys"))
    sd = _random_state(setup["old"].Model(2, 8))
    new = setup["new"].Model(2, 8)
    for m in new.modules():
        if type(m).__name__ == "Block":
            m.register_load_state_dict_pre_hook(hook)
    new.load_state_dict(sd, strict=True)
    assert torch.equal(new.blocks[1].self_attn.qkv.weight, sd["blocks.1.attn.qkv.weight"])
    assert torch.equal(new.blocks[0].mlp[3].bias, sd["blocks.0.mlp.2.bias"])
    assert torch.equal(new.bn.running_var, sd["bn.running_var"])
