"""SDL006 resume-without-optimizer-state."""

from __future__ import annotations

import ast
from typing import Iterable, Tuple

from statedict_lint.rules._base import Context, Node, Rule, dotted
from statedict_lint.rules._scopeinfo import PROGRESS_KEYS, ScopeInfo, const_str


class ResumeWithoutOptimizerState(Rule):
    code = "SDL006"
    hint = r"""load_state_dict"""
    message = ("resume restores the model from the checkpoint but not the optimizer ({opt} is in scope): "
               "training continues with a fresh optimizer state")
    needs = ("load_state_dict",)
    what = ("Flags a resume — a function that `torch.load`s a checkpoint, reads a progress entry such as "
            "`ckpt[\"epoch\"]` and calls `model.load_state_dict(ckpt[...])` — when an optimizer built in "
            "that function with `torch.optim.*` never gets `optimizer.load_state_dict(...)`.")
    why = ("The model continues where it stopped but the optimizer does not: momentum and adaptive "
           "learning-rate statistics restart from zero, which shows up as a loss spike after every "
           "resume and makes runs irreproducible.")
    example = """\
optimizer = torch.optim.Adam(model.parameters())
ckpt = torch.load(path, map_location="cpu", weights_only=True)
model.load_state_dict(ckpt["model"])
start_epoch = ckpt["epoch"] + 1
"""
    use_instead = """\
optimizer = torch.optim.Adam(model.parameters())
ckpt = torch.load(path, map_location="cpu", weights_only=True)
model.load_state_dict(ckpt["model"])
optimizer.load_state_dict(ckpt["optimizer"])
start_epoch = ckpt["epoch"] + 1
"""
    valid = [
        "import torch\ndef resume(model, path):\n    opt = torch.optim.Adam(model.parameters())\n"
        "    ck = torch.load(path, map_location='cpu', weights_only=True)\n"
        "    model.load_state_dict(ck['model'])\n    opt.load_state_dict(ck['optimizer'])\n"
        "    return ck['epoch']\n",
        "import torch\ndef evaluate(model, path):\n    opt = torch.optim.Adam(model.parameters())\n"
        "    ck = torch.load(path, map_location='cpu', weights_only=True)\n"
        "    model.load_state_dict(ck['model'])  # no progress read: fine-tuning from weights\n",
        "import torch\ndef resume(model, opt, path):\n"
        "    ck = torch.load(path, map_location='cpu', weights_only=True)\n"
        "    model.load_state_dict(ck['model'])\n    return ck['epoch']\n",
    ]
    invalid = [
        "import torch\ndef resume(model, path):\n    opt = torch.optim.Adam(model.parameters())\n"
        "    ck = torch.load(path, map_location='cpu', weights_only=True)\n"
        "    model.load_state_dict(ck['model'])\n    start = ck['epoch'] + 1\n    return opt, start\n",
    ]

    def check(self, ctx: Context) -> Iterable[Tuple[Node, str]]:
        by_scope: dict = {}
        for c in ctx.calls:
            if isinstance(c.func, ast.Attribute) and c.func.attr == "load_state_dict":
                by_scope.setdefault(id(ctx.scope_of(c)), (ctx.scope_of(c), []))[1].append(c)
        for scope, _seen in by_scope.values():
            info = ScopeInfo(ctx, scope)
            opts = info.optimizer_exprs()
            if not opts:
                continue
            # (X.load_state_dict(...) calls, with X)
            mine = [(n, n.func.value) for n in info.nodes if isinstance(n, ast.Call)
                    and isinstance(n.func, ast.Attribute) and n.func.attr == "load_state_dict"]
            if any(info.is_optimizer(recv) for _c, recv in mine):
                continue
            ckpts = {name for name, vals in info.binds.items()
                     if vals and all(isinstance(v, ast.Call) and ctx.is_torch(v.func, "torch.load") for v in vals)}
            if not ckpts:
                continue
            if not any(_reads_progress(n, ckpts) for n in info.nodes) or _handed_over(info, opts, ckpts):
                continue
            trained = info.trained_modules()
            for c, recv in mine:
                arg = c.args[0] if c.args else None
                if dotted(recv) not in trained:
                    continue
                if isinstance(arg, ast.Subscript) and dotted(arg.value) in ckpts:
                    yield c, self.message.format(opt=sorted(opts)[0])
                    break


def _handed_over(info: ScopeInfo, opts: set, ckpts: set) -> bool:
    """Some call receives both the optimizer and the checkpoint (a helper may restore it)."""
    for n in info.nodes:
        if not isinstance(n, ast.Call):
            continue
        names = {dotted(a) for a in list(n.args) + [k.value for k in n.keywords]}
        inner = set()
        for a in list(n.args) + [k.value for k in n.keywords]:
            for sub in ast.walk(a):
                if isinstance(sub, (ast.Name, ast.Attribute)):
                    inner.add(dotted(sub))
        if names & opts and inner & ckpts:
            return True
    return False


def _reads_progress(n: Node, ckpts: set) -> bool:
    if isinstance(n, ast.Subscript) and isinstance(n.value, ast.Name) and n.value.id in ckpts:
        return const_str(n.slice) in PROGRESS_KEYS
    if (isinstance(n, ast.Call) and isinstance(n.func, ast.Attribute) and n.func.attr == "get"
            and isinstance(n.func.value, ast.Name) and n.func.value.id in ckpts and n.args):
        return const_str(n.args[0]) in PROGRESS_KEYS
    return False
