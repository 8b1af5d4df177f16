"""Per-scope facts shared by the checkpoint rules: which names hold optimizers, modules, loaded files."""

from __future__ import annotations

import ast
from typing import Dict, List, Optional, Set

from statedict_lint.rules._base import Context, Node, dotted, name_bindings, walk_scope

PROGRESS_KEYS = {"epoch", "epochs", "step", "steps", "global_step", "iter", "iteration", "iter_num",
                 "start_epoch", "best_acc1", "best_acc", "best_val_loss", "best_loss", "lr_scheduler",
                 "scheduler", "scaler"}


class ScopeInfo:
    def __init__(self, ctx: Context, scope: Node) -> None:
        self.scope = scope
        self.nodes: List[Node] = list(walk_scope(scope))
        self.binds = name_bindings(scope)
        self.optimizers: Dict[str, ast.Call] = {}
        for name, values in self.binds.items():
            ctors = [v for v in values if isinstance(v, ast.Call) and ctx.is_optimizer_ctor(v)]
            if values and len(ctors) == len(values):
                self.optimizers[name] = ctors[0]
        self.self_optimizers: Set[str] = set()  # `self.optimizer = torch.optim.X(...)` in this scope
        for n in self.nodes:
            if isinstance(n, ast.Assign) and ctx.is_optimizer_ctor(n.value):
                for t in n.targets:
                    d = dotted(t)
                    if d and "." in d:
                        self.self_optimizers.add(d)

    def trained_modules(self) -> Set[str]:
        """Dotted names X whose ``X.parameters()`` (or named_parameters) feed an optimizer of this scope."""
        out: Set[str] = set()
        ctors: List[ast.expr] = list(self.optimizers.values())
        for n in self.nodes:
            if isinstance(n, ast.Assign) and any(dotted(t) in self.self_optimizers for t in n.targets):
                ctors.append(n.value)
        for c in ctors:
            for sub in ast.walk(c):
                if (isinstance(sub, ast.Call) and isinstance(sub.func, ast.Attribute)
                        and sub.func.attr in ("parameters", "named_parameters")):
                    d = dotted(sub.func.value)
                    if d:
                        out.add(d)
        return out

    def optimizer_exprs(self) -> Set[str]:
        return set(self.optimizers) | self.self_optimizers

    def is_optimizer(self, expr: Node) -> bool:
        d = dotted(expr)
        return d is not None and d in self.optimizer_exprs()


def state_dict_receiver(node: Optional[Node]) -> Optional[Node]:
    """``X`` for ``X.state_dict()`` (no arguments), else None."""
    if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "state_dict"
            and not node.args and not node.keywords):
        return node.func.value
    return None


def const_str(node: Optional[Node]) -> Optional[str]:
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    return None
