"""SDL008 save-wrapped-module-state-dict."""

from __future__ import annotations

import ast
from typing import AbstractSet, Dict, Iterable, List, Optional, Sequence, Set, Tuple

from statedict_lint.rules._base import Context, Node, Rule, name_bindings, nearest_before, position, walk_scope
from statedict_lint.rules._scopeinfo import state_dict_receiver
from statedict_lint.torchfacts import MODULE_SELF_RETURNING

# wrapper constructor -> (short name, key prefix it adds, how to reach the wrapped module)
Wrapper = Tuple[str, str, str]  # (wrapper class, the prefix it adds to keys, the attribute holding the model)
WRAPPERS: Dict[str, Wrapper] = {
    "torch.nn.parallel.DistributedDataParallel": ("DistributedDataParallel", "module.", "module"),
    "torch.nn.parallel.distributed.DistributedDataParallel": ("DistributedDataParallel", "module.", "module"),
    "torch.nn.DataParallel": ("DataParallel", "module.", "module"),
    "torch.nn.parallel.DataParallel": ("DataParallel", "module.", "module"),
    "torch.nn.parallel.data_parallel.DataParallel": ("DataParallel", "module.", "module"),
    "torch.compile": ("torch.compile", "_orig_mod.", "_orig_mod"),
}
_UNWRAPPED_BY_MODULE = {"DistributedDataParallel", "DataParallel"}


class SaveWrappedModuleStateDict(Rule):
    code = "SDL008"
    hint = r"""save\w*\s*\("""
    message = ("{m}.state_dict() saved while {m} may be wrapped by {wrapper} (line {line}): every key then "
               "starts with {prefix!r} and the checkpoint does not load into the unwrapped model; save "
               "{m}.{attr}.state_dict() (keep a handle on the unwrapped model)")
    what = ("Flags a checkpoint save — `torch.save(...)`, a function of the same file that passes its "
            "argument to `torch.save`, or a checkpoint writer known by name (`save_on_master`, "
            "`save_checkpoint`, `save_state_dict`, `<obj>.save(...)` as in Accelerate, Fabric, torch_xla) — "
            "of `model.state_dict()` (alone, in a dict literal, "
            "or in a dict bound to a name first) when, earlier in the same function, `model` was rebound "
            "to `DistributedDataParallel(model)`, `nn.DataParallel(model)` or `torch.compile(model)`. "
            "`raw = model.module if ddp else model` is understood as unwrapping the data-parallel wrapper "
            "(not `torch.compile`'s). Silent when the name has no such binding.")
    why = ("The wrappers register the real model as a submodule: `module` for (Distributed)DataParallel, "
           "`_orig_mod` for `torch.compile`. Their `state_dict()` prefixes every key with it, so a "
           "checkpoint written from the wrapper fails to load into the plain model (\"Missing key(s): "
           "conv1.weight ... Unexpected key(s): module.conv1.weight\") — in evaluation, on one GPU, or "
           "when resuming without `--compile` — and every loader has to strip the prefix.")
    example = """\
model = torch.nn.parallel.DistributedDataParallel(model, device_ids=[rank])
...
torch.save({"model": model.state_dict(), "epoch": epoch}, "ckpt.pt")
"""
    use_instead = """\
model = torch.nn.parallel.DistributedDataParallel(model, device_ids=[rank])
...
torch.save({"model": model.module.state_dict(), "epoch": epoch}, "ckpt.pt")
"""
    valid = [
        "import torch\nfrom torch.nn.parallel import DistributedDataParallel as DDP\n"
        "def train(model, rank):\n    model = DDP(model, device_ids=[rank])\n"
        "    torch.save(model.module.state_dict(), 'ckpt.pt')\n",
        "import torch\nfrom torch.nn.parallel import DistributedDataParallel as DDP\n"
        "def train(net, rank):\n    model = DDP(net, device_ids=[rank])\n    torch.save(net.state_dict(), 'ckpt.pt')\n",
        "import torch\nfrom torch.nn.parallel import DistributedDataParallel as DDP\n"
        "def train(model, rank, ddp):\n    if ddp:\n        model = DDP(model, device_ids=[rank])\n"
        "    raw = model.module if ddp else model\n    torch.save({'model': raw.state_dict()}, 'ckpt.pt')\n",
        "import torch\nmodel = wrap(model)\ntorch.save(model.state_dict(), 'ckpt.pt')  # unknown wrapper\n",
        "import torch\nmodel = torch.nn.DataParallel(model)\nsd = model.state_dict()\n"
        "print(len(sd))  # not saved\n",
        "import torch\ntorch.save(model.state_dict(), 'ckpt.pt')\nmodel = torch.compile(model)  # after the save\n",
        "import torch\nmodel = torch.compile(model)\nlogger.log({'model': model.state_dict()})  # not a save\n",
        "import torch\nmodel = torch.nn.DataParallel(model)\nmodel = model.module\n"
        "torch.save(model.state_dict(), 'ckpt.pt')\n",
        "import torch\nif multi_gpu:\n    model = torch.nn.DataParallel(model)\n    run(model)\nelse:\n"
        "    torch.save(model.state_dict(), 'ckpt.pt')  # only when never wrapped\n",
    ]
    invalid = [
        "import torch\nimport utils\nstudent = torch.nn.parallel.DistributedDataParallel(student, device_ids=[gpu])\n"
        "save_dict = {'student': student.state_dict(), 'epoch': epoch + 1}\n"
        "utils.save_on_master(save_dict, 'checkpoint.pth')\n",
        "import torch\nfrom torch.nn.parallel import DistributedDataParallel as DDP\n"
        "def train(model, rank):\n    model = DDP(model, device_ids=[rank])\n"
        "    torch.save({'state_dict': model.state_dict(), 'epoch': 1}, 'ckpt.pt')\n",
        "import torch\nif compile:\n    model = torch.compile(model)\nraw = model.module if ddp else model\n"
        "ckpt = {'model': raw.state_dict(), 'iter_num': it}\ntorch.save(ckpt, 'ckpt.pt')\n",
        "import torch\nimport shutil\n\ndef save_checkpoint(state, is_best, filename='checkpoint.pth.tar'):\n"
        "    torch.save(state, filename)\n\ndef main(model):\n    model = torch.nn.DataParallel(model).cuda()\n"
        "    save_checkpoint({'state_dict': model.state_dict()}, True)\n",
    ]

    def check(self, ctx: Context) -> Iterable[Tuple[Node, str]]:
        savers = _save_helpers(ctx)
        binds_cache: Dict[int, Dict[str, List[Node]]] = {}
        reported: Set[int] = set()
        for call in ctx.calls:
            saved = _saved_args(ctx, call, savers)
            if not saved:
                continue
            scope = ctx.scope_of(call)
            if id(scope) not in binds_cache:
                binds_cache[id(scope)] = name_bindings(scope)
            binds = binds_cache[id(scope)]
            for sd_call in (c for a in saved for c in _state_dict_calls(a, binds, call.lineno)):
                if id(sd_call) in reported:  # one dict written twice (latest + per-epoch copy)
                    continue
                recv = state_dict_receiver(sd_call)
                if not isinstance(recv, ast.Name):
                    continue
                found = _wrapped(ctx, recv.id, binds, call.lineno, set())
                if found is None or _exclusive(scope, found[2], call):
                    continue
                reported.add(id(sd_call))
                (wrapper, prefix, attr), line, _ = found
                yield sd_call, self.message.format(m=recv.id, wrapper=wrapper, line=line, prefix=prefix,
                                                   attr=attr)


