"""SDL102 tensor-attribute-not-registered."""

from __future__ import annotations

import ast
from typing import Dict, Iterable, List, Tuple

from statedict_lint.rules._base import Context, Node, Rule, enclosing_class_methods, self_name, walk_scope

_TENSOR_CHAIN = {"to", "cuda", "cpu", "float", "double", "half", "bfloat16", "long", "int", "bool",
                 "view", "reshape", "unsqueeze", "squeeze", "expand", "repeat", "t", "transpose",
                 "permute", "contiguous", "clone", "detach", "fill_", "zero_", "normal_", "uniform_",
                 "triu", "tril", "requires_grad_"}


class TensorAttributeNotRegistered(Rule):
    code = "SDL102"
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
        by_class: Dict[int, List[Node]] = {}
        for cls, meth in enclosing_class_methods(ctx):
            by_class.setdefault(id(cls), []).append(meth)
        for cls, meth in enclosing_class_methods(ctx):
            if meth.name != "__init__":  # type: ignore[attr-defined]
                continue
            s = self_name(meth)
            if not s:
                continue
            counts: Dict[str, int] = {}
            registered = set()
            for other in by_class[id(cls)]:
                for n in ast.walk(other):
                    if isinstance(n, (ast.Assign, ast.AnnAssign, ast.AugAssign)):
                        for t in (n.targets if isinstance(n, ast.Assign) else [n.target]):
                            for sub in ast.walk(t):
                                if (isinstance(sub, ast.Attribute) and isinstance(sub.value, ast.Name)
                                        and sub.value.id == s):
                                    counts[sub.attr] = counts.get(sub.attr, 0) + 1
                    elif (isinstance(n, ast.Call) and isinstance(n.func, ast.Attribute)
                          and n.func.attr in ("register_buffer", "register_parameter", "__setattr__")
                          and n.args and isinstance(n.args[0], ast.Constant)):
                        registered.add(n.args[0].value)
                    elif isinstance(n, ast.Call) and isinstance(n.func, ast.Name) and n.func.id in (
                            "setattr", "delattr") and len(n.args) >= 2 and isinstance(n.args[1], ast.Constant):
                        registered.add(n.args[1].value)
            for n in walk_scope(meth):
                if not (isinstance(n, ast.Assign) and len(n.targets) == 1):
                    continue
                t = n.targets[0]
                if not (isinstance(t, ast.Attribute) and isinstance(t.value, ast.Name) and t.value.id == s):
                    continue
                if counts.get(t.attr, 0) != 1 or t.attr in registered:
                    continue
                v = n.value
                while (isinstance(v, ast.Call) and isinstance(v.func, ast.Attribute)
                       and v.func.attr in _TENSOR_CHAIN and isinstance(v.func.value, ast.Call)):
                    v = v.func.value
                if ctx.is_tensor_factory(v):
                    yield n, self.message.format(attr=t.attr)
