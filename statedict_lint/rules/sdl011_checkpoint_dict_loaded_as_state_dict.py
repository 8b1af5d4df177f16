"""SDL011 checkpoint-dict-loaded-as-state-dict."""

from __future__ import annotations

import ast
from typing import Dict, Iterable, List, Optional, Tuple

from statedict_lint.rules._base import Context, Node, Rule, name_bindings, nearest_before
from statedict_lint.rules._flow import load_path_arg
from statedict_lint.rules._scopeinfo import const_str

_WRAPPER_KEYS = {"model", "state_dict", "model_state_dict", "net", "network", "module", "model_state"}


class CheckpointDictLoadedAsStateDict(Rule):
    code = "SDL011"
    hint = r"""load_state_dict|save\b"""
    message = ("load_state_dict(torch.load({path})): this file saves {path} as a checkpoint dict with keys {keys} "
               "(line {line}), not as a state_dict: every key is unexpected; load ckpt[{key!r}]")
    needs = ("load_state_dict",)
    what = ("Flags `X.load_state_dict(torch.load(P))` — inline, or through a name whose nearest binding is "
            "that `torch.load` — when the same file saves a dict literal with a `\"model\"` / `\"state_dict\"` "
            "entry and other entries to the same `P` with `torch.save`. `P` must be the same constant "
            "string, a module-level constant name, or the same expression in the same function (not rebound "
            "in between); the same local name in two functions is not assumed to be the same file, and a save "
            "after the load in the same function (an in-place conversion) does not count.")
    why = ("The file holds `{\"model\": ..., \"epoch\": ...}`, so `load_state_dict` sees the keys `model`, "
           "`epoch`, ...: with `strict=True` it fails with every key missing and unexpected, with "
           "`strict=False` it loads nothing at all.")
    example = """\
torch.save({"model": model.state_dict(), "epoch": epoch}, "ckpt.pt")
...
model.load_state_dict(torch.load("ckpt.pt", map_location="cpu", weights_only=True))
"""
    use_instead = """\
torch.save({"model": model.state_dict(), "epoch": epoch}, "ckpt.pt")
...
model.load_state_dict(torch.load("ckpt.pt", map_location="cpu", weights_only=True)["model"])
"""
    valid = [
        "import torch\ntorch.save({'model': m.state_dict(), 'epoch': 1}, 'ckpt.pt')\n"
        "m.load_state_dict(torch.load('ckpt.pt', map_location='cpu', weights_only=True)['model'])\n",
        "import torch\ntorch.save(m.state_dict(), 'weights.pt')\n"
        "m.load_state_dict(torch.load('weights.pt', map_location='cpu', weights_only=True))\n",
        "import torch\ndef save(m, path):\n    torch.save({'model': m.state_dict(), 'epoch': 1}, path)\n"
        "def load(m, path):\n    m.load_state_dict(torch.load(path, map_location='cpu', weights_only=True))"
        "  # another path\n",
        "import torch\ntorch.save({'model': m.state_dict(), 'epoch': 1}, 'ckpt.pt')\n"
        "sd = torch.load('ckpt.pt', map_location='cpu', weights_only=True)\nsd = sd['model']\nm.load_state_dict(sd)\n",
        "import torch\nm.load_state_dict(torch.load('m.pt', map_location='cpu', weights_only=True))\n"
        "torch.save({'model': m.state_dict(), 'epoch': 0}, 'm.pt')  # converted in place\n",
    ]
    invalid = [
        "import torch\ntorch.save({'model': m.state_dict(), 'epoch': 1}, 'ckpt.pt')\n"
        "m.load_state_dict(torch.load('ckpt.pt', map_location='cpu', weights_only=True))\n",
        "import torch\nCKPT = 'runs/last.pth'\ndef save(m, opt):\n"
        "    torch.save({'state_dict': m.state_dict(), 'optimizer': opt.state_dict()}, CKPT)\n"
        "def load(m):\n    sd = torch.load(CKPT, map_location='cpu', weights_only=True)\n    m.load_state_dict(sd)\n",
    ]

    def check(self, ctx: Context) -> Iterable[Tuple[Node, str]]:
        saves = _checkpoint_saves(ctx)
        if not saves:
            return
        consts = _module_constants(ctx)
        for call in ctx.calls:
            if not (isinstance(call.func, ast.Attribute) and call.func.attr == "load_state_dict" and call.args):
                continue
            load = _torch_load_of(ctx, call)
            if load is None:
                continue
            path = load_path_arg(load)
            if path is None:
                continue
            for save, keys, key, d in saves:
                if _same_file(ctx, path, load, save, consts):
                    shown = ast.unparse(path) if hasattr(ast, "unparse") else "f"
                    yield call, self.message.format(path=shown, keys=", ".join(repr(k) for k in keys),
                                                    line=d.lineno, key=key)
                    break


