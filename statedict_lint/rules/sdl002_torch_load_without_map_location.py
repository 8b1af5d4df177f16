"""SDL002 torch-load-without-map-location."""

from __future__ import annotations

import ast
import re
from typing import Dict, Iterable, Set, Tuple

from statedict_lint.rules._base import (Context, Node, Rule, dotted, has_star_kwargs, kwarg, name_bindings,
                                        walk_scope)
from statedict_lint.rules._flow import reads_of, written_before

# receivers whose state holds no device tensors: LR schedulers (numbers) and GradScaler (a float scale)
_TENSORLESS_STATE = re.compile(r"(?:^|_)(?:lr_)?(?:scheduler|sched|scaler)$", re.IGNORECASE)


class TorchLoadWithoutMapLocation(Rule):
    code = "SDL002"
    hint = r"""load(?:\b|_state_dict|_url)"""
    message = "torch.load() without map_location: tensors are restored to the device they were saved from"
    what = ("Flags `torch.load(f)` calls that pass no `map_location` when the result is used as a "
            "checkpoint, a state_dict or a module — handed to `load_state_dict` or to a function named like a "
            "state_dict/checkpoint loader, indexed or `.get()` with a checkpoint-like constant key (`ckpt[\"model\"]`, "
            "`\"state_dict\"`, `\"optimizer\"`, `\"epoch\"`, ...), or "
            "called / `.eval()`-ed — inline or through a local variable (a load whose use is not visible, "
            "e.g. returned, counts too), and `torch.hub.load_state_dict_from_url(url)` / "
            "`torch.utils.model_zoo.load_url(url)` without one. Silent for loads used otherwise (features, "
            "metadata, datasets: iterated, merged, compared); when the result goes into the "
            "`load_state_dict` of an LR scheduler or a gradient scaler (`scheduler`, `lr_scheduler`, "
            "`scaler`, ...), inline or through a local variable read nowhere else: their state is plain "
            "numbers, there is no device to map; when the loaded object is handed to `torch.from_numpy` "
            "(the file holds NumPy arrays); when the same function wrote the file earlier with "
            "`torch.save(obj, same_path)` (a temporary file or buffer whose devices are the intended ones); "
            "and in test files (`tests/`, `test_*.py`, `conftest.py`), which read fixtures they wrote.")
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
        "import torch\ndef resume(self, p):\n    state = torch.load(p, weights_only=True)\n"
        "    self.scaler.load_state_dict(state)\n",
        "import torch\ndef roundtrip(x, tmp):\n    torch.save(x, tmp)\n    return torch.load(tmp, weights_only=True)\n",
        "import torch\nsd = torch.hub.load_state_dict_from_url(url, map_location='cpu')\n",
        "import torch\nfeats = torch.load('train_feats.pth', weights_only=True)\nknn = build_index(feats)\n",
        "import torch\nmeta = torch.load(root / 'meta.bin', weights_only=True)\nfor wnid, classes in meta.items():\n"
        "    print(wnid, classes)\n",
        "import torch\ndata = torch.load(f, weights_only=False)\nprecision = data['precision']\n"
        "x = data['scores'].cuda()\n",
    ]
    invalid = [
        "import torch\nsd = torch.load(p, weights_only=True)\n",
        "import torch as T\nsd = T.load(p, weights_only=True)\n",
        "from torch import load\nsd = load(p, weights_only=True)\n",
        "import torch\nmodel.load_state_dict(torch.load(p, weights_only=True))\n",
        "import torch\noptimizer.load_state_dict(torch.load(p, weights_only=True))  # Adam moments are tensors\n",
        "import torch\ndef resume(self, p):\n    state = torch.load(p, weights_only=True)\n"
        "    self.scaler.load_state_dict(state)\n    self.model.load_state_dict(state)  # read elsewhere too\n",
        "import torch\ndef roundtrip(x, tmp, other):\n    torch.save(x, tmp)\n"
        "    return torch.load(other, weights_only=True)  # another file\n",
        "import torch\nsd = torch.hub.load_state_dict_from_url(url, progress=True)\n",
        "import torch\nckpt = torch.load(args.resume, weights_only=True)\nstart_epoch = ckpt['epoch']\n",
        "import torch\nnet = torch.load('model.pt', weights_only=False)\nnet.eval()\n",
    ]

    def check(self, ctx: Context) -> Iterable[Tuple[Node, str]]:
        if ctx.session.project.is_test_path(ctx.path):
            return
        tensorless: Set[int] = set()  # id() of arguments of a scheduler's / scaler's load_state_dict
        tensorless_names: Dict[int, Set[str]] = {}  # scope -> names passed there
        for call in ctx.calls:
            f = call.func
            if isinstance(f, ast.Attribute) and f.attr == "load_state_dict" and call.args:
                d = dotted(f.value)
                if d is not None and _TENSORLESS_STATE.search(d.rsplit(".", 1)[-1]):
                    tensorless.add(id(call.args[0]))
                    if isinstance(call.args[0], ast.Name):
                        tensorless_names.setdefault(id(ctx.scope_of(call)), set()).add(call.args[0].id)
        for call in ctx.calls:
            q = ctx.qualname(call.func)
            if q == "torch.load":
                if kwarg(call, "map_location") is not None or len(call.args) >= 2 or has_star_kwargs(call):
                    continue
            elif q in HUB_LOADERS:
                if kwarg(call, "map_location") is not None or len(call.args) >= 3 or has_star_kwargs(call):
                    continue
            else:
                continue
            if id(call) in tensorless or _numpy_only(ctx, call):
                continue
            if _only_into_tensorless(ctx, call, tensorless, tensorless_names):
                continue
            if q == "torch.load" and written_before(ctx, call) is not None:
                continue  # the same function just wrote the file: its devices are the intended ones
            if q == "torch.load" and not _used_as_checkpoint(ctx, call):
                continue  # features, metadata, datasets: rarely device tensors, and nothing says so
            yield call, self.message if q == "torch.load" else self.message.replace("torch.load()", q + "()")


