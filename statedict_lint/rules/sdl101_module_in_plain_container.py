"""SDL101 module-in-plain-container."""

from __future__ import annotations

import ast
from typing import Dict, Iterable, List, Tuple

from statedict_lint.rules._base import Context, Node, Rule, enclosing_class_methods, self_name, walk_scope


class ModuleInPlainContainer(Rule):
    code = "SDL101"
    name = "module-in-plain-container"
    message = ("self.{attr} holds {what} in a plain {kind}: they are not registered, so they are missing from "
               "state_dict(), parameters() and .to(); use nn.{fix}")
    what = ("Flags an `nn.Module` whose `__init__` stores submodules or `nn.Parameter`s in a plain `list`, "
            "`tuple` or `dict` on `self` (a literal, a comprehension, or an empty list/dict filled with "
            "`.append(...)` / `[key] = ...`), when the attribute is never turned into a registered "
            "container.")
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
        by_class: Dict[int, List[Node]] = {}
        for cls, meth in enclosing_class_methods(ctx):
            by_class.setdefault(id(cls), []).append(meth)
        for cls, meth in enclosing_class_methods(ctx):
            if meth.name != "__init__":  # type: ignore[attr-defined]
                continue
            s = self_name(meth)
            if not s:
                continue
            # every assignment to self.<attr> anywhere in the class
            assigned: Dict[str, int] = {}
            for other in by_class[id(cls)]:
                for n in ast.walk(other):
                    if isinstance(n, (ast.Assign, ast.AnnAssign, ast.AugAssign)):
                        tgts = n.targets if isinstance(n, ast.Assign) else [n.target]
                        for t in tgts:
                            for sub in ast.walk(t):
                                if (isinstance(sub, ast.Attribute) and isinstance(sub.value, ast.Name)
                                        and sub.value.id == s and isinstance(sub.ctx, ast.Store)):
                                    assigned[sub.attr] = assigned.get(sub.attr, 0) + 1
            empties: Dict[str, Tuple[ast.stmt, str]] = {}
            for n in walk_scope(meth):
                if not (isinstance(n, ast.Assign) and len(n.targets) == 1):
                    continue
                t = n.targets[0]
                if not (isinstance(t, ast.Attribute) and isinstance(t.value, ast.Name) and t.value.id == s):
                    continue
                if assigned.get(t.attr, 0) != 1:
                    continue
                kind, elts = _container(n.value)
                if kind is None:
                    continue
                if not elts:
                    empties[t.attr] = (n, kind)
                    continue
                what = _all_stateful(ctx, elts)
                if what:
                    yield n, self._msg(t.attr, what, kind)
            if not empties:
                continue
            for n in walk_scope(meth):
                attr, value = _filled(n, s)
                if attr in empties and value is not None:
                    what = _all_stateful(ctx, [value])
                    if what:
                        stmt, kind = empties.pop(attr)
                        yield stmt, self._msg(attr, what, kind)

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
