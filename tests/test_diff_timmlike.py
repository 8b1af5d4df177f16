"""`diff` on a timm-style project (found by trying `diff` on a copy of timm): an attribute renamed in a
Block that containers build with other arguments (``qkv_bias=True`` adds keys the Block's defaults lack)
and unroll at a concrete default depth; a stateless layer inserted in an ``nn.Sequential``; a buffer made
non-persistent; pure refactors. The migration map must hold for checkpoints of any depth."""

from __future__ import annotations

import json
import os
import subprocess
import textwrap
from typing import Any, Dict

import pytest

from statedict_lint.cli import main
from statedict_lint.review.snapshot import ClassRec, KeyRec
from statedict_lint.review.structdiff import compare_class

VIT = 'from functools import partial\nfrom typing import Optional\n\nimport torch\nimport torch.nn as nn\n\n\nclass Attention(nn.Module):\n    def __init__(self, dim: int, num_heads: int = 8, qkv_bias: bool = False, proj_drop: float = 0.):\n        super().__init__()\n        self.num_heads = num_heads\n        self.qkv = nn.Linear(dim, dim * 3, bias=qkv_bias)\n        self.proj = nn.Linear(dim, dim)\n        self.proj_drop = nn.Dropout(proj_drop)\n\n\nclass Mlp(nn.Module):\n    def __init__(self, in_features: int, hidden_features: Optional[int] = None, drop: float = 0.):\n        super().__init__()\n        hidden_features = hidden_features or in_features\n        self.fc1 = nn.Linear(in_features, hidden_features)\n        self.act = nn.GELU()\n        self.fc2 = nn.Linear(hidden_features, in_features)\n\n\nclass Block(nn.Module):\n    def __init__(self, dim: int, num_heads: int, mlp_ratio: float = 4., qkv_bias: bool = False,\n                 drop_path: float = 0., norm_layer=nn.LayerNorm):\n        super().__init__()\n        self.norm1 = norm_layer(dim)\n        self.attn = Attention(dim, num_heads=num_heads, qkv_bias=qkv_bias)\n        self.norm2 = norm_layer(dim)\n        self.mlp = Mlp(in_features=dim, hidden_features=int(dim * mlp_ratio))\n\n    def forward(self, x):\n        x = x + self.attn(self.norm1(x))\n        return x + self.mlp(self.norm2(x))\n\n\nclass VisionTransformer(nn.Module):\n    def __init__(self, num_classes: int = 1000, embed_dim: int = 768, depth: int = 12, num_heads: int = 12,\n                 mlp_ratio: float = 4., qkv_bias: bool = True, drop_path_rate: float = 0.):\n        super().__init__()\n        norm_layer = partial(nn.LayerNorm, eps=1e-6)\n        self.cls_token = nn.Parameter(torch.zeros(1, 1, embed_dim))\n        self.patch_embed = nn.Conv2d(3, embed_dim, kernel_size=16, stride=16)\n        dpr = [x.item() for x in torch.linspace(0, drop_path_rate, depth)]\n        self.blocks = nn.Sequential(*[\n            Block(dim=embed_dim, num_heads=num_heads, mlp_ratio=mlp_ratio, qkv_bias=qkv_bias, drop_path=dpr[i],\n                  norm_layer=norm_layer)\n            for i in range(depth)])\n        self.norm = norm_layer(embed_dim)\n        self.head = nn.Linear(embed_dim, num_classes) if num_classes > 0 else nn.Identity()\n'

HYBRID = """
import torch.nn as nn

from .vit import VisionTransformer


class Hybrid(nn.Module):
    def __init__(self, depth: int = 4):
        super().__init__()
        self.stem = nn.Sequential(
            nn.Conv2d(3, 8, 3),
            nn.ReLU(),
            nn.BatchNorm2d(8),
        )
        self.vit = VisionTransformer(num_classes=0, embed_dim=64, depth=depth, num_heads=2)
        self.register_buffer("pos_index", torch.zeros(16, dtype=torch.long))
"""


def git(repo: str, *args: str) -> str:
    env = dict(os.environ, GIT_AUTHOR_NAME="t", GIT_AUTHOR_EMAIL="t@e", GIT_COMMITTER_NAME="t",
               GIT_COMMITTER_EMAIL="t@e")
    return subprocess.run(["git", "-C", repo, *args], check=True, stdout=subprocess.PIPE, env=env).stdout.decode()


