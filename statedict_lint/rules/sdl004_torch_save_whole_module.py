"""SDL004 torch-save-whole-module."""

from __future__ import annotations

import ast
import re
from typing import Dict, Iterable, List, Optional, Tuple

from statedict_lint.rules._base import Context, Node, Rule, name_bindings, position, self_name, walk_scope
from statedict_lint.rules._scopeinfo import const_str
from statedict_lint.torchfacts import MODULE_SELF_RETURNING


class TorchSaveWholeModule(Rule):
    code = "SDL004"
    hint = r"""save\b"""
    reads_other_files = True  # classes imported from other files of the project: never cached
    needs = ("save(",)  # a call of torch.save / save
    message = ("torch.save() of a whole nn.Module pickles its class by import path; save "
               "module.state_dict() instead")
    what = ("Flags `torch.save(model, f)` where `model` is known to be an `nn.Module`: bound in the same "
            "scope (or, for a global read in a function, everywhere in the file) to an `nn.*` layer, an "
            "`nn.Module` subclass of this file or of another file of the project "
            "(`from models.yolo import Model`, read from disk with `ast`, never imported; aliases, subclasses "
            "and re-exports followed a few hops), possibly wrapped by `DataParallel` / DDP / `torch.compile`; "
            "or `self` inside one. Also flags a checkpoint dict (a literal, or a name bound to one) with such a "
            "module as a value — after `copy.deepcopy(...)`, `de_parallel(...)` / `unwrap...(...)` and "
            "`.half()`/`.to()`-style calls, and where the name may also be rebound to a function of itself "
            "(`model = smart_DDP(model)`) — and a loaded dict re-saved after `ckpt[\"model\"].parameters()` "
            "(a method only modules have) was called on one of its entries.")
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
        "import torch\nfrom copy import deepcopy\nfrom torch import nn\ndef f(opt):\n    model = nn.Linear(2, 2)\n"
        "    torch.save({'model': deepcopy(model).half().state_dict(), 'opt': opt}, 'last.pt')\n",
        "import torch\ndef strip(f):\n    x = torch.load(f, map_location='cpu', weights_only=False)\n"
        "    x['model'] = x['model'].state_dict()\n    torch.save(x, f)\n",
        "import torch\nfrom models.missing import Net  # no such file in the project: unknown\n"
        "torch.save(Net(), 'net.pt')\n",
        "import torch\nfrom torch import nn\nmodel = nn.Linear(2, 2)\nif resume:\n    model = load_model(p)\n"
        "def checkpoint(epoch):\n    torch.save(model, f'model_{epoch}.pth')  # a global of unknown type\n",
    ]
    invalid = [
        "import torch\nimport torch.nn as nn\n\nclass Net(nn.Module):\n    pass\n\nmodel = Net()\n"
        "torch.save(model, 'model.pt')\n",
        "import torch\nfrom torch import nn\n\ndef main():\n    net = nn.Sequential(nn.Linear(2, 2)).to('cpu')\n"
        "    torch.save(net, 'net.pt')\n",
        "import torch\nfrom torch import nn\n\nclass Net(nn.Module):\n    def export(self, path):\n"
        "        torch.save(self, path)\n",
        "import torch\nfrom torch import nn\ntorch.save(nn.Linear(2, 2), 'lin.pt')\n",
        "import torch\nfrom torch import nn\nmodel = nn.Sequential(nn.Linear(2, 2)).to('cpu')\n"
        "def checkpoint(epoch):\n    torch.save(model, f'model_{epoch}.pth')\n",
        "import torch\nfrom copy import deepcopy\nfrom torch import nn\nfrom utils import de_parallel, smart_DDP\n"
        "def train(opt, epoch):\n    model = nn.Sequential(nn.Linear(2, 2))\n    model = smart_DDP(model)\n"
        "    ckpt = {'epoch': epoch, 'model': deepcopy(de_parallel(model)).half(), 'opt': vars(opt)}\n"
        "    torch.save(ckpt, 'last.pt')\n",
        "import torch\ndef strip_optimizer(f):\n    x = torch.load(f, map_location='cpu', weights_only=False)\n"
        "    x['optimizer'] = None\n    for p in x['model'].parameters():\n        p.requires_grad = False\n"
        "    torch.save(x, f)\n",
    ]

    def check(self, ctx: Context) -> Iterable[Tuple[Node, str]]:
        binds_cache: Dict[int, Dict[str, List[Node]]] = {}
        reported: set = set()  # one dict written to `last.pt` and `best.pt` is one finding

        def binds_of(scope: Node) -> Dict[str, List[Node]]:
            if id(scope) not in binds_cache:
                binds_cache[id(scope)] = name_bindings(scope)
            return binds_cache[id(scope)]

        for call in ctx.calls:
            if not (call.args and ctx.is_torch(call.func, "torch.save")):
                continue
            obj = call.args[0]
            scope = ctx.scope_of(call)
            if ctx.is_module_ctor(obj, cross_file=True):
                yield call, self.message
                continue
            d = obj if isinstance(obj, ast.Dict) else _dict_bound(binds_of(scope), obj.id, call) \
                if isinstance(obj, ast.Name) else None
            if d is not None:
                if id(d) in reported:
                    continue
                for k, v in zip(d.keys, d.values):
                    if k is not None and _is_module_value(ctx, v, binds_of(scope), call, scope):
                        reported.add(id(d))
                        key = const_str(k)
                        yield call, (f"torch.save() of a checkpoint dict whose {key!r} entry is a whole nn.Module "
                                     f"(line {v.lineno}): it is pickled by its class's import path; save "
                                     f"its state_dict() instead" if key else self.message)
                        break
                continue
            if not isinstance(obj, ast.Name):
                continue
            b = binds_of(scope)
            values = b.get(obj.id)
            if ctx.class_of_method(scope) is not None and self_name(scope) == obj.id:
                if values is not None and len(values) == 1:  # only the parameter itself
                    yield call, self.message.replace("whole nn.Module", "whole nn.Module (self)")
                continue
            if values and _module_name(ctx, obj.id, b, call, scope, strict=True):
                yield call, self.message
                continue
            if values is None and scope is not ctx.tree and _module_name(
                    ctx, obj.id, binds_of(ctx.tree), None, ctx.tree, strict=True):
                yield call, self.message  # a global of this file, bound to a module everywhere
                continue
            entry = _module_entry(ctx, scope, obj.id, call)
            if entry is not None:
                yield call, (f"torch.save() of a checkpoint dict whose {entry[0]!r} entry is a whole nn.Module "
                             f"(`.{entry[1]}()` is called on it, line {entry[2]}): it is pickled by its class's "
                             "import path; save its state_dict() instead")