def _save_helpers(ctx: Context) -> Dict[str, int]:
    """Module-level functions of this file that torch.save one of their parameters: name -> position."""
    out: Dict[str, int] = {}
    for fn in ctx.tree.body:
        if not isinstance(fn, (ast.FunctionDef, ast.AsyncFunctionDef)) or "save" not in fn.name:
            continue
        params = [a.arg for a in fn.args.posonlyargs + fn.args.args]
        for n in walk_scope(fn):
            if (isinstance(n, ast.Call) and n.args and isinstance(n.args[0], ast.Name)
                    and n.args[0].id in params and ctx.is_torch(n.func, "torch.save")):
                out[fn.name] = params.index(n.args[0].id)
                break
    return out


# checkpoint writers by name, wherever they come from: `utils.save_on_master` (torchvision references,
# DeiT, MAE, DINO), `save_checkpoint(...)`, `accelerator.save` / `fabric.save` / `xm.save`
SAVE_NAMES = {"save_on_master", "save_checkpoint", "save_state_dict"}
SAVE_METHODS = {"save"}


def _saved_args(ctx: Context, call: ast.Call, savers: Dict[str, int]) -> List[ast.expr]:
    if ctx.is_torch(call.func, "torch.save"):
        return call.args[:1]
    f = call.func
    if isinstance(f, ast.Name) and f.id in savers and f.id not in ctx.imports:
        i = savers[f.id]
        return [call.args[i]] if len(call.args) > i and not isinstance(call.args[i], ast.Starred) else []
    last = f.id if isinstance(f, ast.Name) else f.attr if isinstance(f, ast.Attribute) else None
    if last in SAVE_NAMES or (last in SAVE_METHODS and isinstance(f, ast.Attribute)):
        return [a for a in list(call.args) + [k.value for k in call.keywords] if not isinstance(a, ast.Starred)]
    return []


