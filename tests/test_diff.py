"""`diff` over real temporary git repositories: each kind of state_dict change, and silence on refactors."""

from __future__ import annotations

import json
import os
import subprocess
import textwrap
from typing import Any, Dict, List

import pytest

from statedict_lint.cli import main

LAYERS = '''
import torch
import torch.nn as nn

HIDDEN_MULT = 3


class Attn(nn.Module):
    def __init__(self, n_embd):
        super().__init__()
        self.c_attn = nn.Linear(n_embd, HIDDEN_MULT * n_embd)
        self.c_proj = nn.Linear(n_embd, n_embd)
        self.register_buffer("mask", torch.ones(8, 8), persistent=False)
'''

MODEL = '''
import torch
import torch.nn as nn
from .layers import Attn


def helper(x):
    y = x * 2
    return y


class Block(nn.Module):
    def __init__(self, n_embd):
        super().__init__()
        self.ln = nn.LayerNorm(n_embd)
        self.attn = Attn(n_embd)
        self.mlp = nn.Sequential(nn.Linear(n_embd, 4 * n_embd), nn.GELU(), nn.Linear(4 * n_embd, n_embd))
        self.register_buffer("scale", torch.ones(n_embd))


class GPT(nn.Module):
    def __init__(self, n_layer, n_embd, vocab_size):
        super().__init__()
        self.wte = nn.Embedding(vocab_size, n_embd)
        self.h = nn.ModuleList([Block(n_embd) for _ in range(n_layer)])
        self.head = nn.Linear(n_embd, vocab_size, bias=False)
'''


def git(repo: str, *args: str) -> str:
    env = dict(os.environ, GIT_AUTHOR_NAME="t", GIT_AUTHOR_EMAIL="t@e", GIT_COMMITTER_NAME="t",
               GIT_COMMITTER_EMAIL="t@e")
    return subprocess.run(["git", "-C", repo, *args], check=True, stdout=subprocess.PIPE, env=env).stdout.decode()


def write(repo: str, files: Dict[str, str]) -> None:
    for rel, text in files.items():
        p = os.path.join(repo, rel)
        os.makedirs(os.path.dirname(p), exist_ok=True)
        with open(p, "w") as fh:
            fh.write(textwrap.dedent(text))


@pytest.fixture
def repo(tmp_path: Any, monkeypatch: Any) -> str:
    r = str(tmp_path / "repo")
    os.makedirs(r)
    git(r, "init", "-q", "-b", "main")
    write(r, {"pkg/__init__.py": "", "pkg/layers.py": LAYERS, "pkg/model.py": MODEL})
    git(r, "add", "-A")
    git(r, "commit", "-q", "-m", "base")
    monkeypatch.chdir(r)
    return r


def edit(repo: str, rel: str, old: str, new: str) -> None:
    p = os.path.join(repo, rel)
    text = open(p).read()
    assert old in text, old
    with open(p, "w") as fh:
        fh.write(text.replace(old, new))


def run_diff(capsys: Any, *args: str) -> Any:
    capsys.readouterr()
    rc = main(["diff", "--no-cache", "--format", "json", *args])
    out = capsys.readouterr().out
    return rc, json.loads(out) if out.strip().startswith("{") else out


def changes(data: Dict[str, Any], cls: str) -> List[Dict[str, Any]]:
    for c in data["classes"]:
        if c["class"] == cls:
            return c["changes"]
    return []


def roots(data: Dict[str, Any], cls: str) -> List[Dict[str, Any]]:
    return [c for c in changes(data, cls) if "via" not in c]


def test_attribute_rename_is_one_prefix_rename_seen_in_every_container(repo: str, capsys: Any) -> None:
    edit(repo, "pkg/model.py", "self.attn = Attn(n_embd)", "self.self_attn = Attn(n_embd)")
    rc, data = run_diff(capsys)
    assert rc == 1 and data["breaking"]
    block = roots(data, "pkg/model.py:Block")
    assert [(c["kind"], c["old_key"], c["new_key"], c["count"]) for c in block] == \
        [("renamed", "attn.", "self_attn.", 4)]
    assert block[0]["line"] == 16 and block[0]["path"] == "pkg/model.py"  # the renaming line itself
    assert 0 < block[0]["confidence"] <= 1 and block[0]["reason"]
    gpt = changes(data, "pkg/model.py:GPT")
    assert [(c["kind"], c["old_key"], c["new_key"], c["via"]) for c in gpt] == \
        [("renamed", "h.{i}.attn.", "h.{i}.self_attn.", "pkg/model.py:Block")]
    assert data["rename_maps"]["pkg/model.py:GPT"] == {"h.{i}.attn.": "h.{i}.self_attn."}
    assert "register_load_state_dict_pre_hook" in data["pre_hooks"]["pkg/model.py:Block"]


