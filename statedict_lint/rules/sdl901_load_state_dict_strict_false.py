"""SDL901 load-state-dict-strict-false (opinionated, off by default)."""

from __future__ import annotations

import ast
from typing import Dict, Iterable, Set, Tuple

from statedict_lint.rules._base import Context, Node, Rule, walk_scope
from statedict_lint.rules.sdl001_load_state_dict_result_ignored import accounts_keys_before, is_strict_false_load


class LoadStateDictStrictFalse(Rule):
    code = "SDL901"
    hint = r"""load_state_dict"""
    message = "load_state_dict(..., strict=False): prefer an exact key mapping and strict loading"
    needs = ("load_state_dict",)
    what = ("Flags every `load_state_dict(..., strict=False)`, even when its result is checked, unless the "
            "function computes the expected key mismatch itself before loading (binds `missing_keys` / "
            "`unexpected_keys`, e.g. a sharded loader checking the index first). One finding per statement "
            "(both branches of `a.load_state_dict(..) if c else b.load_state_dict(..)` are one decision). "
            "Opinionated: off by default; enable with `--select SDL901` (or `SDL9`).")
    why = ("`strict=False` turns every key mismatch into a silent partial load. Code that renames or drops "
           "keys explicitly and then loads strictly states exactly which weights are expected to be "
           "missing, and breaks loudly when a checkpoint or the model changes.")
    example = """\
model.load_state_dict(backbone_state, strict=False)
"""
    use_instead = """\
state = {k: v for k, v in backbone_state.items() if not k.startswith("head.")}
state.update({k: v for k, v in model.state_dict().items() if k.startswith("head.")})
model.load_state_dict(state)
"""
    valid = [
        "import torch\nmodel.load_state_dict(sd)\n",
        "import torch\ndef load_adapter(model, sd):\n    unexpected_keys = set(sd) - set(model.state_dict())\n"
        "    if unexpected_keys:\n        raise ValueError(unexpected_keys)\n"
        "    model.load_state_dict(sd, strict=False)\n",
        "import torch\nmodel.load_state_dict(sd, strict=True)\n",
    ]
    invalid = [
        "import torch\nres = model.load_state_dict(sd, strict=False)\n",
        "import torch\nres = (model.module.load_state_dict(sd, strict=False) if ddp\n"
        "       else model.load_state_dict(sd, strict=False))  # one statement, one finding\n",
    ]

    def check(self, ctx: Context) -> Iterable[Tuple[Node, str]]:
        owners: Dict[int, Dict[int, Node]] = {}
        seen: Set[int] = set()
        for call in ctx.calls:
            if not is_strict_false_load(call) or accounts_keys_before(ctx, call):
                continue
            scope = ctx.scope_of(call)
            if id(scope) not in owners:
                owners[id(scope)] = _statement_of_calls(scope)
            stmt = owners[id(scope)].get(id(call))
            key = id(stmt) if stmt is not None else id(call)
            if key in seen:  # `a.load_state_dict(x, strict=False) if c else b.load_state_dict(...)`: one finding
                continue
            seen.add(key)
            yield call, self.message


def _statement_of_calls(scope: Node) -> Dict[int, Node]:
    """id(call) -> the innermost statement containing it."""
    out: Dict[int, Node] = {}
    for st in walk_scope(scope):
        if isinstance(st, ast.stmt):
            for n in ast.walk(st):
                if isinstance(n, ast.Call):
                    out[id(n)] = st
    return out
