"""Small helpers shared by the library models."""

from __future__ import annotations

from typing import Any, List, Optional

from statedict_lint.predict.signals import EvalRaise
from statedict_lint.predict.symbolic import is_int
from statedict_lint.predict.values import Repeated


def ev_iter(ev: Any, seq: Any) -> Optional[List[Any]]:
    items = ev.iterate(seq)
    if not isinstance(items, list) or any(isinstance(x, Repeated) for x in items):
        return None
    return items


def ceil_div(a: Any, b: Any) -> Any:
    if is_int(a) and is_int(b):
        return max(0, -(-a // b)) if b > 0 else max(0, -(-a // b))
    if b == 1:
        return a
    return (a + b - 1) // b


def canonical(dotted: str) -> str:
    """torch.nn.modules.linear.Linear -> torch.nn.Linear; torch.nn.parameter.Parameter -> torch.nn.Parameter."""
    parts = dotted.split(".")
    if len(parts) >= 4 and parts[:3] == ["torch", "nn", "modules"]:
        return "torch.nn." + parts[-1] if len(parts) == 5 else dotted
    if len(parts) == 4 and parts[:3] == ["torch", "nn", "parameter"]:
        return "torch.nn." + parts[3]
    if len(parts) >= 2 and parts[0] == "torch" and parts[1] == "tensor" and len(parts) == 2:
        return dotted
    return dotted


def raise_(ev: Any, message: str, attr: bool = False) -> Exception:

    return EvalRaise(message, ev.line, ev.path)


class TypingAlias:
    """typing.Optional, typing.List, ...: only ever subscripted or compared."""

    def __init__(self, name: str) -> None:
        self.name = name


class NullContext:
    pass
