"""The lock is a function of the state_dict contract only (issue 11 item 4): edits that move lines, reformat,
rename locals or reorder methods of nanoGPT's model.py leave `lock --check` green and the lock byte-for-byte
the same; real contract changes fail it; a format-1 lock gets a clear message."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from typing import Any, Callable, List

import pytest

from conftest import REPO

GPT_SRC = os.path.join(REPO, "fixtures", "gpt.py")


def cli(args: List[str], cwd: Any) -> subprocess.CompletedProcess:
    env = dict(os.environ, STATEDICT_LINT_CACHE_DIR=str(cwd / ".user-cache"))
    return subprocess.run([sys.executable, "-m", "statedict_lint", *args], capture_output=True, text=True, cwd=cwd,
                          env=env, timeout=300)


def _insert_comment(src: str) -> str:
    return "# a comment at the top moves every line down\n\n" + src


def _reformat(src: str) -> str:
    out = src.replace("self.c_attn = nn.Linear(config.n_embd, 3 * config.n_embd, bias=config.bias)",
                      "self.c_attn = nn.Linear(\n            config.n_embd,\n            3*config.n_embd,\n"
                      "            bias = config.bias,\n        )")
    out = out.replace("self.bias = nn.Parameter(torch.zeros(ndim)) if bias else None",
                      "self.bias = (\n            nn.Parameter(torch.zeros(ndim))\n            if bias\n"
                      "            else None\n        )")
    out = out.replace("self.c_fc = nn.Linear(config.n_embd, 4 * config.n_embd, bias=config.bias)",
                      "self.c_fc    = nn.Linear( config.n_embd , config.n_embd * 4 , bias=config.bias )")
    assert out.count("\n") > src.count("\n") + 6
    return out


def _rename_locals(src: str) -> str:
    out = src.replace("for pn, p in self.named_parameters():", "for param_name, param in self.named_parameters():")
    out = out.replace("if pn.endswith(\"c_proj.weight\"):", "if param_name.endswith(\"c_proj.weight\"):")
    out = out.replace("torch.nn.init.normal_(p, mean=0.0, std=0.02 / math.sqrt(2 * config.n_layer))",
                      "torch.nn.init.normal_(param, mean=0.0, std=0.02 / math.sqrt(2 * config.n_layer))")
    assert "param_name" in out and "torch.nn.init.normal_(param," in out
    return out


def _reorder_methods(src: str) -> str:
    # CausalSelfAttention.forward before __init__; GPT._init_weights before __init__
    start = src.index("class CausalSelfAttention")
    end = src.index("class MLP")
    cls = src[start:end]
    init_at, fwd_at = cls.index("    def __init__"), cls.index("    def forward")
    reordered = cls[:init_at] + cls[fwd_at:].rstrip("\n") + "\n\n" + cls[init_at:fwd_at].rstrip("\n") + "\n\n\n"
    out = src[:start] + reordered + src[end:]
    assert out.index("def forward(self, x):\n        B, T, C") < out.index("self.c_attn = nn.Linear")
    return out


NO_OPS = {"comment": _insert_comment, "reformat": _reformat, "rename-locals": _rename_locals,
          "reorder-methods": _reorder_methods}


@pytest.fixture
def repo(tmp_path: Any) -> Any:
    shutil.copy(GPT_SRC, tmp_path / "model.py")
    subprocess.run(["git", "init", "-q"], cwd=tmp_path, check=True)
    out = cli(["lock"], tmp_path)
    assert out.returncode == 0, out.stderr
    return tmp_path


def edit(root: Any, fn: Callable[[str], str]) -> None:
    p = root / "model.py"
    p.write_text(fn(p.read_text()))


@pytest.mark.parametrize("name", sorted(NO_OPS))
def test_edits_that_keep_the_contract_keep_the_lock(repo: Any, name: str) -> None:
    before = (repo / "statedict.lock").read_text()
    assert '"config.bias"' in before or "config.bias" in before  # conditions are in the lock, without lines
    assert "(line " not in before and "model.py:" not in before.replace('"model.py:', "")
    edit(repo, NO_OPS[name])
    out = cli(["lock", "--check"], repo)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "is up to date" in out.stdout
    assert cli(["lock"], repo).returncode == 0
    assert (repo / "statedict.lock").read_text() == before  # byte-for-byte: nothing in it moved


def test_all_no_op_edits_at_once(repo: Any) -> None:
    for fn in NO_OPS.values():
        edit(repo, fn)
    out = cli(["lock", "--check"], repo)
    assert out.returncode == 0, out.stdout


@pytest.mark.parametrize("old, new, says", [
    ("nn.Linear(config.n_embd, 4 * config.n_embd, bias=config.bias)",
     "nn.Linear(config.n_embd, 2 * config.n_embd, bias=config.bias)", "reshaped"),
    ("self.c_attn = nn.Linear", "self.qkv = nn.Linear", "renamed"),
    ("self.bias = nn.Parameter(torch.zeros(ndim)) if bias else None", "self.bias = nn.Parameter(torch.zeros(ndim))",
     "the condition of `transformer.h.{i}.ln_1.bias` changed: only if bias [= config.bias] -> always"),
])
def test_contract_changes_still_fail(repo: Any, old: str, new: str, says: str) -> None:
    edit(repo, _insert_comment)  # plus a harmless edit: only the real change is reported
    edit(repo, lambda s: s.replace(old, new))
    out = cli(["lock", "--check"], repo)
    assert out.returncode == 1, out.stdout
    assert says in out.stdout and "conditions or completeness" not in out.stdout


def test_format_1_lock_gets_a_clear_message(repo: Any) -> None:
    lock = repo / "statedict.lock"
    lock.write_text(lock.read_text().replace("statedict-lock/2", "statedict-lock/1"))
    out = cli(["lock", "--check"], repo)
    assert out.returncode == 2 and out.stdout == ""
    (line,) = out.stderr.strip().splitlines()
    assert "older statedict-lock/1 format" in line and "run `statedict-lint lock`" in line
    assert cli(["lock"], repo).returncode == 0  # rewriting it is the fix
    assert cli(["lock", "--check"], repo).returncode == 0