_WRAPPERS = {"torch.nn.DataParallel", "torch.nn.parallel.DataParallel", "torch.nn.parallel.DistributedDataParallel",
             "torch.nn.SyncBatchNorm.convert_sync_batchnorm", "torch.compile", "torch.jit.script"}
_UNWRAP = re.compile(r"(?i)^(?:de_?parallel|unwrap\w*|\w*_unwrap\w*)$")
_MODULE_ONLY_METHODS = {"parameters", "named_parameters", "modules", "named_modules", "children",
                        "named_children", "buffers", "named_buffers"}


def _later_in_loop(scope: Node, v: Node, call: ast.Call) -> bool:
    """A binding after ``call`` that can still reach it: both inside one loop."""
    for n in walk_scope(scope):
        if isinstance(n, (ast.For, ast.AsyncFor, ast.While)):
            inside = {id(x) for st in n.body for x in ast.walk(st)}
            if id(call) in inside and id(v) in inside:
                return True
    return False


def _relevant(values: List[Node], call: Optional[ast.Call], scope: Node) -> List[Node]:
    if call is None:  # read from a function: any binding of the module may reach it
        return values
    return [v for v in values if getattr(v, "lineno", 10 ** 9) <= call.lineno or _later_in_loop(scope, v, call)]


def _module_name(ctx: Context, name: str, binds: dict, call: Optional[ast.Call], scope: Node,
                 strict: bool = False) -> bool:
    """Every binding of ``name`` that reaches ``call`` makes it a module: a module constructor (of torch, this
    file or, read from disk, another file of the project), a known wrapper, or — unless ``strict`` — a call
    that rebinds the name to a function of itself (``model = smart_DDP(model)``)."""
    all_values = binds.get(name, [])
    if len(all_values) > 50:
        return False  # bound in 50+ places: unknown (and a bound on the work for hostile files)
    values = _relevant(all_values, call, scope)
    if not values:
        return False
    ctor = False
    for v in values:
        if ctx.is_module_ctor(v, cross_file=True):
            ctor = True
            continue
        c = v
        while (isinstance(c, ast.Call) and isinstance(c.func, ast.Attribute) and c.func.attr in MODULE_SELF_RETURNING
               and isinstance(c.func.value, ast.Call)):
            c = c.func.value
        if (isinstance(c, ast.Call) and c.args and isinstance(c.args[0], ast.Name) and c.args[0].id == name
                and (ctx.qualname(c.func) in _WRAPPERS or (not strict and not isinstance(c.func, ast.Attribute)
                                                           and not (ctx.qualname(c.func) or "").startswith("torch")))):
            continue
        return False
    return ctor