@pytest.fixture
def repo(tmp_path: Any, monkeypatch: Any) -> str:
    r = str(tmp_path / "repo")
    os.makedirs(os.path.join(r, "pkg"))
    files = {"pkg/__init__.py": "", "pkg/vit.py": VIT, "pkg/hybrid.py": "import torch\n" + HYBRID}
    for rel, text in files.items():
        with open(os.path.join(r, rel), "w") as fh:
            fh.write(text)
    git(r, "init", "-q", "-b", "main")
    git(r, "add", "-A")
    git(r, "commit", "-q", "-m", "base")
    monkeypatch.chdir(r)
    return r


def edit(repo: str, rel: str, old: str, new: str, count: int = -1) -> None:
    p = os.path.join(repo, rel)
    text = open(p).read()
    assert old in text, old
    with open(p, "w") as fh:
        fh.write(text.replace(old, new, count))


def run_json(capsys: Any, *args: str) -> Any:
    capsys.readouterr()
    rc = main(["diff", "--format", "json", "--no-cache", *args])
    return rc, json.loads(capsys.readouterr().out)


def roots(data: Dict[str, Any]) -> list:
    return [ch for c in data["classes"] for ch in c["changes"] if not ch.get("via")]


def rename_attn(repo: str) -> None:
    edit(repo, "pkg/vit.py", "self.attn = Attention(", "self.self_attn = Attention(")
    edit(repo, "pkg/vit.py", "x = x + self.attn(", "x = x + self.self_attn(")


def test_rename_in_block_is_one_change_folded_into_every_container(repo: str, capsys: Any) -> None:
    rename_attn(repo)
    rc, data = run_json(capsys)
    assert rc == 1
    rs = roots(data)
    assert [(c["kind"], c["class"], c["old_key"], c["new_key"]) for c in rs] == [
        ("renamed", "pkg/vit.py:Block", "attn.", "self_attn.")]
    by = {c["class"]: c["changes"] for c in data["classes"]}
    # containers build Block with qkv_bias=True (a key Block's defaults lack) at a concrete default depth
    vt = by["pkg/vit.py:VisionTransformer"]
    assert [(c["kind"], c["old_key"], c["new_key"], c["via"]) for c in vt] == [
        ("renamed", "blocks.{i}.attn.", "blocks.{i}.self_attn.", "pkg/vit.py:Block")]
    assert ["blocks.0.attn.qkv.bias", "blocks.0.self_attn.qkv.bias"] in vt[0]["pairs"]
    hy = by["pkg/hybrid.py:Hybrid"]
    assert [(c["old_key"], c["new_key"], c["via"]) for c in hy] == [
        ("vit.blocks.{i}.attn.", "vit.blocks.{i}.self_attn.", "pkg/vit.py:Block")]
    assert data["rename_maps"]["pkg/hybrid.py:Hybrid"] == {"vit.blocks.{i}.attn.": "vit.blocks.{i}.self_attn."}
    assert list(data["pre_hooks"]) == ["pkg/vit.py:Block"]


def test_map_out_picks_the_outermost_model(repo: str, capsys: Any, tmp_path: Any) -> None:
    rename_attn(repo)
    out = str(tmp_path / "map.json")
    assert main(["diff", "--no-cache", "--map-out", out]) == 1
    text = capsys.readouterr().out
    assert json.load(open(out)) == {"vit.blocks.{i}.attn.": "vit.blocks.{i}.self_attn."}
    # VisionTransformer is contained in Hybrid: its map is not offered as a model map, only on request
    assert "rename map for checkpoints of pkg/hybrid.py:Hybrid" in text
    assert "rename map for checkpoints of pkg/vit.py:VisionTransformer" not in text
    assert main(["diff", "--no-cache", "--map-out", out, "--class", "VisionTransformer"]) == 1
    assert json.load(open(out)) == {"blocks.{i}.attn.": "blocks.{i}.self_attn."}


