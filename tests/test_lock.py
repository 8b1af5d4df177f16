"""`lock` / `lock --check` / lockfile.drift_findings on a small package on disk."""

from __future__ import annotations

import json
import os
import textwrap
from typing import Any

import pytest

from statedict_lint.review import lockfile
from statedict_lint.cli import main

LAYERS = '''
import torch
import torch.nn as nn


class Attn(nn.Module):
    def __init__(self, n_embd):
        super().__init__()
        self.c_attn = nn.Linear(n_embd, 3 * n_embd)
        self.register_buffer("mask", torch.ones(8, 8), persistent=False)
'''

MODEL = '''
import torch
import torch.nn as nn
from .layers import Attn


class Block(nn.Module):
    def __init__(self, n_embd, eps=1e-5):
        super().__init__()
        self.ln = nn.LayerNorm(n_embd, eps=eps)
        self.attn = Attn(n_embd)
        self.fc = nn.Linear(n_embd, 4 * n_embd)
        self.register_buffer("steps", torch.zeros((), dtype=torch.long))


class Net(nn.Module):
    def __init__(self, depth, width):
        super().__init__()
        self.blocks = nn.ModuleList([Block(width) for _ in range(depth)])
        self.out = nn.Linear(width, 10)
'''


@pytest.fixture
def proj(tmp_path: Any, monkeypatch: Any) -> str:
    root = tmp_path / "proj"
    (root / "pkg").mkdir(parents=True)
    (root / "pkg" / "__init__.py").write_text("")
    (root / "pkg" / "layers.py").write_text(textwrap.dedent(LAYERS))
    (root / "pkg" / "model.py").write_text(textwrap.dedent(MODEL))
    monkeypatch.chdir(root)
    return str(root)


def edit(root: str, rel: str, old: str, new: str) -> None:
    p = os.path.join(root, rel)
    text = open(p).read()
    assert old in text
    open(p, "w").write(text.replace(old, new))


def test_lock_is_sorted_deterministic_and_readable(proj: str, capsys: Any) -> None:
    assert main(["lock", "--no-cache"]) == 0
    text = open(os.path.join(proj, "statedict.lock")).read()
    data = json.loads(text)
    assert sorted(data["classes"]) == list(data["classes"]) == [
        "pkg/layers.py:Attn", "pkg/model.py:Block", "pkg/model.py:Net"]
    net = data["classes"]["pkg/model.py:Net"]
    assert list(net["keys"]) == sorted(net["keys"])
    # the contract only: no source line, no source text (moving or reformatting code changes nothing)
    assert net["keys"]["blocks.{i}.fc.weight"] == {
        "shape": ["4*width", "width"], "dtype": "float32", "kind": "parameter", "repeat": {"i": "depth"}}
    assert data["format"] == "statedict-lock/2" and "line" not in net
    assert net["keys"]["blocks.{i}.steps"]["dtype"] == "int64"
    assert net["keys"]["blocks.{i}.steps"]["kind"] == "buffer"
    assert "blocks.{i}.attn.mask" in net["non_persistent"]
    # one key per line: every key line of the file parses on its own
    key_lines = [ln for ln in text.splitlines() if ln.startswith("    \"")]
    assert len(key_lines) == sum(len(c.get("keys", {})) + len(c.get("non_persistent", {}))
                                 for c in data["classes"].values())
    capsys.readouterr()
    assert main(["lock"]) == 0
    assert "unchanged" in capsys.readouterr().out
    assert open(os.path.join(proj, "statedict.lock")).read() == text


def test_check_up_to_date_then_drift(proj: str, capsys: Any) -> None:
    assert main(["lock", "--no-cache"]) == 0
    capsys.readouterr()
    assert main(["lock", "--check", "--no-cache"]) == 0
    assert "up to date" in capsys.readouterr().out
    edit(proj, "pkg/model.py", "nn.Linear(n_embd, 4 * n_embd)", "nn.Linear(n_embd, 2 * n_embd)")
    edit(proj, "pkg/layers.py", 'torch.ones(8, 8), persistent=False)', 'torch.ones(8, 8))')
    assert main(["lock", "--check", "--no-cache"]) == 1
    out = capsys.readouterr().out
    assert "out of date" in out
    assert "pkg/model.py:12: SDL805 Block: reshaped `fc.weight` [4*n_embd, n_embd] -> [2*n_embd, n_embd]" in out
    assert "pkg/layers.py:10: SDL807 Attn: buffer `mask` made persistent" in out
    assert not [ln for ln in out.splitlines() if " Net: " in ln]  # folded into Block / Attn
    assert "(also in Net)" in out
    assert main(["lock", "--check", "--no-cache", "--format", "json"]) == 1
    data = json.loads(capsys.readouterr().out)
    assert not data["up_to_date"] and {c["kind"] for c in data["changes"]} == {"reshaped", "made-persistent"}


