"""The flake8 frontend: real flake8 processes over real files (noqa, select/ignore, config, columns)."""

from __future__ import annotations

import ast
import os
import re
import shutil
import subprocess
import sys

import pytest

from statedict_lint.flake8_plugin import Plugin

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FIXTURES = os.path.join(REPO, "tests", "lint_fixtures")

BAD = (
    "import torch\n"
    "\n"
    "\n"
    "def load(model, path):\n"
    "    state = torch.load(path)\n"
    "    model.load_state_dict(state, strict=False)\n"
    "    other = torch.load(path, weights_only=True)  # noqa: SDL002\n"
    "    return other\n"
)


def flake8(cwd, *args):
    cmd = [sys.executable, "-m", "flake8", "--isolated" if "--isolated" in args else "", *args]
    cmd = [c for c in cmd if c and c != "--isolated"] + (["--isolated"] if "--isolated" in args else [])
    p = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True)
    assert "Traceback" not in p.stderr, p.stderr
    return p


def codes(out):
    return sorted(re.findall(r":(\d+):(\d+): (SDL\d{3})", out))


@pytest.fixture
def proj(tmp_path):
    (tmp_path / "bad.py").write_text(BAD, encoding="utf-8")
    return tmp_path


def test_plugin_registered_and_reports_with_flake8_columns(proj):
    p = flake8(proj, "--select=SDL", "bad.py")
    assert p.returncode == 1
    found = codes(p.stdout)
    # torch.load( at line 5 col 13 (1-based as printed by flake8) -> plugin gave 0-based 12
    assert ("5", "13", "SDL002") in found and ("5", "13", "SDL003") in found
    assert ("6", "5", "SDL001") in found
    assert ("6", "5", "SDL901") in found  # an explicit --select=SDL includes the opinionated band
    assert ("7", "13", "SDL002") not in found  # noqa'd
    assert ("7", "13", "SDL003") not in found  # weights_only=True given
    # the same column as our own CLI prints
    cli = subprocess.run([sys.executable, "-m", "statedict_lint", "lint", "--no-cache", "--select=SDL", "bad.py"],
                         cwd=proj,
                         capture_output=True, text=True)
    assert sorted(re.findall(r":(\d+):(\d+): (SDL\d{3})", cli.stdout)) == found


def test_select_ignore_and_default_off(proj):
    assert codes(flake8(proj, "--select=SDL001", "bad.py").stdout) == [("6", "5", "SDL001")]
    assert "SDL001" not in flake8(proj, "--select=SDL", "--ignore=SDL001", "bad.py").stdout
    # SDL901 is opinionated: in flake8's extended default ignore, so off in a default run ...
    default = flake8(proj, "bad.py").stdout
    assert "SDL001" in default and "SDL901" not in default
    # ... and on when selected explicitly
    assert "SDL901" in flake8(proj, "--extend-select=SDL901", "bad.py").stdout
    assert "SDL901" in flake8(proj, "--select=SDL9", "bad.py").stdout


@pytest.mark.parametrize("cfg,section", [("setup.cfg", "flake8"), ("tox.ini", "flake8"), (".flake8", "flake8")])
def test_options_from_config_files(proj, cfg, section):
    (proj / cfg).write_text(f"[{section}]\nselect = SDL\nextend-select = SDL901\nextend-ignore = SDL003\n",
                            encoding="utf-8")
    out = flake8(proj, "bad.py").stdout
    got = {c for _, _, c in codes(out)}
    assert got == {"SDL001", "SDL002", "SDL901"}


def test_bare_noqa_silences_everything(tmp_path):
    (tmp_path / "a.py").write_text("import torch\nsd = torch.load(p)  # noqa\n", encoding="utf-8")
    p = flake8(tmp_path, "--select=SDL", "a.py")
    assert p.returncode == 0 and p.stdout == ""


def test_clean_file_passes(tmp_path):
    (tmp_path / "ok.py").write_text("import torch\n\nsd = torch.load('p', map_location='cpu', weights_only=True)\n",
                                    encoding="utf-8")
    p = flake8(tmp_path, "ok.py")
    assert p.returncode == 0, p.stdout


def test_plugin_never_raises(monkeypatch):
    import statedict_lint.rules.engine as engine

    def broken(*a, **k):
        raise RuntimeError("boom")

    monkeypatch.setattr(engine, "run_rules", broken)
    src = "import torch\nx = torch.load(p)\n"
    out = list(Plugin(ast.parse(src), "x.py", src.splitlines(True)).run())
    assert len(out) == 1 and out[0][2].startswith("SDL999") and "boom" in out[0][2]


def test_plugin_yields_zero_based_columns():
    src = "import torch\nx = [torch.load(p, map_location='cpu')]\n"
    out = list(Plugin(ast.parse(src), "x.py", src.splitlines(True)).run())
    assert [(ln, col, msg[:6]) for ln, col, msg, _ in out] == [(2, 5, "SDL003")]


def test_fixture_file_through_flake8_matches_expectations(tmp_path):
    shutil.copy(os.path.join(FIXTURES, "train_resume.py"), tmp_path / "train_resume.py")
    out = flake8(tmp_path, "--select=SDL", "--extend-select=SDL901", "train_resume.py").stdout
    got = {(int(ln), c) for ln, _, c in codes(out)}
    exp = set()
    for i, line in enumerate((tmp_path / "train_resume.py").read_text().splitlines(), 1):
        m = re.search(r"#\s*(SDL\d{3}(?:\s*,\s*SDL\d{3})*)\s*$", line)
        if m and "noqa" not in line:
            exp |= {(i, c) for c in re.findall(r"SDL\d{3}", m.group(1))}
    assert got == exp


def test_stdin_with_display_name_through_flake8(tmp_path):
    """Editors pipe the buffer: flake8 - --stdin-display-name; the plugin judges the file by that name."""
    cmd = [sys.executable, "-m", "flake8", "--isolated", "-", "--stdin-display-name"]
    p = subprocess.run(cmd + ["src/train.py"], input=BAD, cwd=tmp_path, capture_output=True, text=True)
    assert "Traceback" not in p.stderr, p.stderr
    assert ("5", "13", "SDL002") in codes(p.stdout) and p.stdout.startswith("src/train.py:")
    p = subprocess.run(cmd + ["tests/test_train.py"], input=BAD, cwd=tmp_path, capture_output=True, text=True)
    assert [c for c in codes(p.stdout) if c[2] in ("SDL001", "SDL002", "SDL003")] == []


def test_pep263_file_through_flake8_and_cli_agree(tmp_path):
    src = ("# -*- coding: latin-1 -*-\n# caf\xe9\nimport torch\nsd = torch.load(p, weights_only=True)\n"
           "m.load_state_dict(sd)\n")
    (tmp_path / "l1.py").write_bytes(src.encode("latin-1"))
    f8 = codes(flake8(tmp_path, "--isolated", "l1.py").stdout)
    cli = subprocess.run([sys.executable, "-m", "statedict_lint", "lint", "--no-cache", "l1.py"], cwd=tmp_path,
                         capture_output=True, text=True)
    assert f8 == [("4", "6", "SDL002")] == sorted(re.findall(r":(\d+):(\d+): (SDL\d{3})", cli.stdout))
