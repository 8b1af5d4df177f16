"""SDL002 torch-load-without-map-location."""

from __future__ import annotations

import ast
import re
from typing import Iterable, Set, Tuple

from statedict_lint.rules._base import Context, Node, Rule, dotted, has_star_kwargs, kwarg, walk_scope

# receivers whose state holds no device tensors: LR schedulers (numbers) and GradScaler (a float scale)
_TENSORLESS_STATE = re.compile(r"(?:^|_)(?:lr_)?(?:scheduler|sched|scaler)$", re.IGNORECASE)


class TorchLoadWithoutMapLocation(Rule):
    code = "SDL002"
    hint = r"""load\b"""
    name = "torch-load-without-map-location"
    message = "torch.load() without map_location: tensors are restored to the device they were saved from"
    what = ("Flags `torch.load(f)` calls that pass no `map_location`. Silent when the result goes straight "
            "into the `load_state_dict` of an LR scheduler or a gradient scaler (`scheduler`, "
            "`lr_scheduler`, `scaler`, ...): their state is plain numbers, there is no device to map; and when "
            "the loaded object is handed to `torch.from_numpy` in the same scope (the file holds NumPy "
            "arrays, not tensors).")
    why = ("A checkpoint saved from `cuda:0` is restored onto `cuda:0`. On a CPU-only machine that raises "
           "\"Attempting to deserialize object on a CUDA device\"; on a multi-GPU machine every rank "
           "piles its copy onto GPU 0 before it is moved.")
    example = """\
state = torch.load("model.pt", weights_only=True)
"""
    use_instead = """\
state = torch.load("model.pt", map_location="cpu", weights_only=True)
"""
    valid = [
        "import torch\nsd = torch.load(p, map_location='cpu', weights_only=True)\n",
        "import torch\nsd = torch.load(p, 'cpu', weights_only=True)\n",
        "import torch\nsd = torch.load(p, **kwargs)\n",
        "from mylib import torch\nsd = torch.load(p)\n",
        "import torch\nsd = load(p)\n",
        "import torch\nself.lr_scheduler.load_state_dict(torch.load(os.path.join(d, 'scheduler.pt'), "
        "weights_only=True))\n",
        "import torch\nscaler.load_state_dict(torch.load(scaler_path, weights_only=True))\n",
        "import torch\ndata = torch.load('series.pt', weights_only=False)\nx = torch.from_numpy(data[:, :-1])\n",
    ]
    invalid = [
        "import torch\nsd = torch.load(p, weights_only=True)\n",
        "import torch as T\nsd = T.load(p, weights_only=True)\n",
        "from torch import load\nsd = load(p, weights_only=True)\n",
        "import torch\nmodel.load_state_dict(torch.load(p, weights_only=True))\n",
        "import torch\noptimizer.load_state_dict(torch.load(p, weights_only=True))  # Adam moments are tensors\n",
    ]

    def check(self, ctx: Context) -> Iterable[Tuple[Node, str]]:
        tensorless: Set[int] = set()
        for call in ctx.calls:
            f = call.func
            if isinstance(f, ast.Attribute) and f.attr == "load_state_dict" and call.args:
                d = dotted(f.value)
                if d is not None and _TENSORLESS_STATE.search(d.rsplit(".", 1)[-1]):
                    tensorless.add(id(call.args[0]))
        for call in ctx.calls:
            if not ctx.is_torch(call.func, "torch.load"):
                continue
            if kwarg(call, "map_location") is not None or len(call.args) >= 2 or has_star_kwargs(call):
                continue
            if id(call) in tensorless or _numpy_only(ctx, call):
                continue
            yield call, self.message


def _numpy_only(ctx: Context, call: ast.Call) -> bool:
    """``x = torch.load(f)`` and later ``torch.from_numpy(x[...])`` in the same scope: the file holds arrays."""
    if "from_numpy" not in ctx.source:
        return False
    names = [t.id for a in ctx.assigns if a.value is call for t in a.targets if isinstance(t, ast.Name)]
    if not names:
        return False
    for n in walk_scope(ctx.scope_of(call)):
        if isinstance(n, ast.Call) and n.args and ctx.is_torch(n.func, "torch.from_numpy"):
            arg = n.args[0]
            while isinstance(arg, ast.Subscript):
                arg = arg.value
            if isinstance(arg, ast.Name) and arg.id in names:
                return True
    return False
