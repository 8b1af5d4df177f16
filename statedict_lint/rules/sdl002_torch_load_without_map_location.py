"""SDL002 torch-load-without-map-location."""

from __future__ import annotations

import ast
from typing import Iterable, Tuple

from statedict_lint.rules._base import Context, Node, Rule, has_star_kwargs, kwarg


class TorchLoadWithoutMapLocation(Rule):
    code = "SDL002"
    hint = r"""load\b"""
    name = "torch-load-without-map-location"
    message = "torch.load() without map_location: tensors are restored to the device they were saved from"
    what = "Flags `torch.load(f)` calls that pass no `map_location`."
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
    ]
    invalid = [
        "import torch\nsd = torch.load(p, weights_only=True)\n",
        "import torch as T\nsd = T.load(p, weights_only=True)\n",
        "from torch import load\nsd = load(p, weights_only=True)\n",
    ]

    def check(self, ctx: Context) -> Iterable[Tuple[Node, str]]:
        for call in ctx.calls:
            if not ctx.is_torch(call.func, "torch.load"):
                continue
            if kwarg(call, "map_location") is not None or len(call.args) >= 2 or has_star_kwargs(call):
                continue
            yield call, self.message