def test_drift_findings_point_at_the_attribute_line(proj: str) -> None:
    assert main(["lock", "--no-cache"]) == 0
    lock = lockfile.read(os.path.join(proj, "statedict.lock"))
    path = os.path.join(proj, "pkg", "model.py")
    assert lockfile.drift_findings(path, open(path).read(), lock) == []
    edit(proj, "pkg/model.py", "self.fc = nn.Linear", "self.proj = nn.Linear")
    edit(proj, "pkg/model.py", 'torch.zeros((), dtype=torch.long))',
         'torch.zeros((), dtype=torch.long), persistent=False)')
    fs = lockfile.drift_findings(path, open(path).read(), lock)
    by_line = {(f.line, f.code) for f in fs}
    assert all(f.code == "SDL800" and f.name == "lock-drift" for f in fs)
    assert (12, "SDL800") in by_line  # self.proj = ... (rename or added key)
    assert (13, "SDL800") in by_line  # register_buffer("steps", ..., persistent=False)
    assert any("steps" in f.message and "non-persistent" in f.message for f in fs)
    assert all(f.path == path for f in fs)
    # silent without a lock, and for files the lock does not know
    assert lockfile.drift_findings(path, open(path).read(), None) == []
    assert lockfile.drift_findings(path, open(path).read(), os.path.join(proj, "nope.lock")) == []
    other = os.path.join(proj, "pkg", "new.py")
    open(other, "w").write("import torch.nn as nn\n\n\nclass X(nn.Module):\n    def __init__(self):\n"
                           "        super().__init__()\n        self.a = nn.Linear(2, 2)\n")
    assert lockfile.drift_findings(other, open(other).read(), lock) == []


def test_bad_lock_is_one_line_exit_2(proj: str, capsys: Any) -> None:
    open(os.path.join(proj, "statedict.lock"), "w").write("{not json")
    capsys.readouterr()
    assert main(["lock", "--check", "--no-cache"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "statedict.lock" in err


def test_lock_round_trips_through_its_reader(proj: str) -> None:
    assert main(["lock", "--no-cache"]) == 0
    lock = lockfile.read(os.path.join(proj, "statedict.lock"))
    assert lockfile.dumps(list(lock.classes.values())) == open(os.path.join(proj, "statedict.lock")).read()


def test_lint_rule_and_flake8_report_drift_at_the_line(proj: str, monkeypatch: Any) -> None:
    import subprocess
    import sys

    from statedict_lint.rules.engine import lint_source

    path = os.path.join(proj, "pkg", "model.py")
    assert [f for f in lint_source(open(path).read(), path) if f.code == "SDL800"] == []  # no lock: silent
    assert main(["lock", "--no-cache"]) == 0
    assert [f for f in lint_source(open(path).read(), path) if f.code == "SDL800"] == []  # in sync
    edit(proj, "pkg/model.py", "self.attn = Attn(n_embd)", "self.self_attn = Attn(n_embd)")
    found = [f for f in lint_source(open(path).read(), path) if f.code == "SDL800"]
    assert found and {f.line for f in found} == {11} and all(f.name == "lock-drift" for f in found)
    src = open(path).read().replace("self.self_attn = Attn(n_embd)", "self.self_attn = Attn(n_embd)  # noqa: SDL800")
    assert [f for f in lint_source(src, path) if f.code == "SDL800"] == []
    proc = subprocess.run([sys.executable, "-m", "flake8", "--select=SDL800", "pkg/model.py"], cwd=proj,
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    out = proc.stdout.decode()
    assert proc.returncode == 1 and "pkg/model.py:11:1: SDL800" in out, out + proc.stderr.decode()
    # a lock elsewhere, configured by environment variable
    os.rename(os.path.join(proj, "statedict.lock"), os.path.join(proj, "other.lock"))
    assert [f for f in lint_source(open(path).read(), path) if f.code == "SDL800"] == []
    monkeypatch.setenv("STATEDICT_LINT_LOCK", os.path.join(proj, "other.lock"))
    assert {f.line for f in lint_source(open(path).read(), path) if f.code == "SDL800"} == {11}
