"""SDL007 load-assign-after-optimizer."""

from __future__ import annotations

import ast
from typing import Dict, Iterable, List, Tuple

from statedict_lint.rules._base import Context, Node, Rule, dotted, is_const, kwarg, walk_scope

_PARAM_METHODS = ("parameters", "named_parameters")


class LoadAssignAfterOptimizer(Rule):
    code = "SDL007"
    hint = r"""load_state_dict"""
    message = ("load_state_dict(..., assign=True) replaces {m}'s parameters after an optimizer was built from "
               "them: the optimizer keeps updating the old tensors")
    needs = ("assign",)
    what = ("Flags `model.load_state_dict(sd, assign=True)` when, earlier in the same function, an optimizer "
            "was created from `model.parameters()`.")
    why = ("`assign=True` swaps in the checkpoint's tensors as new `Parameter` objects instead of copying "
           "into the existing ones. The optimizer still holds the old objects, so `optimizer.step()` "
           "updates tensors the model no longer uses: training silently does nothing.")
    example = """\
optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
model.load_state_dict(state, assign=True)
"""
    use_instead = """\
model.load_state_dict(state, assign=True)
optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
"""
    valid = [
        "import torch\ndef f(model, sd):\n    model.load_state_dict(sd, assign=True)\n"
        "    opt = torch.optim.SGD(model.parameters(), lr=0.1)\n",
        "import torch\ndef f(model, other, sd):\n    opt = torch.optim.SGD(other.parameters(), lr=0.1)\n"
        "    model.load_state_dict(sd, assign=True)\n",
        "import torch\ndef f(model, sd):\n    opt = torch.optim.SGD(model.parameters(), lr=0.1)\n"
        "    model.load_state_dict(sd)\n",
    ]
    invalid = [
        "import torch\ndef f(model, sd):\n    opt = torch.optim.SGD(model.parameters(), lr=0.1)\n"
        "    model.load_state_dict(sd, assign=True)\n",
        "from torch.optim import AdamW\nclass T:\n    def setup(self, sd):\n"
        "        self.opt = AdamW(self.net.parameters())\n        self.net.load_state_dict(sd, strict=True, "
        "assign=True)\n",
    ]

    def check(self, ctx: Context) -> Iterable[Tuple[Node, str]]:
        targets = [c for c in ctx.calls if isinstance(c.func, ast.Attribute) and c.func.attr == "load_state_dict"
                   and (is_const(kwarg(c, "assign"), True) or (len(c.args) >= 3 and is_const(c.args[2], True)))]
        if not targets:
            return
        seen: Dict[int, List[Tuple[int, str]]] = {}
        for call in targets:
            if not isinstance(call.func, ast.Attribute):  # (the targets are X.load_state_dict(...) calls)
                continue
            scope = ctx.scope_of(call)
            if id(scope) not in seen:
                # (line, receiver dotted name) of optimizers built from X.parameters()
                built: List[Tuple[int, str]] = []
                for n in walk_scope(scope):
                    if isinstance(n, ast.Call) and ctx.is_optimizer_ctor(n):
                        for sub in ast.walk(n):
                            if (isinstance(sub, ast.Call) and isinstance(sub.func, ast.Attribute)
                                    and sub.func.attr in _PARAM_METHODS):
                                d = dotted(sub.func.value)
                                if d:
                                    built.append((n.lineno, d))
                seen[id(scope)] = built
            m = dotted(call.func.value)
            if m and any(line < call.lineno and recv == m for line, recv in seen[id(scope)]):
                yield call, self.message.format(m=m)