def test_resize_reports_shapes_and_the_changed_expression(repo: str, capsys: Any) -> None:
    edit(repo, "pkg/model.py", "nn.Linear(n_embd, 4 * n_embd), nn.GELU(), nn.Linear(4 * n_embd, n_embd)",
         "nn.Linear(n_embd, 2 * n_embd), nn.GELU(), nn.Linear(2 * n_embd, n_embd)")
    rc, data = run_diff(capsys)
    assert rc == 1
    got = {(c["kind"], c["new_key"], tuple(c["old_shape"]), tuple(c["new_shape"]))
           for c in roots(data, "pkg/model.py:Block")}
    assert got == {
        ("reshaped", "mlp.0.weight", ("4*n_embd", "n_embd"), ("2*n_embd", "n_embd")),
        ("reshaped", "mlp.0.bias", ("4*n_embd",), ("2*n_embd",)),
        ("reshaped", "mlp.2.weight", ("n_embd", "4*n_embd"), ("n_embd", "2*n_embd")),
    }
    w = next(c for c in roots(data, "pkg/model.py:Block") if c["new_key"] == "mlp.0.weight")
    assert w["old_origin"] == "nn.Linear(n_embd, 4 * n_embd)" and w["origin"] == "nn.Linear(n_embd, 2 * n_embd)"
    assert w["line"] == 17
    assert {c["new_key"] for c in changes(data, "pkg/model.py:GPT")} == {
        "h.{i}.mlp.0.weight", "h.{i}.mlp.0.bias", "h.{i}.mlp.2.weight"}
    assert all(c["via"] == "pkg/model.py:Block" for c in changes(data, "pkg/model.py:GPT"))


def test_dropout_inserted_in_sequential_is_a_renumbering(repo: str, capsys: Any) -> None:
    edit(repo, "pkg/model.py", "nn.GELU(), nn.Linear(4 * n_embd, n_embd)",
         "nn.GELU(), nn.Dropout(0.1), nn.Linear(4 * n_embd, n_embd)")
    rc, data = run_diff(capsys)
    assert rc == 1
    block = roots(data, "pkg/model.py:Block")
    assert [(c["kind"], c["old_key"], c["new_key"], c["count"]) for c in block] == \
        [("renumbered", "mlp.2.", "mlp.3.", 2)]
    assert data["rename_maps"]["pkg/model.py:GPT"] == {"h.{i}.mlp.2.": "h.{i}.mlp.3."}


def test_stateless_layer_appended_changes_nothing(repo: str, capsys: Any) -> None:
    edit(repo, "pkg/model.py", "nn.Linear(4 * n_embd, n_embd))", "nn.Linear(4 * n_embd, n_embd), nn.Dropout(0.1))")
    rc, data = run_diff(capsys)
    assert rc == 0 and data["classes"] == []


def test_submodule_moved_into_a_container(repo: str, capsys: Any) -> None:
    edit(repo, "pkg/model.py", "        self.head = nn.Linear(n_embd, vocab_size, bias=False)\n",
         "        self.out = nn.ModuleDict({'head': nn.Linear(n_embd, vocab_size, bias=False)})\n")
    rc, data = run_diff(capsys)
    assert rc == 1
    gpt = roots(data, "pkg/model.py:GPT")
    assert [(c["kind"], c["old_key"], c["new_key"], c["count"]) for c in gpt] == [
        ("renamed", "head.", "out.head.", 1)]
    assert data["rename_maps"]["pkg/model.py:GPT"] == {"head.": "out.head."}


def test_class_moved_to_another_file_is_not_breaking(repo: str, capsys: Any) -> None:
    block_src = MODEL[MODEL.index("class Block"):MODEL.index("class GPT")]
    edit(repo, "pkg/model.py", block_src, "")
    edit(repo, "pkg/model.py", "from .layers import Attn", "from .layers import Attn\nfrom .blocks import Block")
    write(repo, {"pkg/blocks.py": "import torch\nimport torch.nn as nn\nfrom .layers import Attn\n\n\n" + block_src})
    rc, data = run_diff(capsys)
    assert rc == 0, data
    kinds = [c["kind"] for cd in data["classes"] for c in cd["changes"]]
    assert kinds == ["moved"]


def test_persistent_flips(repo: str, capsys: Any) -> None:
    edit(repo, "pkg/model.py", 'self.register_buffer("scale", torch.ones(n_embd))',
         'self.register_buffer("scale", torch.ones(n_embd), persistent=False)')
    edit(repo, "pkg/layers.py", 'torch.ones(8, 8), persistent=False)', 'torch.ones(8, 8))')
    rc, data = run_diff(capsys)
    assert rc == 1
    block = roots(data, "pkg/model.py:Block")
    assert ("made-non-persistent", "scale") in {(c["kind"], c.get("old_key")) for c in block}
    attn = roots(data, "pkg/layers.py:Attn")
    assert [(c["kind"], c["new_key"]) for c in attn] == [("made-persistent", "mask")]
    assert attn[0]["line"] == 13
    assert {(c["kind"], c.get("new_key"), c["via"]) for c in changes(data, "pkg/model.py:Block") if "via" in c} == \
        {("made-persistent", "attn.mask", "pkg/layers.py:Attn")}


