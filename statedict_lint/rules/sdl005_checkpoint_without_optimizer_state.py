"""SDL005 checkpoint-without-optimizer-state."""

from __future__ import annotations

import ast
from typing import Iterable, Tuple

from statedict_lint.rules._base import Context, Node, Rule, dotted
from statedict_lint.rules._scopeinfo import PROGRESS_KEYS, ScopeInfo, const_str, state_dict_receiver


class CheckpointWithoutOptimizerState(Rule):
    code = "SDL005"
    hint = r"""save\b"""
    message = ("training checkpoint saves the model's state_dict but not the optimizer's ({opt} is in scope): "
               "resuming restarts the optimizer from scratch")
    what = ("Flags `torch.save({...})` of a training checkpoint (a dict literal holding a module's "
            "`state_dict()` and a progress entry such as `\"epoch\"` or `\"step\"`) in a function that "
            "built an optimizer with `torch.optim.*`, when the optimizer's `state_dict()` is saved nowhere "
            "in that function.")
    why = ("Adam's moment estimates, SGD's momentum buffers and the step counts live in the optimizer, not "
           "in the model. A resume from this checkpoint restarts them from zero: a loss spike, "
           "different convergence, and a run that cannot be reproduced.")
    example = """\
optimizer = torch.optim.AdamW(model.parameters(), lr=3e-4)
...
torch.save({"model": model.state_dict(), "epoch": epoch}, "ckpt.pt")
"""
    use_instead = """\
optimizer = torch.optim.AdamW(model.parameters(), lr=3e-4)
...
torch.save({"model": model.state_dict(), "optimizer": optimizer.state_dict(), "epoch": epoch}, "ckpt.pt")
"""
    valid = [
        "import torch\ndef train(model):\n    opt = torch.optim.SGD(model.parameters(), lr=0.1)\n"
        "    torch.save({'model': model.state_dict(), 'optimizer': opt.state_dict(), 'epoch': 1}, 'c.pt')\n",
        "import torch\ndef train(model):\n    opt = torch.optim.SGD(model.parameters(), lr=0.1)\n"
        "    torch.save(model.state_dict(), 'weights.pt')  # a weights export, not a resume checkpoint\n",
        "import torch\ndef train(model, opt):\n"
        "    torch.save({'model': model.state_dict(), 'epoch': 1}, 'c.pt')  # optimizer unknown here\n",
        "import torch\ndef train(model):\n    opt = torch.optim.SGD(model.parameters(), lr=0.1)\n"
        "    ckpt = {'model': model.state_dict(), 'epoch': 1}\n    ckpt['optim'] = opt.state_dict()\n"
        "    torch.save(ckpt, 'c.pt')\n",
    ]
    invalid = [
        "import torch\ndef train(model, loader):\n    opt = torch.optim.AdamW(model.parameters(), lr=3e-4)\n"
        "    for epoch in range(10):\n        pass\n"
        "    torch.save({'model': model.state_dict(), 'epoch': epoch}, 'ckpt.pt')\n",
        "from torch import optim, save\nclass Trainer:\n    def fit(self):\n"
        "        self.opt = optim.Adam(self.model.parameters())\n"
        "        save({'state_dict': self.model.state_dict(), 'step': self.step}, self.path)\n",
    ]

    def check(self, ctx: Context) -> Iterable[Tuple[Node, str]]:
        infos: dict = {}
        for call in ctx.calls:
            if not (call.args and isinstance(call.args[0], ast.Dict) and ctx.is_torch(call.func, "torch.save")):
                continue
            d = call.args[0]
            if any(k is None for k in d.keys):
                continue
            keys = {const_str(k) for k in d.keys}
            if not keys & PROGRESS_KEYS:
                continue
            if not any(state_dict_receiver(v) is not None for v in d.values):
                continue
            scope = ctx.scope_of(call)
            if id(scope) not in infos:
                infos[id(scope)] = ScopeInfo(ctx, scope)
            info = infos[id(scope)]
            opts = info.optimizer_exprs()
            if not opts:
                continue
            receivers = [state_dict_receiver(v) for v in d.values]
            trained = info.trained_modules()
            if not any(r is not None and dotted(r) in trained for r in receivers):
                continue  # only the model that optimizer trains
            if _mentions(d, opts) or _optimizer_state_saved(info, opts):
                continue
            if min(_opt_lines(info)) > call.lineno:
                continue
            yield call, self.message.format(opt=sorted(opts)[0])


def _mentions(tree: Node, names: set) -> bool:
    for n in ast.walk(tree):
        if isinstance(n, (ast.Name, ast.Attribute)) and dotted(n) in names:
            return True
    return False


def _optimizer_state_saved(info: ScopeInfo, opts: set) -> bool:
    for n in info.nodes:
        if isinstance(n, ast.Call) and isinstance(n.func, ast.Attribute) and n.func.attr == "state_dict":
            if dotted(n.func.value) in opts:
                return True
    return False


def _opt_lines(info: ScopeInfo):
    yield 10 ** 9
    for call in info.optimizers.values():
        yield call.lineno
    for n in info.nodes:
        if isinstance(n, ast.Assign):
            for t in n.targets:
                if dotted(t) in info.self_optimizers:
                    yield n.lineno
