"""SDL201 state-dict-key-not-in-model (uses the state_dict predictor)."""

from __future__ import annotations

import ast
import difflib
import hashlib
import os
from typing import Any, Dict, Iterable, Optional, Set, Tuple

from statedict_lint.rules._base import Context, Node, Rule, dotted, is_const, kwarg, name_bindings

_LITERAL_TYPES = (int, float, bool, type(None))


class StateDictKeyNotInModel(Rule):
    code = "SDL201"
    hint = r"""state_dict"""
    needs = ("state_dict",)
    message = "state_dict key {key!r} is not in the state_dict of {cls}{suggest}"
    what = ("Flags a literal key used on a model's own state_dict — `sd = model.state_dict(); sd[\"...\"]`, "
            "`sd.pop(\"...\")`, `model.state_dict()[\"...\"]` — or written into a dict that is then loaded "
            "strictly with `model.load_state_dict(new_sd)`, when the key is not in the model's predicted "
            "state_dict. Only for a model class defined in the same file, constructed in the same function "
            "with literal arguments, whose prediction is complete (no unknown layer, no symbolic size or "
            "repetition): otherwise silent.")
    why = ("Key names are the model's attribute paths. After a rename (`fc` to `head`), a resize that "
           "drops a layer, or `persistent=False` on a buffer, a hard-coded key raises `KeyError` at best, "
           "and at worst a conversion script writes a key the model never reads, so the real weight keeps "
           "its random initialisation.")
    example = """\
class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.head = nn.Linear(128, 10)   # renamed from `fc`

model = Net()
sd = model.state_dict()
sd["fc.weight"].zero_()
"""
    use_instead = """\
class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.head = nn.Linear(128, 10)

model = Net()
sd = model.state_dict()
sd["head.weight"].zero_()
"""
    valid = [
        "import torch\nfrom torch import nn\nclass Net(nn.Module):\n    def __init__(self):\n"
        "        super().__init__()\n        self.fc = nn.Linear(2, 2)\n\n"
        "def f():\n    model = Net()\n    sd = model.state_dict()\n    return sd['fc.weight']\n",
        # a checkpoint's keys are not the model's: renaming them is the point
        "import torch\nfrom torch import nn\nclass Net(nn.Module):\n    def __init__(self):\n"
        "        super().__init__()\n        self.fc = nn.Linear(2, 2)\n\n"
        "def f(p):\n    model = Net()\n    ck = torch.load(p, map_location='cpu', weights_only=True)\n"
        "    ck['fc.weight'] = ck.pop('old_fc.weight')\n    model.load_state_dict(ck)\n",
        # layer count from an argument that is not a literal: prediction not settled, silent
        "import torch\nfrom torch import nn\nclass Net(nn.Module):\n    def __init__(self, n):\n"
        "        super().__init__()\n        self.blocks = nn.ModuleList([nn.Linear(2, 2) for _ in range(n)])\n\n"
        "def f(n):\n    model = Net(n)\n    sd = model.state_dict()\n    return sd['blocks.7.weight']\n",
        # the model class is imported: unknown here
        "import torch\nfrom models import Net\n\n"
        "def f():\n    model = Net()\n    sd = model.state_dict()\n    return sd['nope.weight']\n",
    ]
    invalid = [
        "import torch\nfrom torch import nn\nclass Net(nn.Module):\n    def __init__(self):\n"
        "        super().__init__()\n        self.head = nn.Linear(2, 2)\n\n"
        "def f():\n    model = Net()\n    sd = model.state_dict()\n    return sd['fc.weight']\n",
        "import torch\nfrom torch import nn\nclass Net(nn.Module):\n    def __init__(self, n=2):\n"
        "        super().__init__()\n        self.blocks = nn.ModuleList([nn.Linear(2, 2) for _ in range(n)])\n\n"
        "def f(p):\n    model = Net(n=3)\n    old = torch.load(p, map_location='cpu', weights_only=True)\n"
        "    new = {}\n    new['blocks.3.weight'] = old['w3']\n    model.load_state_dict(new)\n",
        "import torch\nfrom torch import nn\nclass Net(nn.Module):\n    def __init__(self):\n"
        "        super().__init__()\n        self.register_buffer('mask', torch.ones(2), persistent=False)\n"
        "        self.fc = nn.Linear(2, 2)\n\n"
        "def f():\n    net = Net()\n    return net.state_dict()['mask']\n",
    ]

    def check(self, ctx: Context) -> Iterable[Tuple[Node, str]]:
        if not ctx.module_classes or not ctx.path or not os.path.isfile(ctx.path):
            return
        done: Set[int] = set()
        for call in ctx.calls:
            if not (isinstance(call.func, ast.Attribute) and call.func.attr in ("state_dict", "load_state_dict")):
                continue
            scope = ctx.scope_of(call)
            if id(scope) in done:
                continue
            done.add(id(scope))
            yield from self._scope(ctx, scope)

    def _scope(self, ctx: Context, scope: Node) -> Iterable[Tuple[Node, str]]:
        binds = name_bindings(scope)
        models: Dict[str, Tuple[str, Dict[str, Any]]] = {}
        for name, values in binds.items():
            if len(values) != 1 or not isinstance(values[0], ast.Call):
                continue
            c = values[0]
            f = c.func
            if isinstance(f, ast.Name) and f.id in ctx.module_classes and f.id not in ctx.imports:
                b = _literal_bindings(ctx, f.id, c)
                if b is not None:
                    models[name] = (f.id, b)
        if not models:
            return
        # names holding a model's own state_dict, and names loaded strictly into a model
        own: Dict[str, str] = {}
        targets: Dict[str, str] = {}
        nodes = list(_walk(scope))
        for name, values in binds.items():
            if len(values) == 1:
                m = _state_dict_of(values[0])
                if m in models:
                    own[name] = m
        for n in nodes:
            if not (isinstance(n, ast.Call) and isinstance(n.func, ast.Attribute) and n.func.attr == "load_state_dict"
                    and n.args and isinstance(n.args[0], ast.Name)):
                continue
            model, sd_binds = dotted(n.func.value), binds.get(n.args[0].id, [])
            if (model is not None and model in models and not is_const(kwarg(n, "strict"), False)
                    and not (len(n.args) >= 2 and is_const(n.args[1], False))
                    and len(sd_binds) == 1 and isinstance(sd_binds[0], ast.Dict) and not sd_binds[0].keys):
                targets[n.args[0].id] = model
        for n in nodes:
            key, model, node = None, None, n
            if isinstance(n, ast.Subscript):
                k = _const_str(n.slice)
                if k is None:
                    continue
                if isinstance(n.value, ast.Name) and n.value.id in own:
                    key, model = k, own[n.value.id]
                elif isinstance(n.value, ast.Name) and n.value.id in targets and isinstance(n.ctx, ast.Store):
                    key, model = k, targets[n.value.id]
                else:
                    m = _state_dict_of(n.value)
                    if m in models:
                        key, model = k, m
            elif (isinstance(n, ast.Call) and isinstance(n.func, ast.Attribute) and n.func.attr == "pop"
                  and len(n.args) == 1 and isinstance(n.func.value, ast.Name) and n.func.value.id in own):
                key, model = _const_str(n.args[0]), own[n.func.value.id]
            if key is None or model is None:
                continue
            cls, b = models[model]
            pred = _predicted(ctx, cls, b)
            if pred is None:
                continue
            keys, non_persistent, _lines = pred
            if key in keys:
                continue
            if key in non_persistent:
                suggest = " (a buffer registered with persistent=False is never saved)"
            else:
                close = difflib.get_close_matches(key, sorted(keys), n=1, cutoff=0.6)
                suggest = f"; did you mean {close[0]!r}?" if close else ""
            yield node, self.message.format(key=key, cls=cls, suggest=suggest)


