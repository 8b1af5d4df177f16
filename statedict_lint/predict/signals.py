"""Control-flow signals of the evaluator: how a return, break, continue, a raise in the user's code, and
the evaluator giving up travel up through the Python stack of the interpreter.

Library models (``predict/libs``) raise ``EvalRaise`` for operations Python or torch would reject and
``GiveUp`` when evaluation cannot continue soundly; the engine catches them. Nothing here imports the engine.
"""

from __future__ import annotations

from typing import Any


class Return(Exception):
    def __init__(self, value: Any) -> None:
        self.value = value


class Break(Exception):
    pass


class Continue(Exception):
    pass


class EvalRaise(Exception):
    """The user's code raises (``raise``, failed ``assert``, or an operation torch/Python would reject)."""

    def __init__(self, message: str, line: int = 0, path: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.line = line
        self.path = path


class GiveUp(Exception):
    """Evaluation of the current call cannot continue soundly; its result becomes Unknown."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class CallBudget(GiveUp):
    """One helper call used up its own step budget."""