@pytest.mark.parametrize("fmt", ["text", "markdown", "sarif", "github"])
def test_every_format_reports_the_rename_once(repo: str, capsys: Any, fmt: str) -> None:
    rename_attn(repo)
    capsys.readouterr()
    assert main(["diff", "--no-cache", "--format", fmt]) == 1
    out = capsys.readouterr().out
    assert out.count("`attn.*` -> `self_attn.*`") == 1, out
    assert "blocks.{i}.attn.*" in out
    if fmt == "sarif":
        import jsonschema

        with open(os.path.join(os.path.dirname(os.path.abspath(__file__)), "data", "sarif-schema-2.1.0.json")) as fh:
            jsonschema.Draft4Validator(json.load(fh)).validate(json.loads(out))
        rules = json.loads(out)["runs"][0]["tool"]["driver"]["rules"]
        assert [r["id"] for r in rules] == ["SDL801"]
        res = json.loads(out)["runs"][0]["results"]
        assert [(r["ruleId"], r["locations"][0]["physicalLocation"]["region"]["startLine"]) for r in res] == [
            ("SDL801", VIT.splitlines().index("        self.attn = Attention(dim, num_heads=num_heads, "
                                              "qkv_bias=qkv_bias)") + 1)]
    if fmt == "github":
        assert out.startswith("::error file=pkg/vit.py,line=")


def test_sequential_insert_and_persistence_flip_in_a_container(repo: str, capsys: Any) -> None:
    edit(repo, "pkg/hybrid.py", "nn.ReLU(),", "nn.ReLU(),\n            nn.Dropout(0.1),")
    edit(repo, "pkg/hybrid.py", 'torch.zeros(16, dtype=torch.long))', 'torch.zeros(16, dtype=torch.long), '
         'persistent=False)')
    rc, data = run_json(capsys)
    assert rc == 1
    got = sorted((c["kind"], c.get("old_key"), c.get("new_key")) for c in roots(data))
    assert got == [("made-non-persistent", "pos_index", "pos_index"), ("renumbered", "stem.2.", "stem.3.")]
    assert data["rename_maps"] == {"pkg/hybrid.py:Hybrid": {"stem.2.": "stem.3."}}


def test_pure_refactor_reports_nothing(repo: str, capsys: Any) -> None:
    edit(repo, "pkg/vit.py", "dpr = [", "drop_rates = [")
    edit(repo, "pkg/vit.py", "drop_path=dpr[i]", "drop_path=drop_rates[i]")
    # reorder unrelated code: Mlp after Block
    text = open(os.path.join(repo, "pkg/vit.py")).read()
    a, b = text.index("class Mlp("), text.index("class Block(")
    mlp = text[a:b]
    text = text[:a] + text[b:]
    text = text.replace("class VisionTransformer(", mlp + "class VisionTransformer(")
    with open(os.path.join(repo, "pkg/vit.py"), "w") as fh:
        fh.write(text)
    rc, data = run_json(capsys)
    assert rc == 0 and data["classes"] == [] and data["changed_files"] == ["pkg/vit.py"]


def _rec(name: str, keys: Dict[str, Any]) -> ClassRec:
    return ClassRec("m.py", name, 1, [KeyRec(k, list(s), "float32", "param") for k, s in keys.items()])


def test_index_placeholder_only_when_every_index_moves() -> None:
    leaves = {"attn.qkv.weight": [12, 4], "attn.proj.weight": [4, 4]}
    old = {f"blocks.{i}.{k}": s for i in range(3) for k, s in leaves.items()}
    every = {k.replace(".attn.", ".self_attn."): s for k, s in old.items()}
    chs = compare_class(_rec("M", old), _rec("M", every))
    assert [(c.kind, c.old_key, c.new_key, c.count) for c in chs] == [
        ("renamed", "blocks.{i}.attn.", "blocks.{i}.self_attn.", 6)]
    # block 2 keeps its name: no placeholder (it would rename block 2 too), one exact prefix per block
    some = {(k.replace(".attn.", ".self_attn.") if not k.startswith("blocks.2.") else k): s for k, s in old.items()}
    chs = compare_class(_rec("M", old), _rec("M", some))
    assert sorted((c.kind, c.old_key, c.new_key) for c in chs) == [
        ("renamed", "blocks.0.attn.", "blocks.0.self_attn."), ("renamed", "blocks.1.attn.", "blocks.1.self_attn.")]
    # different shapes under the new name: not a rename
    resized = {k: ([s[0] * 2, s[1]] if k.startswith("blocks.") else s) for k, s in every.items()}
    chs = compare_class(_rec("M", old), _rec("M", resized))
    assert {c.kind for c in chs} <= {"removed", "added"}


