"""The evaluator's bounds: steps, call depth, forks and the sizes of values it materializes."""

from __future__ import annotations

from statedict_lint.predict.signals import GiveUp


MAX_STEPS = 2_000_000
CALL_STEPS = 150_000  # one nested call's own budget (see Evaluator.tick)
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
MAX_DEPTH = 120
MAX_FORKS = 64


# -- classes, functions, scopes ------------------------------------------------------------------

class _DecoratorBudget(GiveUp):
    """A decorator run at import used up its steps (DECORATOR_STEPS); unlike CallBudget, the helpers it was
    running are not marked as too costly for construction."""
