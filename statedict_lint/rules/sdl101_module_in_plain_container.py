"""SDL101 module-in-plain-container."""

from __future__ import annotations

import ast
from typing import Dict, Iterable, List, Tuple, Union

from statedict_lint.rules._base import Context, Node, Rule, self_name, walk_scope


class ModuleInPlainContainer(Rule):
    code = "SDL101"
    hint = r"""self\.\w+\s*=\s*[\[\({]"""
    message = ("self.{attr} holds {what} in a plain {kind}: they are not registered, so they are missing from "
               "state_dict(), parameters() and .to(); use nn.{fix}")
    what = ("Flags an `nn.Module` whose `__init__` stores submodules or `nn.Parameter`s in a plain `list`, "
            "`tuple` or `dict` on `self` (a literal, a comprehension, or an empty list/dict filled with "
            "`.append(...)` / `[key] = ...`), when the attribute is never turned into a registered "
            "container and its elements are not registered one by one (`self.add_module(name, layer)` or "
            "`setattr(self, name, layer)` in a loop over it).")
    why = ("`nn.Module.__setattr__` registers only modules, parameters and buffers assigned directly. "
           "Layers inside a Python list are invisible: they are not saved in the state_dict (the checkpoint "
           "silently lacks their weights), not returned by `parameters()` (the optimizer never trains "
           "them) and not moved by `.to(device)`.")
    example = """\
class MLP(nn.Module):
    def __init__(self, sizes):
        super().__init__()
        self.layers = [nn.Linear(a, b) for a, b in zip(sizes, sizes[1:])]
"""
    use_instead = """\
class MLP(nn.Module):
    def __init__(self, sizes):
        super().__init__()
        self.layers = nn.ModuleList(nn.Linear(a, b) for a, b in zip(sizes, sizes[1:]))
"""
    valid = [
        "import torch.nn as nn\nclass M(nn.Module):\n    def __init__(self):\n        super().__init__()\n"
        "        self.layers = nn.ModuleList([nn.Linear(2, 2) for _ in range(3)])\n",
        "import torch.nn as nn\nclass M(nn.Module):\n    def __init__(self):\n        super().__init__()\n"
        "        layers = []\n        for _ in range(3):\n            layers.append(nn.Linear(2, 2))\n"
        "        self.layers = nn.Sequential(*layers)\n",
        "import torch.nn as nn\nclass M(nn.Module):\n    def __init__(self):\n        super().__init__()\n"
        "        self.layers = []\n        self.layers.append(nn.Linear(2, 2))\n"
        "        self.layers = nn.ModuleList(self.layers)\n",
        "import torch.nn as nn\nclass M(nn.Module):\n    def __init__(self):\n        super().__init__()\n"
        "        self.sizes = [64, 128]\n        self.acts = [make_act() for _ in range(2)]  # unknown type\n",
        "import torch.nn as nn\nclass Helper:\n    def __init__(self):\n        self.layers = [nn.Linear(2, 2)]\n",
        "import torch.nn as nn\nclass M(nn.Module):\n    def __init__(self):\n        super().__init__()\n"
        "        self.layers = [nn.Conv2d(3, 8, 3), nn.ReLU()]\n        for i, layer in enumerate(self.layers):\n"
        "            self.add_module(str(i), layer)  # registered one by one\n",
    ]
    invalid = [
        "import torch.nn as nn\nclass M(nn.Module):\n    def __init__(self):\n        super().__init__()\n"
        "        self.layers = [nn.Linear(2, 2) for _ in range(3)]\n",
        "import torch\nfrom torch import nn\nclass M(nn.Module):\n    def __init__(self):\n"
        "        super().__init__()\n        self.heads = {'a': nn.Linear(2, 2), 'b': nn.Linear(2, 3)}\n",
        "import torch\nimport torch.nn as nn\nclass M(nn.Module):\n    def __init__(self, n):\n"
        "        super().__init__()\n        self.scales = []\n        for _ in range(n):\n"
        "            self.scales.append(nn.Parameter(torch.ones(1)))\n",
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
            kind, elts = _container(n.value)
            if kind is None:
                continue
            meth = ctx.scope_of(n)
            if getattr(meth, "name", None) != "__init__" or self_name(meth) != t.value.id:
                continue
            cls = ctx.class_of_method(meth)
            if cls is None:
                continue
            if elts:
                what = _all_stateful(ctx, elts)
            else:  # an empty container filled later in __init__
                what = ""
                for m in walk_scope(meth):
                    attr, value = _filled(m, t.value.id)
                    if attr == t.attr and value is not None:
                        what = _all_stateful(ctx, [value])
                        break
            if not what:
                continue
            if id(cls) not in counts_cache:
                counts_cache[id(cls)] = self_assignment_counts(cls)
            if counts_cache[id(cls)].get(t.attr, 0) == 1:
                yield n, self._msg(t.attr, what, kind)

    def _msg(self, attr: str, what: str, kind: str) -> str:
        fix = {"list": "ModuleList", "tuple": "ModuleList", "dict": "ModuleDict"}[kind]
        if what == "parameters":
            fix = "ParameterList" if fix == "ModuleList" else "ParameterDict"
        return self.message.format(attr=attr, what=what, kind=kind, fix=fix)


def _container(v: Node):
    if isinstance(v, (ast.List, ast.ListComp)):
        return "list", (v.elts if isinstance(v, ast.List) else [v.elt])
    if isinstance(v, ast.Tuple):
        return "tuple", v.elts
    if isinstance(v, ast.Dict):
        if any(k is None for k in v.keys):
            return None, []
        return "dict", v.values
    if isinstance(v, ast.DictComp):
        return "dict", [v.value]
    return None, []


def _all_stateful(ctx: Context, elts: List[Node]) -> str:
    if any(isinstance(e, ast.Starred) for e in elts):
        return ""
    if all(ctx.is_module_ctor(e) for e in elts):
        return "submodules"
    if all(ctx.is_parameter_ctor(e) for e in elts):
        return "parameters"
    return ""


def _filled(n: Node, s: str):
    """(attr, value) for `self.attr.append(value)` or `self.attr[key] = value`."""
    if (isinstance(n, ast.Call) and isinstance(n.func, ast.Attribute) and n.func.attr == "append"
            and len(n.args) == 1 and isinstance(n.func.value, ast.Attribute)
            and isinstance(n.func.value.value, ast.Name) and n.func.value.value.id == s):
        return n.func.value.attr, n.args[0]
    if isinstance(n, ast.Assign) and len(n.targets) == 1 and isinstance(n.targets[0], ast.Subscript):
        t = n.targets[0].value
        if isinstance(t, ast.Attribute) and isinstance(t.value, ast.Name) and t.value.id == s:
            return t.attr, n.value
    return None, None


def self_assignment_counts(cls: ast.ClassDef) -> Dict[str, int]:
    """attr -> how many statements in the class's methods assign ``<self>.attr``."""
    counts: Dict[str, int] = {}
    for meth in cls.body:
        if not isinstance(meth, (ast.FunctionDef, ast.AsyncFunctionDef)):
            continue
        s = self_name(meth)
        for n in ast.walk(meth):
            if isinstance(n, (ast.Assign, ast.AnnAssign, ast.AugAssign)):
                for t in (n.targets if isinstance(n, ast.Assign) else [n.target]):
                    for sub in ast.walk(t):
                        if isinstance(sub, ast.Attribute) and isinstance(sub.value, ast.Name) and sub.value.id == s:
                            counts[sub.attr] = counts.get(sub.attr, 0) + 1
            elif (isinstance(n, ast.Call) and isinstance(n.func, ast.Attribute)
                  and n.func.attr in ("register_buffer", "register_parameter", "register_module", "add_module",
                                      "__setattr__")
                  and n.args and isinstance(n.args[0], ast.Constant) and isinstance(n.args[0].value, str)):
                counts[n.args[0].value] = counts.get(n.args[0].value, 0) + 2
            elif (isinstance(n, ast.Call) and isinstance(n.func, ast.Name) and n.func.id in ("setattr", "delattr")
                  and len(n.args) >= 2 and isinstance(n.args[1], ast.Constant)
                  and isinstance(n.args[1].value, str)):
                counts[n.args[1].value] = counts.get(n.args[1].value, 0) + 2
            elif isinstance(n, (ast.For, ast.AsyncFor)) and s is not None and _registers(n, s):
                # `for i, layer in enumerate(self.layers): self.add_module(str(i), layer)`: each element
                # is registered under its own name, so the plain list is only a second handle on them
                for sub in ast.walk(n.iter):
                    if isinstance(sub, ast.Attribute) and isinstance(sub.value, ast.Name) and sub.value.id == s:
                        counts[sub.attr] = counts.get(sub.attr, 0) + 2
    return counts


_REGISTER_METHODS = ("add_module", "register_module", "register_parameter", "__setattr__")


def _registers(loop: Union[ast.For, ast.AsyncFor], s: str) -> bool:
    """The loop body registers something on ``s`` under a computed name (add_module, setattr, ...)."""
    for stmt in loop.body:
        for n in ast.walk(stmt):
            if not isinstance(n, ast.Call):
                continue
            f = n.func
            if (isinstance(f, ast.Attribute) and f.attr in _REGISTER_METHODS and isinstance(f.value, ast.Name)
                    and f.value.id == s):
                return True
            if (isinstance(f, ast.Name) and f.id == "setattr" and n.args and isinstance(n.args[0], ast.Name)
                    and n.args[0].id == s):
                return True
    return False
