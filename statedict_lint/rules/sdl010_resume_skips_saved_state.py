"""SDL010 resume-skips-saved-state."""

from __future__ import annotations

import ast
import re
from typing import Dict, Iterable, List, Optional, Set, Tuple

from statedict_lint.rules._base import Context, Node, Rule, dotted, name_bindings, nearest_before, walk_scope
from statedict_lint.rules._scopeinfo import const_str, state_dict_receiver

# what else a training checkpoint carries next to model and optimizer, by the receiver's (or key's) name
_ROLES = (("LR scheduler", re.compile(r"(?:^|_)(?:lr_)?sched(?:uler)?s?$", re.I)),
          ("gradient scaler", re.compile(r"(?:^|_)(?:grad_|loss_|amp_)?scaler$", re.I)),
          ("EMA", re.compile(r"(?:^|_)(?:model_)?ema(?:_model)?$", re.I)))
_OPT = re.compile(r"(?:^|_)optim(?:izer)?s?$|(?:^|_)opt$", re.I)


def _role(name: str) -> Optional[str]:
    for role, rx in _ROLES:
        if rx.search(name):
            return role
    return None


class ResumeSkipsSavedState(Rule):
    code = "SDL010"
    hint = r"""load_state_dict|save"""
    message = ("resume restores {restored} from the checkpoint but not the {role} state this file saves next to "
               "them (key {key!r}, line {line}): {receiver} restarts from scratch while the weights continue")
    needs = ("load_state_dict",)
    what = ("Flags a resume — a function that loads a checkpoint and restores both the model "
            "(`X.load_state_dict(ckpt[\"model\"])`) and the optimizer (`opt.load_state_dict(ckpt[\"optimizer\"])`) "
            "from the same dict — when a checkpoint dict saved in the same file holds those two keys and also "
            "the `state_dict()` of an LR scheduler, a gradient scaler or an EMA model (recognised by its "
            "name: `scheduler`, `lr_scheduler`, `scaler`, `loss_scaler`, `ema`, ...), the resume never reads "
            "that key, and the same object (same name) is in use in the resuming function. Silent when the "
            "function rebuilds the scheduler at the resumed position itself (a `last_epoch=` argument).")
    why = ("The weights and the optimizer continue where they stopped, but the learning-rate schedule "
           "restarts at warm-up, the AMP loss scale at its initial value, or the EMA weights from the current "
           "model: a loss spike or a silently different run after every resume, although the checkpoint "
           "holds the state that would have avoided it.")
    example = """\
def save(path, model, optimizer, scheduler, epoch):
    torch.save({"model": model.state_dict(), "optimizer": optimizer.state_dict(),
                "scheduler": scheduler.state_dict(), "epoch": epoch}, path)

def resume(path, model, optimizer, scheduler):
    ckpt = torch.load(path, map_location="cpu", weights_only=True)
    model.load_state_dict(ckpt["model"])
    optimizer.load_state_dict(ckpt["optimizer"])
    return ckpt["epoch"] + 1
"""
    use_instead = """\
def save(path, model, optimizer, scheduler, epoch):
    torch.save({"model": model.state_dict(), "optimizer": optimizer.state_dict(),
                "scheduler": scheduler.state_dict(), "epoch": epoch}, path)

def resume(path, model, optimizer, scheduler):
    ckpt = torch.load(path, map_location="cpu", weights_only=True)
    model.load_state_dict(ckpt["model"])
    optimizer.load_state_dict(ckpt["optimizer"])
    scheduler.load_state_dict(ckpt["scheduler"])
    return ckpt["epoch"] + 1
"""
    _SAVE = ("import torch\ndef save(path, model, optimizer, scaler):\n"
             "    torch.save({'model': model.state_dict(), 'optimizer': optimizer.state_dict(),\n"
             "                'scaler': scaler.state_dict(), 'epoch': 1}, path)\n")
    valid = [
        _SAVE + "def resume(path, model, optimizer, scaler):\n    ckpt = torch.load(path, map_location='cpu', "
        "weights_only=True)\n    model.load_state_dict(ckpt['model'])\n"
        "    optimizer.load_state_dict(ckpt['optimizer'])\n"
        "    if 'scaler' in ckpt:\n        scaler.load_state_dict(ckpt['scaler'])\n",
        _SAVE + "def finetune(path, model):\n    ckpt = torch.load(path, map_location='cpu', weights_only=True)\n"
        "    model.load_state_dict(ckpt['model'])  # weights only: not a resume\n",
        _SAVE + "def resume(path, model, optimizer):\n"
        "    ckpt = torch.load(path, map_location='cpu', weights_only=True)\n"
        "    model.load_state_dict(ckpt['model'])\n    optimizer.load_state_dict(ckpt['optimizer'])\n"
        "    # no scaler here: training without AMP\n",
        "import torch\ndef save(path, model, optimizer, scheduler):\n"
        "    torch.save({'model': model.state_dict(), 'optimizer': optimizer.state_dict(),\n"
        "                'scheduler': scheduler.state_dict()}, path)\n"
        "def resume(path, model, optimizer, make_scheduler):\n"
        "    ckpt = torch.load(path, map_location='cpu', weights_only=True)\n"
        "    model.load_state_dict(ckpt['model'])\n    optimizer.load_state_dict(ckpt['optimizer'])\n"
        "    scheduler = make_scheduler(optimizer, last_epoch=ckpt['epoch'])\n    return scheduler\n",
    ]
    invalid = [
        _SAVE + "def resume(path, model, optimizer, scaler):\n    ckpt = torch.load(path, map_location='cpu', "
        "weights_only=True)\n    model.load_state_dict(ckpt['model'])\n"
        "    optimizer.load_state_dict(ckpt['optimizer'])\n"
        "    return scaler\n",
        "import torch\nclass Trainer:\n    def save(self, path):\n"
        "        torch.save({'state_dict': self.model.state_dict(), 'optimizer': self.optimizer.state_dict(),\n"
        "                    'lr_scheduler': self.lr_scheduler.state_dict(), 'step': self.step}, path)\n"
        "    def resume(self, path):\n        ckpt = torch.load(path, map_location='cpu', weights_only=True)\n"
        "        self.model.load_state_dict(ckpt['state_dict'])\n"
        "        self.optimizer.load_state_dict(ckpt['optimizer'])\n        self.step = ckpt['step']\n"
        "        self.lr_scheduler.step()\n",
    ]

    def check(self, ctx: Context) -> Iterable[Tuple[Node, str]]:
        if ctx.source.count("state_dict()") < 3:
            return  # a model, an optimizer and one more state_dict() are saved somewhere in the file
        scopes: Dict[int, Node] = {}
        count: Dict[int, int] = {}
        for c in ctx.calls:  # resumes: two or more `X.load_state_dict(ckpt["key"])` in one function
            if (isinstance(c.func, ast.Attribute) and c.func.attr == "load_state_dict" and len(c.args) == 1
                    and isinstance(c.args[0], ast.Subscript)):
                s = ctx.scope_of(c)
                scopes[id(s)] = s
                count[id(s)] = count.get(id(s), 0) + 1
        scopes = {k: v for k, v in scopes.items() if count[k] >= 2}
        if not scopes:
            return
        saved = _saved_dicts(ctx)
        if not saved:
            return
        for scope in scopes.values():
            yield from _check_scope(self.message, scope, saved)


