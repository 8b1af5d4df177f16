"""The engine's one ``Budget`` (predict/engine/budget.py): its defaults are the documented bounds, and every
bound the engine applies is read from the evaluation's budget (a smaller budget gives up sooner, with the bound
named in the reason)."""

from __future__ import annotations

import pathlib

import pytest

from statedict_lint.predict.catalog import CATALOG_PATH
from statedict_lint.predict.engine import budget as budget_mod
from statedict_lint.predict.engine.budget import Budget
from statedict_lint.predict.evaluator import Evaluator
from statedict_lint.predict.signals import CallBudget, GiveUp
from statedict_lint.predict.values import Unknown

DOCS = pathlib.Path(__file__).resolve().parent.parent / "docs" / "predictor.md"


def test_defaults_are_the_documented_bounds():
    b = Budget()
    assert (b.max_steps, b.call_steps, b.max_call_aborts, b.max_depth, b.max_forks, b.decorator_steps,
            b.import_steps) == (2_000_000, 150_000, 8, 120, 64, 250, 20_000)
    assert (budget_mod.MAX_INT_BITS, budget_mod.MAX_SEQ_LEN, budget_mod.MAX_UNROLL) == (4096, 1_000_000, 100_000)
    text = " ".join(DOCS.read_text(encoding="utf-8").split())
    for documented in ("250 steps", "20,000 steps", "4096 bits", "1,000,000 items", "100,000 iterations"):
        assert documented in text


def test_tick_gives_up_past_max_steps():
    b = Budget(max_steps=3)
    for _ in range(3):
        b.tick()
    with pytest.raises(GiveUp, match="too many steps"):
        b.tick()


def test_a_helper_call_has_its_own_steps_and_is_refunded_when_abandoned():
    b = Budget(call_steps=5, max_call_aborts=1)
    outer = b.enter_call(constructor=True)  # __init__: never cut short
    for _ in range(20):
        b.tick()
    inner = b.enter_call(constructor=False)
    with pytest.raises(CallBudget):
        for _ in range(10):
            b.tick()
    b.abandon_call(1234)
    assert b.steps == 20 and 1234 in b.over_budget  # the callers are not charged for it
    b.leave_call(inner)
    inner = b.enter_call(constructor=False)
    with pytest.raises(CallBudget):
        for _ in range(10):
            b.tick()
    b.abandon_call(5678)
    assert b.steps == 26  # past max_call_aborts: charged
    b.leave_call(inner)
    b.leave_call(outer)
    assert b.depth == 0 and b.call_starts == []


def test_forks_are_bounded():
    b = Budget(max_forks=1)
    for _ in range(16):
        b.fork()
    with pytest.raises(GiveUp, match="undecidable"):
        b.fork()


def _module(tmp_path, text: str, budget: Budget) -> dict:
    path = tmp_path / "m.py"
    path.write_text(text, encoding="utf-8")
    ev = Evaluator([str(tmp_path)], CATALOG_PATH, budget=budget)
    scope = ev.load_path(str(path))
    return {name: scope.lookup(name)[1] for name in ("x", "y")}


LOOP = """
x = 0
for i in range(300):
    x = x + 1
y = 7
"""

RECURSION = """
def f(n):
    return 0 if n == 0 else 1 + f(n - 1)

x = f(30)
y = 7
"""


def test_import_steps_come_from_the_budget(tmp_path):
    assert _module(tmp_path, LOOP, Budget()) == {"x": 300, "y": 7}
    small = _module(tmp_path, LOOP, Budget(import_steps=100))
    assert isinstance(small["x"], Unknown) and "more than 100 steps at import" in small["x"].reason
    assert small["y"] == 7  # the next statement has its own steps


def test_call_depth_comes_from_the_budget(tmp_path):
    assert _module(tmp_path, RECURSION, Budget())["x"] == 30
    shallow = _module(tmp_path, RECURSION, Budget(max_depth=10))
    assert isinstance(shallow["x"], Unknown) and "recursion too deep" in shallow["x"].reason