def _is_module_value(ctx: Context, v: Node, binds: dict, call: ast.Call, scope: Node) -> bool:
    """``deepcopy(de_parallel(model)).half()`` / ``model`` / ``Net()`` where that is a whole module."""
    for _ in range(8):
        if isinstance(v, ast.Call) and isinstance(v.func, ast.Attribute) and v.func.attr in MODULE_SELF_RETURNING:
            v = v.func.value
        elif isinstance(v, ast.Call) and len(v.args) == 1 and not v.keywords and (
                ctx.qualname(v.func) == "copy.deepcopy" or (
                    isinstance(v.func, ast.Name) and _UNWRAP.match(v.func.id))):
            v = v.args[0]
        else:
            break
    if ctx.is_module_ctor(v, cross_file=True):
        return True
    return isinstance(v, ast.Name) and _module_name(ctx, v.id, binds, call, scope)


def _dict_bound(binds: Dict[str, List[Node]], name: str, call: ast.Call) -> Optional[ast.Dict]:
    """The dict literal ``name`` is bound to (its nearest binding before ``call``)."""
    values = [v for v in binds.get(name, []) if getattr(v, "lineno", 10 ** 9) <= call.lineno]
    if not values:
        return None
    v = max(values, key=position)
    if isinstance(v, ast.Dict) and not any(k is None for k in v.keys):
        return v
    return None


def _module_entry(ctx: Context, scope: Node, name: str, call: ast.Call):
    """(key, method, line) when ``name[key].parameters()`` (a method only modules have) is called before the
    save of ``name`` and ``name[key]`` is not replaced by its state_dict in between."""
    found = None
    for n in walk_scope(scope):
        if (isinstance(n, ast.Call) and isinstance(n.func, ast.Attribute) and n.func.attr in _MODULE_ONLY_METHODS
                and isinstance(n.func.value, ast.Subscript) and isinstance(n.func.value.value, ast.Name)
                and n.func.value.value.id == name and n.lineno < call.lineno):
            key = const_str(n.func.value.slice)
            if key is not None:
                found = (key, n.func.attr, n.lineno)
                break
    if found is None:
        return None
    for n in walk_scope(scope):
        if isinstance(n, ast.Assign) and found[2] < n.lineno < call.lineno:
            for t in n.targets:
                if (isinstance(t, ast.Subscript) and isinstance(t.value, ast.Name) and t.value.id == name
                        and const_str(t.slice) == found[0]):
                    return None  # replaced: unknown
    return found
