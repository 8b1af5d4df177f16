"""SDL001 load-state-dict-result-ignored."""

from __future__ import annotations

import ast
from typing import Iterable, Tuple

from statedict_lint.rules._base import Context, Node, Rule, is_const, kwarg


class StrictFalseResultIgnored(Rule):
    code = "SDL001"
    hint = r"""load_state_dict"""
    name = "load-state-dict-result-ignored"
    message = ("load_state_dict(..., strict=False) result thrown away: missing and unexpected keys are "
               "silently ignored")
    needs = ("load_state_dict",)
    what = ("Flags `module.load_state_dict(..., strict=False)` used as a statement, so the returned "
            "`(missing_keys, unexpected_keys)` are never looked at.")
    why = ("With `strict=False` torch loads whatever matches and returns the keys it skipped. Thrown "
           "away, a renamed layer, a `module.` prefix or a wrong checkpoint loads *nothing* for those "
           "layers and the model silently keeps its random initialisation: accuracy collapses, no error.")
    example = """\
model.load_state_dict(state_dict, strict=False)
"""
    use_instead = """\
result = model.load_state_dict(state_dict, strict=False)
if result.unexpected_keys:
    raise RuntimeError(f"unexpected keys: {result.unexpected_keys}")
print("newly initialised:", result.missing_keys)
"""
    valid = [
        "import torch\nmodel.load_state_dict(sd)\n",
        "import torch\nmissing, unexpected = model.load_state_dict(sd, strict=False)\n",
        "import torch\nres = model.load_state_dict(sd, strict=False)\nassert not res.unexpected_keys\n",
        "import torch\nmodel.load_state_dict(sd, strict=True)\n",
        "import torch\nload_state_dict(model, sd, strict=False)  # a helper function, not the method\n",
    ]
    invalid = [
        "import torch\nmodel.load_state_dict(sd, strict=False)\n",
        "import torch\nself.backbone.load_state_dict(torch.load(p, map_location='cpu', weights_only=True), "
        "strict=False)\n",
    ]

    def check(self, ctx: Context) -> Iterable[Tuple[Node, str]]:
        for call in ctx.calls:
            f = call.func
            if not (isinstance(f, ast.Attribute) and f.attr == "load_state_dict"):
                continue
            if id(call) not in ctx.discarded:
                continue
            if is_const(kwarg(call, "strict"), False) or (
                    len(call.args) >= 2 and is_const(call.args[1], False)):
                yield call, self.message