_CKPT_METHODS = {"get", "pop"}  # with a constant key: ckpt.get("model")
_MODULE_METHODS = {"eval", "train", "parameters", "named_parameters", "state_dict", "load_state_dict", "forward",
                   "modules", "children"}  # (not .to()/.cuda()/.half(): tensors have them too)
# constant keys that make a loaded dict a training checkpoint (not COCO eval results or a dataset index)
_CKPT_KEY = re.compile(r"model|state_dict|optim|ema|net|weight|student|teacher|epoch|step|checkpoint|encoder|"
                       r"decoder|backbone|generator|discriminator|scheduler|scaler|module", re.IGNORECASE)


def _callee_name(call: ast.Call) -> str:
    f = call.func
    return f.id if isinstance(f, ast.Name) else f.attr if isinstance(f, ast.Attribute) else ""


def _checkpoint_use(node: Node, parents: Dict[int, Node]) -> bool:
    """How ``node`` (the loaded object) is used says it is a checkpoint, a state_dict or a module:
    ``X.load_state_dict(node)``, ``node["model"]``, ``node.get("state_dict")``, ``node.eval()``, ``node(x)``,
    or handed to a function named like a state_dict / checkpoint loader."""
    p = parents.get(id(node))
    if isinstance(p, ast.keyword):
        p = parents.get(id(p))
    if isinstance(p, ast.Subscript) and p.value is node:
        return isinstance(p.slice, ast.Constant) and isinstance(p.slice.value, str) and bool(
            _CKPT_KEY.search(p.slice.value))
    if isinstance(p, ast.Attribute) and p.value is node:
        if p.attr in _MODULE_METHODS:
            return True
        call = parents.get(id(p))
        return (p.attr in _CKPT_METHODS and isinstance(call, ast.Call) and call.func is p and bool(call.args)
                and isinstance(call.args[0], ast.Constant) and isinstance(call.args[0].value, str)
                and bool(_CKPT_KEY.search(call.args[0].value)))
    if isinstance(p, ast.Call):
        if p.func is node:
            return True  # called: a module
        name = _callee_name(p).lower()
        return "state_dict" in name or "checkpoint" in name
    return False


def _parents(scope: Node) -> Dict[int, Node]:
    out: Dict[int, Node] = {}
    for n in ast.walk(scope):
        for c in ast.iter_child_nodes(n):
            out[id(c)] = n
    return out


def _used_as_checkpoint(ctx: Context, call: ast.Call) -> bool:
    scope = ctx.scope_of(call)
    cache = ctx.__dict__.setdefault("_sdl002_parents", {})
    if id(scope) not in cache:
        cache[id(scope)] = _parents(scope)
    parents = cache[id(scope)]
    if _checkpoint_use(call, parents):
        return True
    p = parents.get(id(call))
    if isinstance(p, ast.Assign) and p.value is call and len(p.targets) == 1 and isinstance(p.targets[0], ast.Name):
        name = p.targets[0].id
        reads = [r for r in reads_of(scope, name, after=call.lineno - 1)
                 if (r.lineno, r.col_offset) > (call.lineno, call.col_offset)]
        return not reads or any(_checkpoint_use(r, parents) for r in reads)  # no read seen: unknown
    return p is not None and not isinstance(p, (ast.Assign, ast.Expr))  # returned, in a container: unknown use


HUB_LOADERS = {"torch.hub.load_state_dict_from_url", "torch.utils.model_zoo.load_url"}


def _only_into_tensorless(ctx: Context, call: ast.Call, tensorless: Set[int],
                          names: Dict[int, Set[str]]) -> bool:
    """``state = torch.load(p)`` whose every read is ``scaler.load_state_dict(state)`` (or a scheduler's)."""
    scope = ctx.scope_of(call)
    cands = names.get(id(scope))
    if not cands:
        return False
    targets = [t.id for a in ctx.assigns if a.value is call for t in a.targets if isinstance(t, ast.Name)]
    if len(targets) != 1 or targets[0] not in cands:
        return False
    name = targets[0]
    binds = name_bindings(scope).get(name, [])
    if len(binds) != 1:
        return False
    reads = reads_of(scope, name)
    return bool(reads) and all(id(r) in tensorless for r in reads)


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
