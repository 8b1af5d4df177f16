"""Where `lint` and the flake8 plugin find the lock (path configurable), and `lock --check` in every format."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from typing import Any

import pytest

from statedict_lint.cli import main
from test_lock import edit, proj  # noqa: F401  (fixture)


def _drifted(proj: str) -> None:  # noqa: F811
    subprocess.run(["git", "init", "-q", proj], check=True)
    os.makedirs(os.path.join(proj, "contracts"))
    assert main(["lock", "--no-cache", "-o", "contracts/model.lock"]) == 0
    text = open(os.path.join(proj, "contracts", "model.lock")).read()
    assert '"root": ".."' in text and '"pkg/model.py:Block"' in text  # paths stay relative to the project
    assert main(["lock", "--check", "--no-cache", "-o", "contracts/model.lock"]) == 0
    edit(proj, "pkg/model.py", "self.attn = Attn(n_embd)", "self.self_attn = Attn(n_embd)")


def test_lint_lock_option_and_config_key(proj: str, capsys: Any) -> None:  # noqa: F811
    _drifted(proj)
    capsys.readouterr()
    assert main(["lint", "--no-cache", "pkg/model.py"]) == 0  # no statedict.lock above the file: silent
    assert main(["lint", "--no-cache", "--lock", "contracts/model.lock", "pkg/model.py"]) == 1
    assert "pkg/model.py:11:1: SDL800" in capsys.readouterr().out
    with open(os.path.join(proj, "pyproject.toml"), "w") as fh:
        fh.write('[tool.statedict-lint]\nlock = "contracts/model.lock"\n')
    os.chdir(os.path.join(proj, "pkg"))  # relative to the config file, not to the current folder
    assert main(["lint", "--no-cache", "model.py"]) == 1
    assert "SDL800" in capsys.readouterr().out
    assert main(["lint", "--no-cache", "--lock", "nope.lock", "model.py"]) == 2
    assert capsys.readouterr().err.count("\n") == 1


def test_flake8_statedict_lock_option_and_setup_cfg(proj: str) -> None:  # noqa: F811
    _drifted(proj)

    def flake8(*args: str) -> Any:
        return subprocess.run([sys.executable, "-m", "flake8", "--select=SDL800", *args, "pkg/model.py"], cwd=proj,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE)

    assert flake8().returncode == 0
    proc = flake8("--statedict-lock=contracts/model.lock")
    assert proc.returncode == 1 and "pkg/model.py:11:1: SDL800" in proc.stdout.decode(), proc.stderr.decode()
    with open(os.path.join(proj, "setup.cfg"), "w") as fh:
        fh.write("[flake8]\nstatedict-lock = contracts/model.lock\n")
    proc = flake8()
    assert proc.returncode == 1 and "SDL800" in proc.stdout.decode(), proc.stderr.decode()


@pytest.mark.parametrize("fmt", ["text", "json", "markdown", "sarif", "github"])
def test_lock_check_every_format(proj: str, capsys: Any, fmt: str) -> None:  # noqa: F811
    assert main(["lock", "--no-cache"]) == 0
    capsys.readouterr()
    assert main(["lock", "--check", "--no-cache", "--format", fmt]) == 0
    edit(proj, "pkg/model.py", "self.attn = Attn(n_embd)", "self.self_attn = Attn(n_embd)")
    capsys.readouterr()
    assert main(["lock", "--check", "--no-cache", "--format", fmt]) == 1
    out = capsys.readouterr().out
    if fmt == "json":
        data = json.loads(out)
        assert data["up_to_date"] is False
        assert any(c["kind"] == "renamed" and c["old_key"] == "attn." for c in data["changes"])
    elif fmt == "sarif":
        import jsonschema

        with open(os.path.join(os.path.dirname(os.path.abspath(__file__)), "data", "sarif-schema-2.1.0.json")) as fh:
            jsonschema.Draft4Validator(json.load(fh)).validate(json.loads(out))
        res = json.loads(out)["runs"][0]["results"]
        assert [(r["ruleId"], r["locations"][0]["physicalLocation"]["region"]["startLine"]) for r in res] == [
            ("SDL801", 11)]
    elif fmt == "github":
        assert out.startswith("::error file=pkg/model.py,line=11,")
    else:
        assert "pkg/model.py:11" in out and "SDL801" in out and "`attn.*` -> `self_attn.*`" in out


def test_lock_of_a_sub_project_keeps_its_own_root(proj: str, capsys: Any) -> None:  # noqa: F811
    subprocess.run(["git", "init", "-q", proj], check=True)
    os.makedirs(os.path.join(proj, "other"))
    with open(os.path.join(proj, "other", "x.py"), "w") as fh:
        fh.write("import torch.nn as nn\n\n\nclass X(nn.Module):\n    def __init__(self):\n        super().__init__()\n"
                 "        self.a = nn.Linear(2, 2)\n")
    os.chdir(os.path.join(proj, "pkg"))
    assert main(["lock", "--no-cache", "-o", "statedict.lock"]) == 0  # run inside the sub-project
    text = open("statedict.lock").read()
    assert '"root"' not in text and '"model.py:Block"' in text and "X" not in text
    assert main(["lock", "--check", "--no-cache", "-o", "statedict.lock"]) == 0