def _walk(scope: Node):
    from statedict_lint.rules._base import walk_scope

    return walk_scope(scope)


def _const_str(node: Optional[Node]) -> Optional[str]:
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    return None


def _state_dict_of(node: Node) -> Optional[str]:
    if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "state_dict"
            and not node.args and not node.keywords):
        return dotted(node.func.value)
    return None


def _literal_bindings(ctx: Context, cls_name: str, call: ast.Call) -> Optional[Dict[str, Any]]:
    """Constructor arguments as predictor bindings, when every one is a plain literal."""
    if any(isinstance(a, ast.Starred) for a in call.args) or any(k.arg is None for k in call.keywords):
        return None
    out: Dict[str, Any] = {}
    if call.args:
        cls = next((c for c in ctx.classes if c.name == cls_name), None)
        init = next((f for f in (cls.body if cls else []) if isinstance(f, ast.FunctionDef)
                     and f.name == "__init__"), None)
        if init is None:
            return None
        params = [a.arg for a in init.args.posonlyargs + init.args.args][1:]
        if len(call.args) > len(params):
            return None
        for p, a in zip(params, call.args):
            v = _literal(a)
            if v is _NO:
                return None
            out[p] = v
    for k in call.keywords:
        v = _literal(k.value)
        if v is _NO or k.arg is None:  # (`**kwargs`: the bindings are not known literally)
            return None
        out[k.arg] = v
    return out


_NO = object()


def _literal(node: Node) -> Any:
    try:
        v = ast.literal_eval(node)
    except (ValueError, SyntaxError, TypeError, RecursionError):
        return _NO
    return v if isinstance(v, _LITERAL_TYPES) else _NO


def _predicted(ctx: Context, cls: str, bindings: Dict[str, Any]) -> Optional[Tuple[Set[str], Set[str], Dict[str, int]]]:
    """(keys, non-persistent buffer keys, key -> line) of a complete prediction, else None; remembered by the lint
    run (bounded), keyed on the file's text."""
    path = ctx.path
    digest = hashlib.sha256(ctx.source.encode("utf-8", "surrogatepass")).hexdigest()
    ck = (os.path.abspath(path), digest, cls, tuple(sorted(bindings.items())))
    memo = ctx.session.predictions
    if ck in memo:
        return memo[ck]
    result = None
    try:
        from statedict_lint.predict.api import predict

        pred = predict(path, cls, bindings)
        if pred.complete and all("{" not in k.key for k in pred.keys):
            result = ({k.key for k in pred.keys}, {k.key for k in pred.non_persistent},
                      {k.key: k.line for k in pred.keys})
    except Exception:  # the predictor's honest "cannot know" (or a bug) keeps this rule silent
        result = None
    memo[ck] = result
    return result
