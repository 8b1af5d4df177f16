"""Golden outputs (issue 9 step 9): the text of `keys`, `check`, `inspect`, `diff` and `lock --check` for fixture
cases, compared verbatim with tests/golden/NAME.txt (see tests/goldens.py). The checkpoints are saved by torch
in this module, once; the review cases run on a git repository made here with fixed dates, so commit ids are
stable. `--update-golden` rewrites the snapshots, then the docs' golden blocks."""

from __future__ import annotations

import json
import os
import shlex
import shutil
import subprocess
import sys
from typing import Any, Dict, List

import pytest

torch = pytest.importorskip("torch")
nn = torch.nn

import goldens  # noqa: E402
from conftest import REPO, load_module_from_path  # noqa: E402

GPT_SETS = ["--set", "config.n_layer=2", "--set", "config.n_embd=64", "--set", "config.n_head=4",
            "--set", "config.vocab_size=100", "--set", "config.block_size=32", "--set", "config.bias=True"]

UNSURE_PY = '''import torch.nn as nn
from my_layers import make_body


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(4, 2)
        self.body = make_body()
'''

# name -> the commands it runs, in order, in one folder (see `workspace`)
CASES: Dict[str, List[List[str]]] = {
    "keys_gpt_bound": [["keys", "gpt.py:GPT", *GPT_SETS]],
    "keys_gpt_symbolic": [["keys", "gpt.py:GPT"]],
    "keys_resnet": [["keys", "resnet.py:ResNet", "--set", "block=BasicBlock", "--set", "layers=[1, 1, 1, 1]",
                     "--set", "num_classes=10"]],
    "keys_incomplete": [["keys", "incomplete.py:NormFromParam"]],
    "keys_hook": [["keys", "hooks.py:SiblingHook"]],
    "keys_lm_json": [["keys", "lm.py:TinyLM", "--set", "vocab_size=37", "--set", "n_embd=8", "--set", "n_layer=2",
                      "--format", "json"]],
    "inspect_lm": [["inspect", "lm.pt"]],
    "inspect_ckpt": [["inspect", "ckpt.pt"]],
    "inspect_lightning": [["inspect", "epoch=3.ckpt"], ["inspect", "epoch=3.ckpt", "--key", "nope"]],
    "inspect_safetensors": [["inspect", "lm.safetensors"]],
    "inspect_bad": [["inspect", "truncated.pt"], ["inspect", "junk.pt"]],
    "inspect_evil": [["inspect", "evil.pt"]],
    "check_ok": [["check", "gpt.py:GPT", "ckpt.pt"]],
    "check_imagenet": [["check", "cnn.py:SmallCNN", "imagenet.pt"],
                       ["check", "cnn.py:SmallCNN", "imagenet.pt", "--set", "num_classes=1000"]],
    "check_imagenet_json": [["check", "cnn.py:SmallCNN", "imagenet.pt", "--format", "json"]],
    "check_imagenet_markdown": [["check", "cnn.py:SmallCNN", "imagenet.pt", "--format", "markdown"]],
    "check_imagenet_github": [["check", "cnn.py:SmallCNN", "imagenet.pt", "--format", "github"]],
    "check_bias_false": [["check", "gpt.py:GPT", "nobias.pt", *GPT_SETS]],
    "check_three_layers": [["check", "gpt.py:GPT", "3layers.pt", *GPT_SETS]],
    "check_changed_expression": [["check", "gpt_mlp2.py:GPT", "gpt64.pt", *GPT_SETS]],
    "check_lm_read_off": [["check", "lm.py:TinyLM", "lm.pt"]],
    "check_lm_contradiction": [["check", "lm.py:TinyLM", "lm_bad.pt"]],
    "check_wrappers": [["check", "cnn.py:SmallCNN", "dp.pt"], ["check", "cnn.py:SmallCNN", "epoch=3.ckpt"]],
    "check_compiled": [["check", "cnn.py:SmallCNN", "compiled.pt"]],
    "check_compiled_nanogpt": [["check", "gpt.py:GPT", "out/ckpt.pt", "--set", "config.vocab_size=50257",
                                "--set", "config.n_layer=2", "--set", "config.n_head=4", "--set", "config.n_embd=64",
                                "--set", "config.block_size=32", "--set", "config.bias=False"]],
    "check_renamed": [["check", "cnn.py:SmallCNN", "renamed.pt"]],
    "check_rename_map_out": [["check", "gpt_qkv.py:GPT", "gpt64.pt", "--map-out", "rename.json"],
                             ["migrate", "gpt64.pt", "--map", "rename.json", "-o", "new.pt"],
                             ["check", "gpt_qkv.py:GPT", "new.pt"]],
    "check_old": [["check", "cnn.py:SmallCNN", "old.pt"]],
    "check_tied": [["check", "gpt.py:GPT", "gpt.safetensors"], ["check", "gpt.py:GPT", "sharded"]],
    "check_half": [["check", "cnn.py:SmallCNN", "half.pt"]],
    "check_notensor": [["check", "cnn.py:SmallCNN", "notensor.pt"]],
    "check_unsure": [["check", "unsure.py:Net", "net.pt"]],
}


