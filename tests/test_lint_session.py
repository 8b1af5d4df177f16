"""A lint run owns its options and its in-process caches (rules/session.py): they are bounded, keyed on what was
read, and nothing about one run (the lock path, a prediction, a project's layout) leaks into another."""

from __future__ import annotations

import os
import textwrap
from typing import Any

from statedict_lint.cli import main
from statedict_lint.memo import LRU
from statedict_lint.rules.engine import all_rules, lint_source
from statedict_lint.rules.session import LintOptions, LintSession
from test_lock import edit, proj  # noqa: F401  (fixture)
from test_lock_config import _drifted

RULES = {r.code: r for r in all_rules()}


def test_memo_is_bounded_and_drops_the_least_recently_used() -> None:
    m: LRU[int] = LRU(2)
    m["a"], m["b"] = 1, 2
    assert m["a"] == 1  # a is now the most recent
    m["c"] = 3
    assert "b" not in m and m.get("a") == 1 and m.get("c") == 3 and len(m) == 2
    assert m.get("b", "gone") == "gone"


def test_every_cache_of_a_session_is_bounded() -> None:
    s = LintSession()
    memos = [v for v in vars(s).values() if isinstance(v, LRU)] + \
        [v for v in vars(s.project).values() if isinstance(v, LRU)]
    assert len(memos) >= 9
    assert not [k for k, v in list(vars(s).items()) + list(vars(s.project).items())
                if isinstance(v, (dict, list, set))], "an unbounded container in the session"
    for _ in range(s.PREDICTIONS + 50):
        s.predictions[object()] = None
    assert len(s.predictions) == s.PREDICTIONS


MODEL = textwrap.dedent("""
    import torch.nn as nn


    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(2, 2)


    def weight():
        model = Net()
        sd = model.state_dict()
        return sd["{key}"]
""")


def test_sdl201_predictions_are_keyed_on_the_files_text_not_its_mtime(tmp_path: Any) -> None:
    p = tmp_path / "m.py"
    session = LintSession()

    def run(key: str) -> list:
        p.write_text(MODEL.format(key=key), encoding="utf-8")
        os.utime(p, ns=(1_000_000_000, 1_000_000_000))  # the same mtime for both versions
        src = p.read_text(encoding="utf-8")
        return [f.code for f in lint_source(src, str(p), [RULES["SDL201"]], session=session)]

    assert run("fc.weight") == []
    # the class changes (fc -> proj) with the same mtime: the remembered prediction must not answer
    p.write_text(MODEL.format(key="fc.weight").replace("self.fc", "self.proj"), encoding="utf-8")
    os.utime(p, ns=(1_000_000_000, 1_000_000_000))
    src = p.read_text(encoding="utf-8")
    assert [f.code for f in lint_source(src, str(p), [RULES["SDL201"]], session=session)] == ["SDL201"]
    assert len(session.predictions) == 2


def test_the_lock_option_belongs_to_its_run(proj: str, monkeypatch: Any, capsys: Any) -> None:  # noqa: F811
    _drifted(proj)
    monkeypatch.delenv("STATEDICT_LINT_LOCK", raising=False)
    capsys.readouterr()
    path = os.path.join(proj, "pkg", "model.py")
    src = open(path, encoding="utf-8").read()
    lock = os.path.join(proj, "contracts", "model.lock")
    with_lock = lint_source(src, path, [RULES["SDL800"]], session=LintSession(LintOptions(lock=lock)))
    assert [f.code for f in with_lock] == ["SDL800"]
    # another run in the same process, without the option: silent (no statedict.lock above the file)
    assert lint_source(src, path, [RULES["SDL800"]], session=LintSession()) == []
    assert lint_source(src, path, [RULES["SDL800"]]) == []
    # and through the CLI: one run with --lock, then one without
    assert main(["lint", "--no-cache", "--lock", "contracts/model.lock", "pkg/model.py"]) == 1
    assert main(["lint", "--no-cache", "pkg/model.py"]) == 0