def test_change_in_imported_file_reaches_the_models_that_use_it(repo: str, capsys: Any) -> None:
    edit(repo, "pkg/layers.py", "HIDDEN_MULT = 3", "HIDDEN_MULT = 2")
    rc, data = run_diff(capsys)
    assert rc == 1
    attn = roots(data, "pkg/layers.py:Attn")
    assert {(c["new_key"], tuple(c["new_shape"])) for c in attn} == {
        ("c_attn.weight", ("2*n_embd", "n_embd")), ("c_attn.bias", ("2*n_embd",))}
    # Block and GPT live in an unchanged file but contain Attn
    assert {c["new_key"] for c in changes(data, "pkg/model.py:Block")} == {"attn.c_attn.weight", "attn.c_attn.bias"}
    assert {c["new_key"] for c in changes(data, "pkg/model.py:GPT")} == {
        "h.{i}.attn.c_attn.weight", "h.{i}.attn.c_attn.bias"}
    assert all(c["via"] == "pkg/layers.py:Attn" for c in changes(data, "pkg/model.py:GPT"))


def test_pure_refactors_report_nothing(repo: str, capsys: Any) -> None:
    edit(repo, "pkg/model.py", "    y = x * 2\n    return y\n", "    doubled = x * 2\n    return doubled\n")
    edit(repo, "pkg/model.py", "        self.ln = nn.LayerNorm(n_embd)\n        self.attn = Attn(n_embd)\n",
         "        width = n_embd\n        self.ln = nn.LayerNorm(width)\n        self.attn = Attn(width)\n")
    helper = "def helper(x):\n    doubled = x * 2\n    return doubled\n"
    edit(repo, "pkg/model.py", helper, "")
    with open(os.path.join(repo, "pkg/model.py"), "a") as fh:
        fh.write("\n\n" + helper)
    rc, data = run_diff(capsys)
    assert rc == 0 and data["classes"] == [] and data["changed_files"] == ["pkg/model.py"]
    assert data["compared_classes"] == 3 + 0 or data["compared_classes"] >= 2


def test_dtype_change_is_reported_but_not_breaking(repo: str, capsys: Any) -> None:
    edit(repo, "pkg/model.py", 'torch.ones(n_embd))', 'torch.ones(n_embd, dtype=torch.float64))')
    rc, data = run_diff(capsys)
    assert rc == 0
    block = roots(data, "pkg/model.py:Block")
    assert [(c["kind"], c["new_key"], c["old_dtype"], c["new_dtype"], c["breaking"]) for c in block] == \
        [("dtype", "scale", "float32", "float64", False)]


def test_explicit_revisions_default_base_and_paths(repo: str, capsys: Any) -> None:
    git(repo, "checkout", "-q", "-b", "feature")
    edit(repo, "pkg/model.py", "self.attn = Attn(n_embd)", "self.self_attn = Attn(n_embd)")
    git(repo, "commit", "-qam", "rename")
    base = git(repo, "rev-parse", "main").strip()
    rc, data = run_diff(capsys, "main", "HEAD")
    assert rc == 1 and data["base"] == base and data["head"] == git(repo, "rev-parse", "HEAD").strip()
    rc2, data2 = run_diff(capsys)  # default: merge-base with main .. working tree
    assert rc2 == 1 and data2["base"] == base
    rc3, data3 = run_diff(capsys, "main", "--", "pkg/layers.py")
    assert rc3 == 0 and data3["classes"] == []
    capsys.readouterr()
    assert main(["diff", "no-such-rev", "HEAD", "--no-cache"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1


def test_text_output_and_cache(repo: str, capsys: Any, tmp_path: Any, monkeypatch: Any) -> None:
    monkeypatch.setenv("STATEDICT_LINT_CACHE_DIR", str(tmp_path / "user-cache"))
    edit(repo, "pkg/model.py", "self.attn = Attn(n_embd)", "self.self_attn = Attn(n_embd)")
    capsys.readouterr()
    assert main(["diff"]) == 1
    out = capsys.readouterr().out
    assert "pkg/model.py:Block" in out and "BREAKING" in out and "h.{i}.self_attn." in out
    assert "def _block_rename_old_keys" in out
    # the cache is in the user's cache folder, never in the repository
    assert not os.path.exists(os.path.join(repo, ".statedict-lint-cache"))
    assert os.listdir(tmp_path / "user-cache" / "review")
    assert main(["diff", "--format", "json"]) == 1
    data = json.loads(capsys.readouterr().out)
    assert data["cache"]["misses"] == 0 and data["cache"]["hits"] >= 2