@pytest.fixture(scope="module")
def update(request: Any) -> bool:
    return bool(request.config.getoption("--update-golden") or os.environ.get(goldens.ENV_UPDATE))


@pytest.fixture(scope="module")
def workspace(tmp_path_factory: Any) -> str:
    """One folder with the model sources (fixtures under the short names the docs use) and every checkpoint
    the cases read, saved by torch with fixed seeds."""
    ws = tmp_path_factory.mktemp("golden")
    torch.manual_seed(0)
    shutil.copy(os.path.join(REPO, "fixtures", "gpt.py"), ws / "gpt.py")
    shutil.copy(os.path.join(REPO, "fixtures", "resnet.py"), ws / "resnet.py")
    shutil.copy(os.path.join(REPO, "fixtures", "incomplete_layer_type.py"), ws / "incomplete.py")
    shutil.copy(os.path.join(REPO, "fixtures", "redteam", "state_dict_hooks.py"), ws / "hooks.py")
    shutil.copy(os.path.join(REPO, "fixtures", "checkpoints", "small_cnn.py"), ws / "cnn.py")
    shutil.copy(os.path.join(REPO, "fixtures", "checkpoints", "tiny_lm.py"), ws / "lm.py")
    gpt_src = (ws / "gpt.py").read_text()
    # the model changed since the files were saved: the MLP went from 4x to 2x width; c_attn renamed to qkv
    (ws / "gpt_mlp2.py").write_text(gpt_src.replace("4 * config.n_embd", "2 * config.n_embd"))
    (ws / "gpt_qkv.py").write_text(gpt_src.replace("c_attn", "qkv"))
    cnn_src = (ws / "cnn.py").read_text()
    (ws / "cnn_old.py").write_text(cnn_src.replace("self.blocks", "self.layers")
                                   .replace('"scale"', '"scales"').replace("self.scale", "self.scales"))
    (ws / "unsure.py").write_text(UNSURE_PY)

    gpt = load_module_from_path(str(ws / "gpt.py"))
    cnn = load_module_from_path(str(ws / "cnn.py"))
    cnn_old = load_module_from_path(str(ws / "cnn_old.py"))
    lm = load_module_from_path(str(ws / "lm.py"))

    def cfg(**kw: Any) -> Any:
        return gpt.GPTConfig(**{**dict(n_layer=2, n_embd=64, n_head=4, vocab_size=100, block_size=32, bias=True),
                                **kw})

    def save(obj: Any, name: str) -> None:
        torch.save(obj, ws / name)

    small = gpt.GPT(cfg(n_embd=48, block_size=16))
    opt = torch.optim.AdamW(small.parameters())
    save({"model": small.state_dict(), "optimizer": opt.state_dict(), "iter_num": 2000, "best_val_loss": 1.47,
          "model_args": {"n_layer": 2, "n_embd": 48, "bias": True}, "config": {"dataset": "shakespeare_char"}},
         "ckpt.pt")
    from safetensors.torch import save_file, save_model

    save_model(small, str(ws / "gpt.safetensors"))
    sd = small.state_dict()  # Hugging Face style shards: the tied weight is held once, with no alias
    del sd["transformer.wte.weight"]
    keys = list(sd)
    (ws / "sharded").mkdir()
    weight_map = {}
    for i, part in enumerate((keys[: len(keys) // 2], keys[len(keys) // 2:])):
        shard = f"model-{i + 1:05d}-of-00002.safetensors"
        save_file({k: sd[k].contiguous() for k in part}, str(ws / "sharded" / shard))
        weight_map.update({k: shard for k in part})
    (ws / "sharded" / "model.safetensors.index.json").write_text(json.dumps({"metadata": {}, "weight_map": weight_map}))
    # nanoGPT's train.py with compile=True: the compiled module's keys, the GPT-2 vocabulary padded to 50304
    nano = gpt.GPT(cfg(vocab_size=50304, bias=False))
    (ws / "out").mkdir()
    save({"model": torch.compile(nano).state_dict(), "iter_num": 0}, "out/ckpt.pt")
    save(gpt.GPT(cfg()).state_dict(), "gpt64.pt")
    save(gpt.GPT(cfg(bias=False)).state_dict(), "nobias.pt")
    save(gpt.GPT(cfg(n_layer=3)).state_dict(), "3layers.pt")

    save(cnn.SmallCNN(num_classes=1000).state_dict(), "imagenet.pt")
    save(nn.DataParallel(cnn.SmallCNN()).state_dict(), "dp.pt")
    save(torch.compile(cnn.SmallCNN()).state_dict(), "compiled.pt")  # lazy: nothing compiles until called
    save(cnn_old.SmallCNN().state_dict(), "renamed.pt")
    save(cnn.SmallCNN().half().state_dict(), "half.pt")
    notensor = cnn.SmallCNN().state_dict()
    notensor["scale"] = [1.0] * 8
    save(notensor, "notensor.pt")
    old = cnn.SmallCNN().state_dict()  # keeps its _metadata: BatchNorm's version says it counts batches
    for k in [k for k in old if k.endswith("num_batches_tracked")]:
        del old[k]
    old["cache"] = torch.zeros(4)
    save(old, "old.pt")
    lightning = cnn.SmallCNN()
    save({"epoch": 3, "global_step": 300, "pytorch-lightning_version": "2.2.0",
          "state_dict": {f"model.{k}": v for k, v in lightning.state_dict().items()},
          "optimizer_states": [torch.optim.SGD(lightning.parameters(), lr=0.1).state_dict()], "lr_schedulers": []},
         "epoch=3.ckpt")

    lm_model = lm.TinyLM(37, 8, 4)
    save(lm_model.state_dict(), "lm.pt")
    bad = lm_model.state_dict()  # one block of four edited: the file contradicts itself
    bad["h.1.fc.weight"] = torch.zeros(40, 8)
    save(bad, "lm_bad.pt")
    save_model(lm.TinyLM(37, 8, 1), str(ws / "lm.safetensors"))
    data = (ws / "lm.pt").read_bytes()
    (ws / "truncated.pt").write_bytes(data[: len(data) // 2])
    (ws / "junk.pt").write_bytes(b"not a checkpoint at all\n")
    # a pickle whose __reduce__ would run `touch PWNED` (test_golden asserts that no PWNED appears)
    save({"weight": torch.zeros(2), "x": _Payload(os.system, ("touch PWNED",))}, "evil.pt")
    save({"fc.weight": torch.zeros(2, 4), "fc.bias": torch.zeros(2), "body.0.weight": torch.zeros(3, 3)}, "net.pt")
    return str(ws)


class _Payload:
    def __init__(self, func: Any, args: Any) -> None:
        self.func, self.args = func, args

    def __reduce__(self) -> Any:
        return self.func, self.args


def run_case(name: str, commands: List[List[str]], cwd: str, tmp: str, update: bool) -> None:
    out = "".join(goldens.run_cli(args, cwd, tmp) for args in commands)
    problem = goldens.compare_or_update(name, out, update)
    if problem:
        pytest.fail(problem, pytrace=False)


@pytest.mark.parametrize("name", sorted(CASES))
def test_golden(name: str, workspace: str, update: bool, monkeypatch: Any, tmp_path: Any) -> None:
    monkeypatch.setenv("STATEDICT_LINT_CACHE_DIR", str(tmp_path / "cache"))  # a fresh cache: every run a miss
    run_case(name, CASES[name], workspace, workspace, update)
    assert not os.path.exists(os.path.join(workspace, "PWNED")), "a pickled payload ran"


REVIEW_BASE = '''import torch
import torch.nn as nn


class Block(nn.Module):
    def __init__(self, n_embd):
        super().__init__()
        self.ln = nn.LayerNorm(n_embd)
        self.attn = nn.Linear(n_embd, 3 * n_embd)
        self.mlp = nn.Sequential(nn.Linear(n_embd, 4 * n_embd), nn.GELU(), nn.Linear(4 * n_embd, n_embd))
        self.register_buffer("mask", torch.ones(8, 8))


class GPT(nn.Module):
    def __init__(self, n_layer, n_embd, vocab_size):
        super().__init__()
        self.wte = nn.Embedding(vocab_size, n_embd)
        self.wpe = nn.Embedding(16, n_embd)
        self.h = nn.ModuleList([Block(n_embd) for _ in range(n_layer)])
        self.head = nn.Linear(n_embd, vocab_size, bias=False)
'''

# the pull request: a rename (attn -> self_attn), a resize (wpe: 16 -> 32 positions), a Dropout inserted into the
# Sequential (mlp.2 -> mlp.3) and a buffer made non-persistent
REVIEW_HEAD = (REVIEW_BASE.replace("self.attn =", "self.self_attn =")
               .replace("nn.Embedding(16, n_embd)", "nn.Embedding(32, n_embd)")
               .replace("4 * n_embd), nn.GELU()", "4 * n_embd), nn.Dropout(0.1), nn.GELU()")
               .replace("torch.ones(8, 8))", "torch.ones(8, 8), persistent=False)"))

REVIEW_CASES: Dict[str, List[List[str]]] = {
    "diff_review": [["diff"]],
    "lock_check_drift": [["lock", "--check"]],
}


GIT_ENV = {"GIT_AUTHOR_NAME": "golden", "GIT_AUTHOR_EMAIL": "golden@example.com", "GIT_COMMITTER_NAME": "golden",
           "GIT_COMMITTER_EMAIL": "golden@example.com", "GIT_AUTHOR_DATE": "2026-01-01T00:00:00+00:00",
           "GIT_COMMITTER_DATE": "2026-01-01T00:00:00+00:00", "GIT_CONFIG_GLOBAL": os.devnull,
           "GIT_CONFIG_NOSYSTEM": "1"}
GIT_UNSET = ("GIT_DIR", "GIT_WORK_TREE", "GIT_INDEX_FILE", "GIT_OBJECT_DIRECTORY", "GIT_CEILING_DIRECTORIES")


def git_env(mp: Any) -> None:
    """The tool's own git calls (in-process) see neither the user's git config nor a hook's GIT_DIR."""
    for k, v in GIT_ENV.items():
        mp.setenv(k, v)
    for k in GIT_UNSET:
        mp.delenv(k, raising=False)


def git(repo: str, *args: str) -> None:
    """git with a fixed identity and fixed dates (the commit ids in the output stay the same) and no user config."""
    env = {k: v for k, v in os.environ.items() if k not in GIT_UNSET}
    env.update(GIT_ENV)
    subprocess.run(["git", "-C", repo, *args], check=True, capture_output=True, env=env, timeout=60)


@pytest.fixture(scope="module")
def review_repo(tmp_path_factory: Any) -> str:
    """A repository whose one commit holds pkg/model.py and its statedict.lock; the work tree holds the change."""
    repo = tmp_path_factory.mktemp("review")
    (repo / "pkg").mkdir()
    (repo / "pkg" / "__init__.py").write_text("")
    (repo / "pkg" / "model.py").write_text(REVIEW_BASE)
    git(str(repo), "init", "-q", "-b", "main")
    with pytest.MonkeyPatch.context() as mp:
        git_env(mp)
        out = goldens.run_cli(["lock"], str(repo), str(repo))
    assert out.endswith("[exit 0]\n"), out
    git(str(repo), "add", "-A")
    git(str(repo), "commit", "-q", "-m", "base")
    (repo / "pkg" / "model.py").write_text(REVIEW_HEAD)
    return str(repo)


@pytest.mark.parametrize("name", sorted(REVIEW_CASES))
def test_golden_review(name: str, review_repo: str, update: bool, monkeypatch: Any, tmp_path: Any) -> None:
    monkeypatch.setenv("STATEDICT_LINT_CACHE_DIR", str(tmp_path / "cache"))
    git_env(monkeypatch)
    run_case(name, REVIEW_CASES[name], review_repo, review_repo, update)


def test_console_output_is_what_the_snapshots_hold(workspace: str, tmp_path: Any) -> None:
    """The snapshots are taken in-process; the console script writes the same bytes in the same order (stdout
    unbuffered as on a terminal, stderr into the same stream)."""
    for name in ("check_wrappers", "inspect_bad", "check_unsure"):
        out = ""
        for args in CASES[name]:
            env = dict(os.environ, PYTHONUNBUFFERED="1", STATEDICT_LINT_CACHE_DIR=str(tmp_path / "cache"))
            env.pop("NO_COLOR", None)
            proc = subprocess.run([sys.executable, "-m", "statedict_lint", *args], cwd=workspace, env=env,
                                  stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=300)
            shown = goldens.normalize(proc.stdout, workspace)
            out += f"{goldens.show_command(args)}\n{shown}[exit {proc.returncode}]\n"
        assert out == goldens.read_snapshot(name), name


def test_a_difference_fails_with_a_diff_and_writes_only_with_update(tmp_path: Any, monkeypatch: Any) -> None:
    monkeypatch.setattr(goldens, "GOLDEN_DIR", str(tmp_path))
    (tmp_path / "case.txt").write_text("$ statedict-lint keys m.py:M\nm.py:M: 2 keys (complete)\n[exit 0]\n")
    actual = "$ statedict-lint keys m.py:M\nm.py:M: 3 keys (complete)\n[exit 0]\n"
    problem = goldens.compare_or_update("case", actual, update=False)
    assert problem is not None and "--update-golden" in problem
    assert "-m.py:M: 2 keys (complete)\n+m.py:M: 3 keys (complete)" in problem
    assert (tmp_path / "case.txt").read_text().startswith("$ statedict-lint keys m.py:M\nm.py:M: 2 keys")
    assert goldens.compare_or_update("case", actual, update=True) is None
    assert (tmp_path / "case.txt").read_text() == actual
    assert goldens.compare_or_update("case", actual, update=False) is None
    missing = goldens.compare_or_update("other", actual, update=False)
    assert missing is not None and "no snapshot" in missing and not (tmp_path / "other.txt").exists()


def test_normalize_replaces_only_the_temporary_folder(tmp_path: Any) -> None:
    tmp = str(tmp_path)
    text = f"{tmp}/cnn.py:18: error: x\n{os.path.realpath(tmp)}/a.pt\n/other/tmp/b.pt 2026-01-01"
    assert goldens.normalize(text, tmp) == "<tmp>/cnn.py:18: error: x\n<tmp>/a.pt\n/other/tmp/b.pt 2026-01-01\n"


def test_long_commands_wrap_between_an_option_and_the_next() -> None:
    shown = goldens.show_command(["check", "gpt.py:GPT", "nobias.pt", *GPT_SETS])
    lines = shown.splitlines()
    assert all(len(ln) <= goldens.WIDTH + 2 for ln in lines) and len(lines) == 2
    assert all(ln.endswith(" \\") for ln in lines[:-1])
    # the shell reads it back as the same arguments
    assert shlex.split(shown.replace(" \\\n", " "))[2:] == ["check", "gpt.py:GPT", "nobias.pt", *GPT_SETS]


def test_every_snapshot_belongs_to_a_case() -> None:
    names = {f[:-4] for f in os.listdir(goldens.GOLDEN_DIR) if f.endswith(".txt")}
    assert names == set(CASES) | set(REVIEW_CASES), "snapshots without a case (delete them) or cases without one"


def test_docs_examples_are_the_snapshots(update: bool) -> None:
    """The golden blocks of README.md, docs/checkpoints.md and docs/review.md are copies of the snapshots (with
    --update-golden: rewritten from them, after the cases above rewrote the snapshots)."""
    if update:
        goldens.fill_docs()
    names = []
    for rel in goldens.DOCS:
        with open(os.path.join(REPO, rel), encoding="utf-8") as fh:
            names += [n for n, _body in goldens.doc_blocks(fh.read())]
    assert set(names) <= set(CASES) | set(REVIEW_CASES), "a doc block names no case"
    stale = goldens.stale_blocks()
    assert not stale, "doc examples differ from their snapshots (`python tests/goldens.py` rewrites them):\n" + \
        "\n".join(f"{where}\n{diff}" for where, diff in stale.items())
