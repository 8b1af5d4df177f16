"""How `diff` finds its default BASE: the merge-base of HEAD with the default branch, with or without a remote."""

from __future__ import annotations

import json
import os
import subprocess
from typing import Any

from statedict_lint.cli import main

MODEL = """import torch.nn as nn


class Net(nn.Module):
    def __init__(self, n):
        super().__init__()
        self.fc = nn.Linear(n, n)
"""


def git(repo: str, *args: str) -> str:
    env = dict(os.environ, GIT_AUTHOR_NAME="t", GIT_AUTHOR_EMAIL="t@e", GIT_COMMITTER_NAME="t",
               GIT_COMMITTER_EMAIL="t@e")
    return subprocess.run(["git", "-C", repo, *args], check=True, stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, env=env).stdout.decode().strip()


def make(path: str, branch: str) -> str:
    os.makedirs(path)
    git(path, "init", "-q", "-b", branch)
    with open(os.path.join(path, "model.py"), "w") as fh:
        fh.write(MODEL)
    git(path, "add", "-A")
    git(path, "commit", "-qm", "base")
    return git(path, "rev-parse", "HEAD")


def rename(path: str) -> None:
    p = os.path.join(path, "model.py")
    text = open(p).read().replace("self.fc =", "self.proj =")
    with open(p, "w") as fh:
        fh.write(text)


def diff_json(capsys: Any, *args: str) -> Any:
    capsys.readouterr()
    rc = main(["diff", "--no-cache", "--format", "json", *args])
    return rc, json.loads(capsys.readouterr().out)


def test_master_without_remote(tmp_path: Any, monkeypatch: Any, capsys: Any) -> None:
    repo = str(tmp_path / "r")
    base = make(repo, "master")
    monkeypatch.chdir(repo)
    git(repo, "checkout", "-q", "-b", "feature")
    rename(repo)
    rc, data = diff_json(capsys)
    assert rc == 1 and data["base"] == base


def test_merge_base_not_the_tip_of_the_default_branch(tmp_path: Any, monkeypatch: Any, capsys: Any) -> None:
    repo = str(tmp_path / "r")
    base = make(repo, "main")
    monkeypatch.chdir(repo)
    git(repo, "checkout", "-q", "-b", "feature")
    rename(repo)
    git(repo, "commit", "-qam", "rename")
    # main moves on after the branch point (a breaking change there must not show in this branch's diff)
    git(repo, "checkout", "-q", "main")
    with open(os.path.join(repo, "model.py"), "a") as fh:
        fh.write("\n\nclass Extra(nn.Module):\n    def __init__(self):\n        super().__init__()\n"
                 "        self.w = nn.Linear(2, 2)\n")
    git(repo, "commit", "-qam", "main moves")
    git(repo, "checkout", "-q", "feature")
    rc, data = diff_json(capsys)
    assert rc == 1 and data["base"] == base
    assert [c["class"] for c in data["classes"]] == ["model.py:Net"]


def test_origin_head_of_a_clone(tmp_path: Any, monkeypatch: Any, capsys: Any) -> None:
    upstream = str(tmp_path / "up")
    base = make(upstream, "trunk")  # a default branch named neither main nor master
    clone = str(tmp_path / "clone")
    subprocess.run(["git", "clone", "-q", upstream, clone], check=True)
    monkeypatch.chdir(clone)
    git(clone, "checkout", "-q", "-b", "feature")
    rename(clone)
    rc, data = diff_json(capsys)
    assert rc == 1 and data["base"] == base


def test_no_default_branch_is_a_one_line_error(tmp_path: Any, monkeypatch: Any, capsys: Any) -> None:
    repo = str(tmp_path / "r")
    make(repo, "trunk")
    monkeypatch.chdir(repo)
    rename(repo)
    capsys.readouterr()
    assert main(["diff", "--no-cache"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "give BASE explicitly" in err
    assert main(["diff", "--no-cache", "trunk"]) == 1
