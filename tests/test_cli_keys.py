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
    # the stable fields, plus the additive `path` of the file the key's layer is in
    assert data["keys"]["fc1.weight"] == {"shape": [8, 4], "dtype": "float32", "kind": "parameter", "line": 8,
                                          "path": "net.py"}
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


def test_json_path_on_every_key_and_unresolved_item(model: Any) -> None:
    """Keys whose layer is defined in another file name that file; unresolved items name theirs."""
    (model / "layers.py").write_text("import torch.nn as nn\n\nclass Proj(nn.Module):\n"
                                     "    def __init__(self):\n        super().__init__()\n"
                                     "        self.lin = nn.Linear(2, 3)\n")
    (model / "top.py").write_text("import torch.nn as nn\nfrom layers import Proj\nfrom nowhere import Thing\n\n"
                                  "class Top(nn.Module):\n    def __init__(self):\n        super().__init__()\n"
                                  "        self.proj = Proj()\n        self.thing = Thing()\n")
    data = json.loads(run(["keys", "top.py:Top", "--format", "json", "--no-cache"], model).stdout)
    assert data["keys"]["proj.lin.weight"]["path"] == "layers.py"
    assert data["keys"]["proj.lin.weight"]["line"] == 6
    assert data["unresolved"] and all(u["path"] == "top.py" for u in data["unresolved"])
    assert all("message" in u and "line" in u for u in data["unresolved"])


def test_text_headline_says_symbolic_not_incomplete(model: Any) -> None:
    out = run(["keys", "net.py:Net"], model).stdout
    assert out.splitlines()[0] == "net.py:Net: 9 keys (symbolic: 1 constructor value unbound (n_in))"
    assert "INCOMPLETE" not in out
    bound = run(["keys", "net.py:Net", "--set", "n_in=4"], model).stdout
    assert bound.splitlines()[0] == "net.py:Net: 9 keys (complete)"


def test_text_headline_gpt_demo_counts_the_unbound_values() -> None:
    """`make demo`'s second command: nanoGPT's GPT with no --set is symbolic in 5 config values."""
    repo = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    out = subprocess.run([sys.executable, "-m", "statedict_lint", "keys", "fixtures/gpt.py:GPT", "--no-cache"],
                         capture_output=True, text=True, cwd=repo, timeout=120).stdout
    assert out.splitlines()[0] == ("fixtures/gpt.py:GPT: 18 keys (symbolic: 5 constructor values unbound "
                                   "(config.bias, config.block_size, config.n_embd, config.n_layer, "
                                   "config.vocab_size))")
    assert "parameters: depends on the unbound values (bind them with --set to count)" in out
    assert "keys that exist only for some values of an unbound switch:" in out
    assert "\nunresolved:" not in out  # nothing in the code was left unresolved: only values are unbound


def test_text_table_shows_tied_parameters_on_both_keys(model: Any) -> None:
    (model / "tied.py").write_text("import torch.nn as nn\n\nclass LM(nn.Module):\n    def __init__(self):\n"
                                   "        super().__init__()\n        self.emb = nn.Embedding(10, 4)\n"
                                   "        self.head = nn.Linear(4, 10, bias=False)\n"
                                   "        self.head.weight = self.emb.weight\n")
    out = run(["keys", "tied.py:LM", "--no-cache"], model).stdout
    rows = {ln.split()[0]: ln for ln in out.splitlines() if ln.startswith(("emb.", "head."))}
    assert rows["head.weight"].endswith("tied: same tensor as emb.weight")
    assert rows["emb.weight"].endswith("tied: same tensor as head.weight")
    assert "parameters: 40 " in out  # the shared tensor counted once, as torch's model.parameters() does


def test_top_level_help_describes_the_tool() -> None:
    out = subprocess.run([sys.executable, "-m", "statedict_lint", "--help"], capture_output=True, text=True,
                         timeout=120)
    assert out.returncode == 0
    assert "Command-line entry point" not in out.stdout
    assert "never importing torch" in out.stdout and "strict=True" in out.stdout
    assert "exit codes: 0 ok, 1 findings" in out.stdout
    for cmd in ("keys", "check", "lint", "diff", "lock", "migrate"):
        assert f"statedict-lint {cmd} " in out.stdout


def test_pyproject_license_is_an_spdx_string_with_python_classifiers() -> None:
    tomllib = pytest.importorskip("tomllib")
    repo = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    with open(os.path.join(repo, "pyproject.toml"), "rb") as fh:
        data = tomllib.load(fh)
    project = data["project"]
    assert project["license"] == "MIT"  # a table ({text = ...}) is what setuptools>=77 warns about
    assert not any(c.startswith("License ::") for c in project["classifiers"])  # forbidden next to an SPDX license
    minimum = project["requires-python"].removeprefix(">=")
    assert f"Programming Language :: Python :: {minimum}" in project["classifiers"]
    assert any(r.startswith("setuptools>=77") for r in data["build-system"]["requires"])