torch = None


def test_migrated_checkpoint_of_another_depth_loads_strict(repo: str, capsys: Any, tmp_path: Any) -> None:
    torch = pytest.importorskip("torch")
    from conftest import load_module_from_path

    old_mod = load_module_from_path(os.path.join(repo, "pkg/vit.py"))
    rename_attn(repo)
    new_mod = load_module_from_path(os.path.join(repo, "pkg/vit.py"))
    out = str(tmp_path / "map.json")
    assert main(["diff", "--no-cache", "--map-out", out, "--class", "VisionTransformer"]) == 1
    torch.manual_seed(0)
    kw = dict(num_classes=5, embed_dim=16, depth=3, num_heads=2)  # not the default depth the map was seen at
    old = old_mod.VisionTransformer(**kw)
    sd = {k: v.clone() for k, v in old.state_dict().items()}
    src, dst = str(tmp_path / "old.pt"), str(tmp_path / "new.pt")
    torch.save(sd, src)
    assert main(["migrate", src, "--map", out, "-o", dst]) == 0
    new = new_mod.VisionTransformer(**kw)
    loaded = torch.load(dst, weights_only=True)
    new.load_state_dict(loaded, strict=True)
    for k, v in sd.items():
        nk = k.replace(".attn.", ".self_attn.")
        assert torch.equal(loaded[nk], v) and loaded[nk].dtype == v.dtype


def test_changed_default_width_is_reported_for_instances_built_with_it(repo: str, capsys: Any) -> None:
    edit(repo, "pkg/vit.py", "mlp_ratio: float = 4., qkv_bias: bool = False,",
         "mlp_ratio: float = 3., qkv_bias: bool = False,")
    rc, data = run_json(capsys)
    # int(dim * mlp_ratio) with a float ratio has no symbolic form: the keys are named, not claimed breaking
    assert rc == 0
    got = [(c["kind"], c["class"], c["old_key"], c["breaking"]) for c in roots(data)]
    assert got == [("default-changed", "pkg/vit.py:Block", "mlp_ratio", False)]
    ch = roots(data)[0]
    assert set(ch["keys"]) == {"mlp.fc1.weight", "mlp.fc1.bias", "mlp.fc2.weight"}
    assert "cannot be computed and may depend on it" in ch["reason"]
    assert (ch["old_origin"], ch["origin"]) == ("mlp_ratio=4.0", "mlp_ratio=3.0")
    assert ch["line"] == VIT.splitlines().index(
        "    def __init__(self, dim: int, num_heads: int, mlp_ratio: float = 4., qkv_bias: bool = False,") + 1
    # VisionTransformer passes mlp_ratio itself: unaffected; a default nothing's shape depends on: silent
    edit(repo, "pkg/vit.py", "drop_path: float = 0., norm_layer", "drop_path: float = 0.1, norm_layer")
    rc, data = run_json(capsys)
    assert [c["old_key"] for c in roots(data)] == ["mlp_ratio"]


def test_changed_default_of_a_class_with_all_defaults_is_a_reshape(repo: str, capsys: Any) -> None:
    # every VisionTransformer parameter has a default: its keys are predicted with them, concretely
    edit(repo, "pkg/vit.py", "num_classes: int = 1000, embed_dim: int = 768,",
         "num_classes: int = 1000, embed_dim: int = 1024,")
    rc, data = run_json(capsys)
    assert rc == 1
    rs = roots(data)
    assert {(c["kind"], c["class"]) for c in rs} == {("reshaped", "pkg/vit.py:VisionTransformer")}
    tok = next(c for c in rs if c["new_key"] == "cls_token")
    assert (tok["old_shape"], tok["new_shape"]) == ([1, 1, 768], [1, 1, 1024])
    # Hybrid passes embed_dim=64: nothing to report there
    assert [c["class"] for c in data["classes"]] == ["pkg/vit.py:VisionTransformer"]