def _saved_dicts(ctx: Context) -> List[Tuple[ast.Dict, Dict[str, str]]]:
    """(dict, {key: receiver dotted name}) for checkpoint dicts saved in this file with a model, an optimizer
    and a scheduler/scaler/EMA state_dict."""
    from statedict_lint.rules.sdl008_save_wrapped_module_state_dict import _save_helpers, _saved_args

    savers = _save_helpers(ctx)
    out = []
    seen: Set[int] = set()
    binds_cache: Dict[int, Dict[str, List[Node]]] = {}
    for call in ctx.calls:
        for arg in _saved_args(ctx, call, savers):
            d: Optional[Node] = arg
            if isinstance(arg, ast.Name):
                scope = ctx.scope_of(call)
                if id(scope) not in binds_cache:
                    binds_cache[id(scope)] = name_bindings(scope)
                d = nearest_before(binds_cache[id(scope)].get(arg.id, []), call.lineno)
            if not isinstance(d, ast.Dict) or id(d) in seen or any(k is None for k in d.keys):
                continue
            seen.add(id(d))
            recv: Dict[str, str] = {}
            for k, v in zip(d.keys, d.values):
                key, r = const_str(k), state_dict_receiver(v)
                name = dotted(r) if r is not None else None
                if key and name:
                    recv[key] = name
            if len(recv) >= 3:
                out.append((d, recv))
    return out