def _state_dict_calls(saved: Node, binds: Dict[str, List[Node]], line: int) -> List[ast.Call]:
    """``X.state_dict()`` calls whose result is the saved object or a value of the saved dict."""
    if isinstance(saved, ast.Name):
        nearest = nearest_before(binds.get(saved.id, ()), line)  # the nearest binding before the save
        if not isinstance(nearest, ast.Dict):
            return []
        saved = nearest
    if isinstance(saved, ast.Dict):
        return [v for v in saved.values if isinstance(v, ast.Call) and state_dict_receiver(v) is not None]
    if isinstance(saved, ast.Call) and state_dict_receiver(saved) is not None:
        return [saved]
    return []


def _wrapped(ctx: Context, name: str, binds: Dict[str, List[Node]], line: int, seen: Set[str],
             drop: AbstractSet[str] = frozenset()) -> Optional[Tuple[Wrapper, int, Node]]:
    """((wrapper, prefix, attr), line) of a wrapper ``name`` may be bound to before ``line``, else None.

    Only when no other kind of binding follows the wrapper's (``model = model.module`` unwraps it; a
    parameter or loop variable is unknown): then every path from the wrapper to ``line`` keeps it.
    """
    if name in seen:
        return None
    seen = seen | {name}
    before = sorted((v for v in binds.get(name, ()) if getattr(v, "lineno", line) < line),
                    key=position)
    found: Optional[Tuple[Wrapper, int, Node]] = None
    for v in before:
        w = _wrapper_call(ctx, v) if isinstance(v, ast.expr) else None
        if w is not None:
            if w[0] not in drop:
                found = (w, position(v)[0], v)
            continue
        if found is not None and _keeps(v, name):
            continue
        inner = _unwrap_idiom(v) if isinstance(v, ast.expr) else None
        found = None
        if inner is not None:
            found = _wrapped(ctx, inner, binds, position(v)[0], seen, set(drop) | _UNWRAPPED_BY_MODULE)
    return found


def _exclusive(scope: Node, binding: Node, call: Node) -> bool:
    """The wrapper binding and the save sit in different branches of one ``if`` (never both run)."""
    def inside(stmts: Sequence[Node], node: Node) -> bool:
        return any(n is node for st in stmts for n in ast.walk(st))

    for n in walk_scope(scope):
        if isinstance(n, ast.If) and n.orelse:
            if (inside(n.body, binding) and inside(n.orelse, call)) or (
                    inside(n.orelse, binding) and inside(n.body, call)):
                return True
    return False


def _keeps(v: Node, name: str) -> bool:
    """``name.cuda()`` / ``name.to(dev)``: the same object."""
    return (isinstance(v, ast.Call) and isinstance(v.func, ast.Attribute) and v.func.attr in MODULE_SELF_RETURNING
            and isinstance(v.func.value, ast.Name) and v.func.value.id == name)


def _wrapper_call(ctx: Context, v: Node) -> Optional[Wrapper]:
    while (isinstance(v, ast.Call) and isinstance(v.func, ast.Attribute) and v.func.attr in MODULE_SELF_RETURNING
           and isinstance(v.func.value, ast.Call)):
        v = v.func.value  # DataParallel(model).cuda()
    if isinstance(v, ast.Call):
        q = ctx.qualname(v.func)
        if q in WRAPPERS:
            return WRAPPERS[q]
    return None


def _unwrap_idiom(v: Node) -> Optional[str]:
    """``N`` for ``N.module if c else N`` / ``N if c else N.module`` / ``getattr(N, "module", N)``."""
    if isinstance(v, ast.IfExp):
        a, b = v.body, v.orelse
        for x, y in ((a, b), (b, a)):
            if (isinstance(x, ast.Attribute) and x.attr == "module" and isinstance(x.value, ast.Name)
                    and isinstance(y, ast.Name) and y.id == x.value.id):
                return y.id
    if (isinstance(v, ast.Call) and isinstance(v.func, ast.Name) and v.func.id == "getattr" and len(v.args) == 3
            and isinstance(v.args[0], ast.Name) and isinstance(v.args[2], ast.Name)
            and v.args[0].id == v.args[2].id and isinstance(v.args[1], ast.Constant) and v.args[1].value == "module"):
        return v.args[0].id
    return None
