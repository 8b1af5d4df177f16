"""The shipped pre-commit hook, installed by real pre-commit from a local clone into a temporary repo."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PRE_COMMIT = shutil.which("pre-commit", path=os.path.dirname(sys.executable)) or shutil.which("pre-commit")
GIT = shutil.which("git")

pytestmark = pytest.mark.skipif(not (PRE_COMMIT and GIT), reason="pre-commit or git not installed")


def git(cwd, *args):
    env = dict(os.environ, GIT_AUTHOR_NAME="t", GIT_AUTHOR_EMAIL="t@example.com", GIT_COMMITTER_NAME="t",
               GIT_COMMITTER_EMAIL="t@example.com")
    return subprocess.run([GIT, *args], cwd=cwd, check=True, capture_output=True, text=True, env=env).stdout


def _snapshot_of_this_checkout(dest):
    """A git repository holding the working tree's package (committed or not): what pre-commit installs."""
    os.makedirs(dest)
    for name in ("pyproject.toml", ".pre-commit-hooks.yaml", "README.md"):
        src = os.path.join(REPO, name)
        if os.path.exists(src):
            shutil.copy(src, os.path.join(dest, name))
        elif name == "README.md":
            with open(os.path.join(dest, name), "w") as fh:
                fh.write("statedict-lint\n")
    shutil.copytree(os.path.join(REPO, "statedict_lint"), os.path.join(dest, "statedict_lint"),
                    ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    git(dest, "init", "-q")
    git(dest, "add", "-A")
    git(dest, "commit", "-q", "-m", "snapshot")
    return git(dest, "rev-parse", "HEAD").strip()


def test_hook_passes_clean_code_and_fails_bad_code(tmp_path):
    hooks_repo = str(tmp_path / "hooks")
    rev = _snapshot_of_this_checkout(hooks_repo)
    work = tmp_path / "work"
    work.mkdir()
    git(work, "init", "-q")
    (work / ".pre-commit-config.yaml").write_text(
        f"repos:\n  - repo: {hooks_repo}\n    rev: {rev}\n    hooks:\n      - id: statedict-lint\n",
        encoding="utf-8")
    (work / "model.py").write_text(
        "import torch\n\nstate = torch.load('m.pt', map_location='cpu', weights_only=True)\n", encoding="utf-8")
    (work / "README.txt").write_text("import torch\ntorch.load('x')\n", encoding="utf-8")  # not python: ignored
    git(work, "add", "-A")
    env = dict(os.environ, PRE_COMMIT_HOME=str(tmp_path / "cache"), PIP_DISABLE_PIP_VERSION_CHECK="1")
    env.pop("VIRTUAL_ENV", None)
    ok = subprocess.run([PRE_COMMIT, "run", "--all-files"], cwd=work, capture_output=True, text=True, env=env)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert "statedict-lint" in ok.stdout and "Passed" in ok.stdout

    (work / "train.py").write_text("import torch\n\nmodel.load_state_dict(torch.load('m.pt'), strict=False)\n",
                                   encoding="utf-8")
    git(work, "add", "-A")
    bad = subprocess.run([PRE_COMMIT, "run", "--all-files"], cwd=work, capture_output=True, text=True, env=env)
    assert bad.returncode == 1, bad.stdout + bad.stderr
    assert "Failed" in bad.stdout
    assert "train.py:3:1: SDL001" in bad.stdout and "train.py:3:23: SDL002" in bad.stdout
    assert "model.py" not in bad.stdout.split("Failed", 1)[1]

    # the hook environment must not have pulled torch (core dependencies only)
    envs = list((tmp_path / "cache").glob("repo*/py_env-*"))
    assert envs, "pre-commit environment not found"
    assert not list(envs[0].glob("lib/python*/site-packages/torch")), "torch was installed into the hook env"


def _readme_snippet():
    with open(os.path.join(REPO, "README.md"), encoding="utf-8") as fh:
        text = fh.read()
    after = text.split("<!-- pre-commit-snippet -->", 1)[1]
    return after.split("```yaml\n", 1)[1].split("```", 1)[0]


def test_readme_snippet_works_as_written(tmp_path):
    """The README's .pre-commit-config.yaml, copied verbatim into a throwaway repository, runs real pre-commit
    with the statedict-lint of this environment: passes clean code, fails a pitfall."""
    snippet = _readme_snippet()
    assert "rev: v0.1.0" not in snippet and "<" not in snippet  # nothing to fill in
    work = tmp_path / "work"
    work.mkdir()
    git(work, "init", "-q")
    (work / ".pre-commit-config.yaml").write_text(snippet, encoding="utf-8")
    (work / "model.py").write_text(
        "import torch\n\nstate = torch.load('m.pt', map_location='cpu', weights_only=True)\n", encoding="utf-8")
    git(work, "add", "-A")
    env = dict(os.environ, PRE_COMMIT_HOME=str(tmp_path / "cache"),
               PATH=os.path.dirname(sys.executable) + os.pathsep + os.environ.get("PATH", ""))
    ok = subprocess.run([PRE_COMMIT, "run", "--all-files"], cwd=work, capture_output=True, text=True, env=env,
                        timeout=300)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert "statedict-lint" in ok.stdout and "Passed" in ok.stdout
    (work / "train.py").write_text("import torch\n\nmodel.load_state_dict(torch.load('m.pt'), strict=False)\n",
                                   encoding="utf-8")
    git(work, "add", "-A")
    bad = subprocess.run([PRE_COMMIT, "run", "--all-files"], cwd=work, capture_output=True, text=True, env=env,
                         timeout=300)
    assert bad.returncode == 1 and "Failed" in bad.stdout
    assert "train.py:3:1: SDL001" in bad.stdout


def test_readme_explains_the_missing_tag():
    with open(os.path.join(REPO, "README.md"), encoding="utf-8") as fh:
        text = fh.read()
    assert "pin `rev:` to a full commit SHA" in text
    assert "rev: v0.1.0\n" not in text  # no tag exists: a snippet pinning one cannot work