def _checkpoint_saves(ctx: Context) -> List[Tuple[ast.Call, List[str], str, ast.Dict]]:
    out: List[Tuple[ast.Call, List[str], str, ast.Dict]] = []
    for call in ctx.calls:
        if not (len(call.args) >= 2 and ctx.is_torch(call.func, "torch.save")):
            continue
        d: Optional[Node] = call.args[0]
        if isinstance(d, ast.Name):
            scope = ctx.scope_of(call)
            d = nearest_before(name_bindings(scope).get(d.id, []), call.lineno)
        if not isinstance(d, ast.Dict) or any(k is None for k in d.keys):
            continue
        keys = [s for s in (const_str(k) for k in d.keys) if s is not None]
        if len(keys) < len(d.keys) or len(keys) < 2:  # (a key that is not a string constant: no claim)
            continue
        wrapped = [k for k in keys if k in _WRAPPER_KEYS]
        if wrapped:
            out.append((call, keys, wrapped[0], d))
    return out


def _torch_load_of(ctx: Context, call: ast.Call) -> Optional[ast.Call]:
    a = call.args[0]
    if isinstance(a, ast.Call) and ctx.is_torch(a.func, "torch.load"):
        return a
    if isinstance(a, ast.Name):
        scope = ctx.scope_of(call)
        v = nearest_before(name_bindings(scope).get(a.id, []), call.lineno)
        if isinstance(v, ast.Call) and ctx.is_torch(v.func, "torch.load"):
            return v
    return None


def _module_constants(ctx: Context) -> Dict[str, str]:
    """Module-level names bound exactly once, to a string constant."""
    binds = name_bindings(ctx.tree)
    return {n: c.value for n, v in binds.items() if len(v) == 1
            for c in v if isinstance(c, ast.Constant) and isinstance(c.value, str)}


def _same_file(ctx: Context, path: Node, load: ast.Call, save: ast.Call, consts: Dict[str, str]) -> bool:
    sp = save.args[1]
    if ctx.scope_of(load) is ctx.scope_of(save) and (save.lineno, save.col_offset) > (load.lineno, load.col_offset):
        return False  # loaded, then overwritten in a new format (a conversion): not the file it reads
    if isinstance(path, ast.Constant) and isinstance(sp, ast.Constant):
        return isinstance(path.value, str) and path.value == sp.value
    if ast.dump(path) != ast.dump(sp):
        return False
    ls, ss = ctx.scope_of(load), ctx.scope_of(save)
    if isinstance(path, ast.Name) and path.id in consts:
        return all(path.id not in name_bindings(s) for s in (ls, ss) if s is not ctx.tree)
    if ls is not ss:
        return False
    binds = name_bindings(ls)
    lo, hi = sorted((save.lineno, load.lineno))
    names = [n.id for n in ast.walk(path) if isinstance(n, ast.Name)]
    return not any(lo < getattr(v, "lineno", 0) <= hi for n in names for v in binds.get(n, ()))
