"""SDL102 tensor-attribute-not-registered."""

from __future__ import annotations

import ast
from typing import Dict, Iterable, List, Tuple

from statedict_lint.rules._base import Context, Node, Rule, self_name
from statedict_lint.rules.sdl101_module_in_plain_container import self_assignment_counts

_TENSOR_CHAIN = {"to", "cuda", "cpu", "float", "double", "half", "bfloat16", "long", "int", "bool",
                 "view", "reshape", "unsqueeze", "squeeze", "expand", "repeat", "t", "transpose",
                 "permute", "contiguous", "clone", "detach", "fill_", "zero_", "normal_", "uniform_",
                 "triu", "tril", "requires_grad_"}


class TensorAttributeNotRegistered(Rule):
    code = "SDL102"
    hint = r"""=[ \t]*[\w.]*(?:zeros|ones|empty|full|rand|randn|randint|arange|eye|linspace|logspace|tensor|as_tensor|from_numpy|zeros_like|ones_like|empty_like|full_like|rand_like|randn_like|randperm|Tensor|FloatTensor|LongTensor)\("""
    name = "tensor-attribute-not-registered"
    message = ("self.{attr} is a plain tensor, neither a parameter nor a buffer: it is missing from "
               "state_dict() and .to(device) does not move it; use self.register_buffer(\"{attr}\", ...) "
               "(persistent=False if it should not be saved) or nn.Parameter")
    what = ("Flags `self.x = torch.zeros(...)` (any `torch` tensor factory) in the `__init__` of an "
            "`nn.Module` when `x` is never registered or wrapped later.")
    why = ("Only parameters and buffers are part of the module's state. A plain tensor attribute is not "
           "saved or loaded with the state_dict, so a learned or computed value is lost on reload, and "
           "`model.to('cuda')` leaves it on the CPU: a device-mismatch error at the first forward, or a "
           "silent copy every step.")
    example = """\
class PositionalEncoding(nn.Module):
    def __init__(self, n, d):
        super().__init__()
        self.pe = torch.zeros(n, d)
"""
    use_instead = """\
class PositionalEncoding(nn.Module):
    def __init__(self, n, d):
        super().__init__()
        self.register_buffer("pe", torch.zeros(n, d), persistent=False)
"""
    valid = [
        "import torch\nimport torch.nn as nn\nclass M(nn.Module):\n    def __init__(self):\n"
        "        super().__init__()\n        self.register_buffer('pe', torch.zeros(4, 4))\n",
        "import torch\nimport torch.nn as nn\nclass M(nn.Module):\n    def __init__(self):\n"
        "        super().__init__()\n        self.w = nn.Parameter(torch.zeros(4, 4))\n",
        "import torch\nimport torch.nn as nn\nclass M(nn.Module):\n    def __init__(self):\n"
        "        super().__init__()\n        self.w = torch.zeros(4)\n        self.w = nn.Parameter(self.w)\n",
        "import torch\nclass NotAModule:\n    def __init__(self):\n        self.w = torch.zeros(4)\n",
        "import torch.nn as nn\nclass M(nn.Module):\n    def __init__(self):\n        super().__init__()\n"
        "        self.w = zeros(4)  # unresolved name\n",
    ]
    invalid = [
        "import torch\nimport torch.nn as nn\nclass M(nn.Module):\n    def __init__(self, n, d):\n"
        "        super().__init__()\n        self.pe = torch.zeros(n, d)\n",
        "import torch as T\nfrom torch import nn\nclass M(nn.Module):\n    def __init__(self):\n"
        "        super().__init__()\n        self.mask = T.ones(8, 8).tril().bool()\n",
    ]

    def check(self, ctx: Context) -> Iterable[Tuple[Node, str]]:
        if not ctx.module_classes:
            return
        counts_cache: Dict[int, Dict[str, int]] = {}
        for n in ctx.assigns:
            if len(n.targets) != 1:
                continue
            t = n.targets[0]
            if not (isinstance(t, ast.Attribute) and isinstance(t.value, ast.Name)):
                continue
            v = n.value
            while (isinstance(v, ast.Call) and isinstance(v.func, ast.Attribute)
                   and v.func.attr in _TENSOR_CHAIN and isinstance(v.func.value, ast.Call)):
                v = v.func.value
            if not ctx.is_tensor_factory(v):
                continue
            meth = ctx.scope_of(n)
            if getattr(meth, "name", None) != "__init__" or self_name(meth) != t.value.id:
                continue
            cls = ctx.class_of_method(meth)
            if cls is None:
                continue
            if id(cls) not in counts_cache:
                counts_cache[id(cls)] = self_assignment_counts(cls)
            if counts_cache[id(cls)].get(t.attr, 0) != 1:
                continue
            yield n, self.message.format(attr=t.attr)