def test_changed_default_in_a_computed_shape_is_a_reshape_once(repo: str, capsys: Any) -> None:
    edit(repo, "pkg/vit.py", "def __init__(self, dim: int, num_heads: int = 8, qkv_bias: bool = False, proj_drop",
         "def __init__(self, dim: int, num_heads: int = 8, qkv_bias: bool = False, qkv_mult: int = 3, proj_drop")
    edit(repo, "pkg/vit.py", "nn.Linear(dim, dim * 3, bias=qkv_bias)", "nn.Linear(dim, dim * qkv_mult, bias=qkv_bias)")
    git(repo, "commit", "-qam", "qkv_mult")
    edit(repo, "pkg/vit.py", "qkv_mult: int = 3,", "qkv_mult: int = 2,")
    rc, data = run_json(capsys, "HEAD")
    assert rc == 1
    [ch] = roots(data)
    assert (ch["kind"], ch["class"], ch["new_key"], ch["old_shape"], ch["new_shape"]) == (
        "reshaped", "pkg/vit.py:Attention", "qkv.weight", ["3*dim", "dim"], ["2*dim", "dim"])
    # the containers resize too (also qkv.bias, which Attention's defaults lack): listed under the origin
    vt = next(c for c in data["classes"] if c["class"] == "pkg/vit.py:VisionTransformer")["changes"]
    assert {c["new_key"] for c in vt} >= {"blocks.0.attn.qkv.weight", "blocks.0.attn.qkv.bias"}
    assert all(c["via"] == "pkg/vit.py:Attention" for c in vt)


def test_container_building_blocks_through_a_module_level_helper(repo: str, capsys: Any) -> None:
    with open(os.path.join(repo, "pkg", "flex.py"), "w") as fh:
        fh.write(textwrap.dedent("""
            import torch.nn as nn

            from .vit import Block


            def get_block_fn(kind):
                return Block if kind == "vit" else nn.Identity


            class FlexVit(nn.Module):
                def __init__(self, depth: int = 2, dim: int = 32):
                    super().__init__()
                    block_fn = get_block_fn("vit")
                    self.blocks = nn.ModuleList([block_fn(dim, 2, qkv_bias=True) for _ in range(depth)])
        """))
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "flex")
    rename_attn(repo)
    rc, data = run_json(capsys)
    assert rc == 1
    flex = next(c for c in data["classes"] if c["class"] == "pkg/flex.py:FlexVit")["changes"]
    assert [(c["old_key"], c["via"]) for c in flex] == [("blocks.{i}.attn.", "pkg/vit.py:Block")]
    assert [c["class"] for c in roots(data)] == ["pkg/vit.py:Block"]


def test_a_subclass_does_not_hide_its_base_from_the_model_maps(repo: str, capsys: Any) -> None:
    with open(os.path.join(repo, "pkg", "deit.py"), "w") as fh:
        fh.write(textwrap.dedent("""
            import torch
            import torch.nn as nn

            from .vit import VisionTransformer


            class Distilled(VisionTransformer):
                def __init__(self, **kwargs):
                    super().__init__(**kwargs)
                    self.dist_token = nn.Parameter(torch.zeros(1, 1, 768))
        """))
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "deit")
    rename_attn(repo)
    capsys.readouterr()
    assert main(["diff", "--no-cache"]) == 1
    out = capsys.readouterr().out
    assert "rename map for checkpoints of pkg/vit.py:VisionTransformer" not in out  # Hybrid contains it
    assert "rename map for checkpoints of pkg/hybrid.py:Hybrid" in out
    assert "rename map for checkpoints of pkg/deit.py:Distilled" in out
    git(repo, "rm", "-q", "pkg/hybrid.py")
    git(repo, "commit", "-qm", "no hybrid", "--", "pkg/hybrid.py")  # the rename stays uncommitted
    assert main(["diff", "--no-cache", "HEAD"]) == 1
    out = capsys.readouterr().out
    # Distilled subclasses VisionTransformer: both are models checkpoints are saved from
    assert "rename map for checkpoints of pkg/vit.py:VisionTransformer" in out
    assert "rename map for checkpoints of pkg/deit.py:Distilled" in out
