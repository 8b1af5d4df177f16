"""`statedict-lint keys` as a user runs it: exit codes, one-line errors, the JSON and text formats."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from typing import Any, List

import pytest

MODEL = textwrap.dedent('''
    import torch
    import torch.nn as nn

    class Net(nn.Module):
        def __init__(self, n_in, hidden=8, n_out=2):
            super().__init__()
            self.fc1 = nn.Linear(n_in, hidden)
            self.norm = nn.BatchNorm1d(hidden)
            self.fc2 = nn.Linear(hidden, n_out)
            self.register_buffer("mask", torch.ones(hidden), persistent=False)
''')


def run(args: List[str], cwd: Any, env_extra: Any = None) -> subprocess.CompletedProcess:
    env = dict(os.environ)
    env["STATEDICT_LINT_CACHE_DIR"] = str(cwd / ".cache")
    if env_extra:
        env.update(env_extra)
    return subprocess.run([sys.executable, "-m", "statedict_lint", *args], capture_output=True, text=True,
                          cwd=cwd, env=env, timeout=120)


@pytest.fixture
def model(tmp_path: Any) -> Any:
    (tmp_path / "net.py").write_text(MODEL)
    (tmp_path / "cfg.json").write_text(json.dumps({"unused": 1}))
    return tmp_path


def test_json_is_the_stable_shape(model: Any) -> None:
    out = run(["keys", "net.py:Net", "--set", "n_in=4", "--format", "json"], model)
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout)
    assert set(data) == {"target", "keys", "unresolved", "complete"}
    assert data["target"] == "net.py:Net" and data["complete"] is True and data["unresolved"] == []
    assert list(data["keys"]) == ["fc1.weight", "fc1.bias", "norm.weight", "norm.bias", "norm.running_mean",
                                  "norm.running_var", "norm.num_batches_tracked", "fc2.weight", "fc2.bias"]
    assert data["keys"]["fc1.weight"] == {"shape": [8, 4], "dtype": "float32", "kind": "parameter", "line": 8}
    assert data["keys"]["norm.num_batches_tracked"]["dtype"] == "int64"
    assert data["keys"]["norm.num_batches_tracked"]["shape"] == []
    assert data["keys"]["norm.running_mean"]["kind"] == "buffer"


def test_symbolic_json_uses_strings_and_is_incomplete(model: Any) -> None:
    data = json.loads(run(["keys", "net.py:Net", "--format", "json"], model).stdout)
    assert data["keys"]["fc1.weight"]["shape"] == [8, "n_in"]
    assert data["complete"] is False


def test_text_table_has_totals(model: Any) -> None:
    out = run(["keys", "net.py:Net", "--set", "n_in=4"], model)
    assert out.returncode == 0
    # 8*4+8 + 8+8 + 2*8+2 = 74 parameters; bytes add float32 running stats and the int64 counter
    assert "parameters: 74" in out.stdout
    assert f"({74 * 4 + 16 * 4 + 8:,} bytes)" in out.stdout
    assert "non-persistent buffers (not in the state_dict): mask" in out.stdout
    sym = run(["keys", "net.py:Net"], model)
    assert "parameters: 8*n_in + 42" in sym.stdout


@pytest.mark.parametrize("args, message", [
    (["keys", "missing.py:Net"], "no such file"),
    (["keys", "net.py:Nope"], "no class `Nope`"),
    (["keys", "net.py"], "must be FILE.py:ClassName"),
    (["keys", "net.py:Net", "--set", "n_in"], "malformed --set"),
    (["keys", "net.py:Net", "--set", "n_in=(("], "cannot read value"),
    (["keys", "net.py:Net", "--set", "bogus=1"], "neither a parameter"),
    (["keys", "net.py:Net", "--config", "config=nope.json"], "no such file"),
    (["keys", "bad.py:Net"], "syntax error"),
    (["keys", "net.py:Net", "--format", "xml"], "invalid choice"),
])
def test_bad_input_is_one_line_and_exit_2(model: Any, args: List[str], message: str) -> None:
    (model / "bad.py").write_text("class Net(:\n    pass\n")
    out = run(args, model)
    assert out.returncode == 2
    assert out.stdout == ""
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0], out.stderr
    assert "Traceback" not in out.stderr