def _check_scope(message: str, scope: Node, saved: List[Tuple[ast.Dict, Dict[str, str]]]):
    loads = [n for n in walk_scope(scope) if isinstance(n, ast.Call) and isinstance(n.func, ast.Attribute)
             and n.func.attr == "load_state_dict" and len(n.args) == 1 and isinstance(n.args[0], ast.Subscript)
             and isinstance(n.args[0].value, ast.Name)]
    by_ckpt: Dict[str, List[Tuple[str, str, ast.Call]]] = {}
    for c in loads:
        arg, func = c.args[0], c.func
        if not (isinstance(arg, ast.Subscript) and isinstance(arg.value, ast.Name) and isinstance(func, ast.Attribute)):
            continue  # (as `loads` says)
        key = const_str(arg.slice)
        target = dotted(func.value)
        if key and target:
            by_ckpt.setdefault(arg.value.id, []).append((key, target, c))
    if not by_ckpt:
        return
    if any(kw.arg == "last_epoch" for n in walk_scope(scope) if isinstance(n, ast.Call) for kw in n.keywords):
        return
    mentioned = {dotted(n) for n in walk_scope(scope) if isinstance(n, (ast.Name, ast.Attribute))}
    for ckpt, restored in by_ckpt.items():
        keys = {k for k, _, _ in restored}
        opt_keys = {k for k, t, _ in restored if _OPT.search(k) or _OPT.search(t.rsplit(".", 1)[-1])}
        model_keys = keys - opt_keys
        if not opt_keys or not model_keys:
            continue
        reads = _reads_without_handover(scope, ckpt)
        if reads is None:
            continue
        for d, recv in saved:
            if not (keys <= set(recv)):
                continue
            for key, receiver in recv.items():
                role = _role(receiver.rsplit(".", 1)[-1]) or _role(key)
                if role is None or key in reads or key in keys or receiver not in mentioned:
                    continue
                first = min(restored, key=lambda x: (x[2].lineno, x[2].col_offset))[2]
                yield first, message.format(restored=", ".join(repr(k) for k in sorted(keys)), role=role, key=key,
                                            line=d.lineno, receiver=receiver)
                return


def _reads_without_handover(scope: Node, ckpt: str) -> Optional[Set[str]]:
    """Keys read from ``ckpt``; None when ``ckpt`` is also used whole (handed to a helper, iterated, ...)."""
    keys: Set[str] = set()
    used_by_key: Set[int] = set()
    for n in walk_scope(scope):
        if isinstance(n, ast.Subscript) and isinstance(n.value, ast.Name) and n.value.id == ckpt:
            k = const_str(n.slice)
            if k is None:
                return None
            keys.add(k)
            used_by_key.add(id(n.value))
        elif (isinstance(n, ast.Call) and isinstance(n.func, ast.Attribute) and n.func.attr in ("get", "pop", "keys")
              and isinstance(n.func.value, ast.Name) and n.func.value.id == ckpt):
            k = const_str(n.args[0]) if n.args else None
            if k is None:
                return None
            keys.add(k)
            used_by_key.add(id(n.func.value))
        elif (isinstance(n, ast.Compare) and len(n.ops) == 1 and isinstance(n.ops[0], (ast.In, ast.NotIn))
              and isinstance(n.comparators[0], ast.Name) and n.comparators[0].id == ckpt):
            k = const_str(n.left)
            if k is None:
                return None
            keys.add(k)
            used_by_key.add(id(n.comparators[0]))
    for n in walk_scope(scope):
        if isinstance(n, ast.Name) and n.id == ckpt and isinstance(n.ctx, ast.Load) and id(n) not in used_by_key:
            return None  # handed over whole: a helper may restore the rest
    return keys
