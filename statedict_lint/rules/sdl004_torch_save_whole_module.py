"""SDL004 torch-save-whole-module."""

from __future__ import annotations

import ast
from typing import Iterable, Optional, Tuple

from statedict_lint.rules._base import Context, Node, Rule, name_bindings, self_name


class TorchSaveWholeModule(Rule):
    code = "SDL004"
    hint = r"""save\b"""
    name = "torch-save-whole-module"
    message = ("torch.save() of a whole nn.Module pickles its class by import path; save "
               "module.state_dict() instead")
    what = ("Flags `torch.save(model, f)` where `model` is known to be an `nn.Module`: bound in the same "
            "scope to an `nn.*` layer or an `nn.Module` subclass of this file, or `self` inside one.")
    why = ("Saving the module object pickles a reference to its class and module path. Renaming the file, "
           "moving the class or changing its `__init__` makes the checkpoint unloadable, loading it "
           "executes code (it needs `weights_only=False`), and the file is tied to the code version that "
           "wrote it. A state_dict is plain tensors keyed by name.")
    example = """\
model = Net()
torch.save(model, "model.pt")
"""
    use_instead = """\
model = Net()
torch.save(model.state_dict(), "model.pt")
"""
    valid = [
        "import torch\nfrom torch import nn\nmodel = nn.Linear(2, 2)\ntorch.save(model.state_dict(), 'm.pt')\n",
        "import torch\nmodel = build()\ntorch.save(model, 'm.pt')  # unknown type: silent\n",
        "import torch\ndef f(model):\n    torch.save(model, 'm.pt')\n",
        "import torch\nfrom torch import nn\nmodel = nn.Linear(2, 2)\nif c:\n    model = wrap(model)\n"
        "torch.save(model, 'm.pt')\n",
    ]
    invalid = [
        "import torch\nimport torch.nn as nn\n\nclass Net(nn.Module):\n    pass\n\nmodel = Net()\n"
        "torch.save(model, 'model.pt')\n",
        "import torch\nfrom torch import nn\n\ndef main():\n    net = nn.Sequential(nn.Linear(2, 2)).to('cpu')\n"
        "    torch.save(net, 'net.pt')\n",
        "import torch\nfrom torch import nn\n\nclass Net(nn.Module):\n    def export(self, path):\n"
        "        torch.save(self, path)\n",
        "import torch\nfrom torch import nn\ntorch.save(nn.Linear(2, 2), 'lin.pt')\n",
    ]

    def check(self, ctx: Context) -> Iterable[Tuple[Node, str]]:
        binds_cache: dict = {}
        for call in ctx.calls:
            if not (call.args and ctx.is_torch(call.func, "torch.save")):
                continue
            obj = call.args[0]
            if ctx.is_module_ctor(obj):
                yield call, self.message
                continue
            if not isinstance(obj, ast.Name):
                continue
            scope = ctx.scope_of(call)
            if id(scope) not in binds_cache:
                binds_cache[id(scope)] = name_bindings(scope)
            b = binds_cache[id(scope)]
            values = b.get(obj.id)
            if ctx.class_of_method(scope) is not None and self_name(scope) == obj.id:
                if values is not None and len(values) == 1:  # only the parameter itself
                    yield call, self.message.replace("whole nn.Module", "whole nn.Module (self)")
                continue
            if values and all(ctx.is_module_ctor(v) for v in values) and _bound_before(values, call):
                yield call, self.message


def _bound_before(values: list, call: ast.Call) -> bool:
    return all(getattr(v, "lineno", 10 ** 9) <= call.lineno for v in values)
