"""SDL003 torch-load-without-weights-only."""

from __future__ import annotations

import ast
from typing import Iterable, Tuple

from statedict_lint.rules._base import Context, Node, Rule, has_star_kwargs, is_const, kwarg


class TorchLoadWithoutWeightsOnly(Rule):
    code = "SDL003"
    hint = r"""load\b"""
    name = "torch-load-without-weights-only"
    message = ("torch.load() without weights_only=True: unpickling a checkpoint can execute arbitrary code "
               "(the default depends on the torch version)")
    what = "Flags `torch.load(f)` without `weights_only=True`, and `torch.load(f, weights_only=False)`."
    why = ("`torch.load` unpickles. Before torch 2.6 the default is `weights_only=False`: a downloaded "
           "checkpoint can run any code on load. Since 2.6 the default flipped, so the same line behaves "
           "differently (and old pickled checkpoints stop loading) depending on the installed torch. "
           "Saying `weights_only=True` is safe and means the same everywhere.")
    example = """\
state = torch.load("model.pt", map_location="cpu")
"""
    use_instead = """\
state = torch.load("model.pt", map_location="cpu", weights_only=True)
"""
    valid = [
        "import torch\nsd = torch.load(p, map_location='cpu', weights_only=True)\n",
        "import torch\nsd = torch.load(p, map_location='cpu', **kw)\n",
        "import torch\nsd = torch.load(p, map_location='cpu', weights_only=trusted)\n",
        "sd = torch.load(p)  # torch never imported: cannot be resolved\n",
        "import torch\ndef load(p, weights_only=True):\n    try:\n        return torch.load(p, map_location='cpu', "
        "weights_only=weights_only)\n    except TypeError:\n        return torch.load(p, map_location='cpu')\n",
    ]
    invalid = [
        "import torch\nsd = torch.load(p, map_location='cpu')\n",
        "import torch\nsd = torch.load(p, map_location='cpu', weights_only=False)\n",
    ]

    def check(self, ctx: Context) -> Iterable[Tuple[Node, str]]:
        for call in ctx.calls:
            if not ctx.is_torch(call.func, "torch.load"):
                continue
            wo = kwarg(call, "weights_only")
            if wo is None:
                if has_star_kwargs(call) or len(call.args) >= 4 or _weights_only_aware(ctx, call):
                    continue
                yield call, self.message
            elif is_const(wo, False):
                yield call, ("torch.load(..., weights_only=False): unpickling a checkpoint can execute "
                             "arbitrary code")


def _weights_only_aware(ctx: Context, call: ast.Call) -> bool:
    """The enclosing function decides weights_only itself (e.g. a fallback for torch builds without it)."""
    scope = ctx.scope_of(call)
    if scope is ctx.tree:
        return False
    from statedict_lint.rules._base import name_bindings, walk_scope

    if "weights_only" in name_bindings(scope):
        return True
    return any(isinstance(n, ast.Name) and n.id == "weights_only" for n in walk_scope(scope))
