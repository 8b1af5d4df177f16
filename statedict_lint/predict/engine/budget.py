"""The evaluator's bounds: one ``Budget`` per evaluation (steps, call depth, forks, per-call and import-time step
budgets, with what has been spent against them), and the sizes of values it materializes.

The module constants are the documented defaults (docs/predictor.md); ``Budget(max_steps=...)`` overrides one.
"""

from __future__ import annotations

from typing import List, Set

from statedict_lint.predict.signals import CallBudget, GiveUp


MAX_STEPS = 2_000_000  # one whole evaluation
CALL_STEPS = 150_000  # one nested call's own budget (see Budget.tick)
MAX_CALL_ABORTS = 8
BIG = 1 << 62
MAX_UNROLL = 100_000
# Bounds on what the evaluator materializes (hostile or runaway source: `2**10**10`, `'a' * 10**10`, a list
# doubled 40 times): bigger values are Unknown "too large to evaluate", never a hang or a MemoryError.
# A decorator run at import (timm's @register_model on 1,400 functions) gets this many steps; one that needs
# more is given up (what it decorates is unknown) and not run again for the other functions it decorates.
DECORATOR_STEPS = 250
IMPORT_STEPS = 20_000  # one module-level statement (a call, a loop) at import
MAX_INT_BITS = 4096
MAX_SEQ_LEN = 1_000_000
MAX_DEPTH = 120  # nested calls
MAX_FORKS = 64  # (times 16) undecidable conditions forked on, per constructor call


class _DecoratorBudget(GiveUp):
    """A decorator run at import used up its steps (DECORATOR_STEPS); unlike CallBudget, the helpers it was
    running are not marked as too costly for construction."""


class Budget:
    """The bounds of one evaluation and what it has spent against them. Every step of the engine is a ``tick``;
    calls, forks, decorators and module-level statements at import draw on it through the methods below."""

    __slots__ = ("max_steps", "call_steps", "max_call_aborts", "max_depth", "max_forks", "decorator_steps",
                 "import_steps", "steps", "depth", "forks", "call_starts", "call_aborts", "over_budget", "step_limit")

    def __init__(self, max_steps: int = MAX_STEPS, call_steps: int = CALL_STEPS, max_call_aborts: int = MAX_CALL_ABORTS,
                 max_depth: int = MAX_DEPTH, max_forks: int = MAX_FORKS, decorator_steps: int = DECORATOR_STEPS,
                 import_steps: int = IMPORT_STEPS) -> None:
        self.max_steps = max_steps
        self.call_steps = call_steps
        self.max_call_aborts = max_call_aborts
        self.max_depth = max_depth
        self.max_forks = max_forks
        self.decorator_steps = decorator_steps
        self.import_steps = import_steps
        self.steps = 0
        self.depth = 0  # calls being evaluated (0: module level, import time)
        self.forks = 0
        self.call_starts: List[int] = []  # self.steps when each active call began (innermost last)
        self.call_aborts = 0
        self.over_budget: Set[int] = set()  # helper functions (id of their node) abandoned for their step count
        self.step_limit = BIG  # a step count at which the running import-time code is given up

    def tick(self) -> None:
        self.steps += 1
        if self.steps > self.max_steps:
            raise GiveUp("evaluation took too many steps")
        if self.depth > 1 and self.steps - self.call_starts[-1] > self.call_steps:  # (never for __init__: BIG)
            # one helper call unrolling a huge loop (timm's attention-bias tables: 196 x 196 points) is
            # given up on its own -- noted, its result unknown -- instead of ending the whole prediction
            raise CallBudget("the call took too many steps to evaluate")
        if self.steps > self.step_limit:
            raise _DecoratorBudget("it takes too many steps at import")

    def fork(self) -> None:
        """One more undecidable condition forked on."""
        self.forks += 1
        if self.forks > self.max_forks * 16:
            raise GiveUp("too many undecidable conditions")

    def enter_call(self, constructor: bool) -> int:
        """A call begins (constructors build the state itself and are never cut short; helpers are). Returns
        what ``leave_call`` restores."""
        self.depth += 1
        self.call_starts.append(BIG if constructor else self.steps)
        return self.forks

    def leave_call(self, saved_forks: int) -> None:
        self.call_starts.pop()
        self.depth -= 1
        if self.depth == 0:
            self.forks = saved_forks

    def abandon_call(self, node_id: int) -> None:
        """The innermost call ran out of its own steps: it is not run again, and the callers are not charged
        for it (up to ``max_call_aborts`` such calls)."""
        self.over_budget.add(node_id)
        self.call_aborts += 1
        if self.call_aborts <= self.max_call_aborts:
            self.steps = self.call_starts[-1]

    def limit_import(self, steps: int) -> int:
        """Import-time code gets at most ``steps`` more steps (within any enclosing limit); returns the limit
        to restore."""
        saved = self.step_limit
        self.step_limit = min(saved, self.steps + steps)
        return saved
