"""The static commands never import torch, transformers (nor the user's code): each runs in a fresh interpreter under an
import hook that refuses `torch` and records every attempt, and that checks `torch` is not in sys.modules
when the process ends. A command that imports torch — even inside try/except ImportError — fails its test.

The checkpoint for `inspect`/`check` is written by real torch here, in the parent process.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from typing import Any, List

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
GPT = os.path.join(REPO, "fixtures", "gpt.py")

GUARD = textwrap.dedent('''
    import atexit, os, sys
    attempts = []

    class _NoTorch:
        def find_spec(self, name, path=None, target=None):
            if name in ("torch", "transformers") or name.startswith(("torch.", "transformers.")):
                attempts.append(name)
                raise ImportError(f"importing {name} is forbidden here (no-torch guard)")
            return None

    sys.meta_path.insert(0, _NoTorch())

    def _check():
        loaded = sorted(m for m in sys.modules if m in ("torch", "transformers") or m.startswith(("torch.", "transformers.")))
        if attempts or loaded:
            sys.stderr.write(f"NO-TORCH GUARD: attempted {attempts}, loaded {loaded}\\n")
            sys.stderr.flush()
            os._exit(97)

    atexit.register(_check)
    tool, argv = sys.argv[1], sys.argv[2:]
    if tool == "cli":
        from statedict_lint.cli import main
        code = main(argv)
    else:
        from flake8.main.cli import main as flake8_main
        try:
            code = flake8_main(argv)
        except SystemExit as exc:
            code = exc.code
    sys.stdout.flush()
    sys.exit(code or 0)
''')

MODEL = textwrap.dedent('''
    import torch
    import torch.nn as nn


    class Net(nn.Module):
        def __init__(self, dim=8, n=2):
            super().__init__()
            self.blocks = nn.ModuleList([nn.Linear(dim, dim) for _ in range(n)])
            self.norm = nn.BatchNorm1d(dim)
            self.register_buffer("scale", torch.ones(dim))


    def load(path):
        model = Net()
        state = torch.load(path)
        model.load_state_dict(state, strict=False)
        return model
''')


def guarded(tool: str, argv: List[str], cwd: str) -> subprocess.CompletedProcess:
    env = dict(os.environ)
    env.pop("PYTHONPATH", None)
    return subprocess.run([sys.executable, "-c", GUARD, tool, *argv], capture_output=True, text=True, cwd=cwd,
                          env=env, timeout=120)


def ok(proc: subprocess.CompletedProcess, codes: tuple = (0,)) -> None:
    assert "NO-TORCH GUARD" not in proc.stderr, proc.stderr
    assert proc.returncode in codes, f"exit {proc.returncode}\n{proc.stdout[-2000:]}\n{proc.stderr[-2000:]}"


@pytest.fixture(scope="module")
def project(tmp_path_factory: Any) -> str:
    root = str(tmp_path_factory.mktemp("notorch"))
    with open(os.path.join(root, "model.py"), "w", encoding="utf-8") as fh:
        fh.write(MODEL)
    return root


@pytest.fixture(scope="module")
def checkpoint(project: str) -> str:
    torch = pytest.importorskip("torch")
    state = {"blocks.0.weight": torch.zeros(8, 8), "blocks.0.bias": torch.zeros(8),
             "blocks.1.weight": torch.zeros(8, 8), "blocks.1.bias": torch.zeros(8),
             "norm.weight": torch.ones(8), "norm.bias": torch.zeros(8), "norm.running_mean": torch.zeros(8),
             "norm.running_var": torch.ones(8), "norm.num_batches_tracked": torch.tensor(0),
             "scale": torch.ones(8)}
    path = os.path.join(project, "net.pt")
    torch.save(state, path)
    return path


def test_the_guard_catches_an_import(project: str) -> None:
    """The guard must be able to fail: a command that does import torch (`verify`) trips it."""
    proc = guarded("cli", ["verify", f"{GPT}:GPT", "--set", "config.n_layer=1"], project)
    # verify catches the ImportError and reports torch missing; the guard still sees the attempt
    assert "verify needs torch" in proc.stderr
    assert proc.returncode == 97 and "NO-TORCH GUARD: attempted ['torch']" in proc.stderr


def test_keys(project: str) -> None:
    argv = ["keys", f"{GPT}:GPT", "--set", "config.n_layer=2", "--no-cache", "--format", "json"]
    proc = guarded("cli", argv, project)
    ok(proc)
    assert '"transformer.h.1.mlp.c_proj.weight"' in proc.stdout
    ok(guarded("cli", ["keys", "model.py:Net"], project))  # with the cache (written, then read)
    ok(guarded("cli", ["keys", "model.py:Net"], project))


def test_lint(project: str) -> None:
    proc = guarded("cli", ["lint", "--no-cache", "model.py"], project)
    ok(proc, (0, 1))
    assert "SDL" in proc.stdout  # torch.load without map_location / strict=False are reported


def test_inspect_and_check(project: str, checkpoint: str) -> None:
    proc = guarded("cli", ["inspect", checkpoint, "--format", "json"], project)
    ok(proc)
    assert "norm.num_batches_tracked" in proc.stdout
    proc = guarded("cli", ["check", "model.py:Net", checkpoint], project)
    ok(proc)


def test_lock_and_diff(project: str) -> None:
    ok(guarded("cli", ["lock", "--no-cache", "-o", "state.lock", "model.py"], project))
    ok(guarded("cli", ["lock", "--check", "--no-cache", "-o", "state.lock", "model.py"], project))
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@example.com"]
    if subprocess.run(["git", "--version"], capture_output=True).returncode != 0:
        pytest.skip("git not available")
    repo = os.path.join(project, "repo")
    os.makedirs(repo, exist_ok=True)
    with open(os.path.join(repo, "model.py"), "w", encoding="utf-8") as fh:
        fh.write(MODEL)
    for cmd in (["init", "-q"], ["add", "model.py"], ["commit", "-qm", "base"]):
        subprocess.run(git + cmd, cwd=repo, check=True, capture_output=True)
    with open(os.path.join(repo, "model.py"), "w", encoding="utf-8") as fh:
        fh.write(MODEL.replace("self.norm = ", "self.bn = "))
    proc = guarded("cli", ["diff", "--no-cache", "--jobs", "1", "HEAD"], repo)
    ok(proc, (0, 1))
    assert "norm" in proc.stdout and "bn" in proc.stdout


def test_flake8_plugin(project: str) -> None:
    proc = guarded("flake8", ["--jobs", "1", "--select", "SDL", "model.py"], project)
    ok(proc, (0, 1))
    assert "SDL" in proc.stdout


def test_hugging_face_folder(tmp_path: Any) -> None:
    """keys/check/inspect of a folder written by save_pretrained read transformers' source, never import it."""
    transformers = pytest.importorskip("transformers")
    cfg = transformers.BertConfig(hidden_size=32, num_hidden_layers=2, num_attention_heads=4, intermediate_size=37,
                                  vocab_size=99)
    folder = str(tmp_path / "bert")
    transformers.BertForMaskedLM(cfg).save_pretrained(folder)
    proc = guarded("cli", ["keys", folder, "--no-cache", "--format", "json"], str(tmp_path))
    ok(proc)
    assert '"complete": true' in proc.stdout
    ok(guarded("cli", ["check", folder], str(tmp_path)))
    proc = guarded("cli", ["inspect", folder], str(tmp_path))
    ok(proc)
    assert "model_type='bert'" in proc.stdout
