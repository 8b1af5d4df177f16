"""SDL012 wrapped-model-unprefixed-key."""

from __future__ import annotations

import ast
from typing import Dict, Iterable, List, Optional, Tuple, Union

from statedict_lint.rules._base import Context, Node, Rule, name_bindings, nearest_before, position, walk_scope
from statedict_lint.rules._scopeinfo import const_str
from statedict_lint.rules.sdl008_save_wrapped_module_state_dict import _exclusive, _wrapped, _wrapper_call

_NAMED = {"named_parameters", "named_buffers", "state_dict"}


class WrappedModelUnprefixedKey(Rule):
    code = "SDL012"
    hint = r"""compile\s*\(|DataParallel|DDP\s*\("""
    message = ("key {key!r} looked up in {m}.{what}() while {m} may be wrapped by {wrapper} (line {line}): every "
               "name then starts with {prefix!r}, so this {how}; use {m}.{attr}.{what}() (keep a handle on the "
               "unwrapped model)")
    needs = ("compile", "DataParallel", "DDP")
    what = ("Flags a literal key looked up in the state_dict or parameter names of a model after, earlier "
            "in the same function, the name was rebound to `torch.compile(model)`, "
            "`DistributedDataParallel(model)` or `nn.DataParallel(model)` (the same proof as SDL008: no "
            "other binding in between, `model = model.module` unwraps): `model.state_dict()[\"fc.weight\"]` "
            "(inline or through a name bound to it), and `name == \"fc.weight\"` / "
            "`name.startswith(\"fc.\")` in a loop over `model.named_parameters()`, `named_buffers()` or "
            "`state_dict()`. Literals that already carry the prefix are fine; substring tests (`\"fc\" in "
            "name`) still match and are not flagged.")
    why = ("The wrappers register the real model as a submodule (`_orig_mod` for `torch.compile`, `module` "
           "for the data-parallel ones), so every name gains that prefix: the lookup raises `KeyError`, or "
           "the comparison is never true and the loop silently freezes, skips or re-initialises nothing.")
    example = """\
model = torch.compile(model)
...
for name, p in model.named_parameters():
    if name.startswith("head."):
        p.requires_grad = False
"""
    use_instead = """\
compiled = torch.compile(model)
...
for name, p in model.named_parameters():
    if name.startswith("head."):
        p.requires_grad = False
"""
    valid = [
        "import torch\ndef f(model):\n    compiled = torch.compile(model)\n    w = model.state_dict()['fc.weight']\n",
        "import torch\ndef f(model):\n    model = torch.compile(model)\n"
        "    w = model.state_dict()['_orig_mod.fc.weight']\n",
        "import torch\ndef f(model):\n    model = torch.compile(model)\n"
        "    w = model._orig_mod.state_dict()['fc.weight']\n",
        "import torch\ndef f(model):\n    model = torch.compile(model)\n    for n, p in model.named_parameters():\n"
        "        if 'head' in n:  # a substring still matches\n            p.requires_grad = False\n",
        "import torch\ndef f(model, ddp):\n    if ddp:\n        model = torch.nn.DataParallel(model)\n    else:\n"
        "        w = model.state_dict()['fc.weight']  # only when not wrapped\n",
    ]
    invalid = [
        "import torch\ndef f(model):\n    model = torch.compile(model)\n    w = model.state_dict()['fc.weight']\n",
        "import torch\ndef f(model):\n    model = torch.compile(model)\n    for name, p in model.named_parameters():\n"
        "        if name.startswith('head.'):\n            p.requires_grad = False\n",
        "import torch\nfrom torch.nn.parallel import DistributedDataParallel as DDP\ndef f(model, rank):\n"
        "    model = DDP(model, device_ids=[rank])\n    sd = model.state_dict()\n    emb = sd['embed.weight']\n",
    ]

    def check(self, ctx: Context) -> Iterable[Tuple[Node, str]]:
        scopes: Dict[int, Node] = {}
        for a in ctx.assigns:
            if _wrapper_call(ctx, a.value) is not None:
                s = ctx.scope_of(a)
                scopes[id(s)] = s
        for scope in scopes.values():
            binds = name_bindings(scope)
            for n in walk_scope(scope):
                hit = _lookup(n, binds) if isinstance(n, ast.Subscript) else _loop_tests(n) if isinstance(
                    n, (ast.For, ast.AsyncFor)) else []
                for node, model, key, what, how in hit:
                    found = _wrapped(ctx, model, binds, position(node)[0], set())
                    if found is None or _exclusive(scope, found[2], node):
                        continue
                    (wrapper, prefix, attr), line, _ = found
                    if key.startswith(prefix):
                        continue
                    yield node, self.message.format(key=key, m=model, what=what, wrapper=wrapper, line=line,
                                                    prefix=prefix, how=how, attr=attr)


def _state_dict_of(v: Optional[Node]) -> Optional[str]:
    """``m`` for ``m.state_dict()`` (m a plain name)."""
    if (isinstance(v, ast.Call) and isinstance(v.func, ast.Attribute) and v.func.attr == "state_dict"
            and not v.args and isinstance(v.func.value, ast.Name)):
        return v.func.value.id
    return None


# (node, model name, the key tested, what is iterated or looked up, what goes wrong)
KeyUse = Tuple[Node, str, str, str, str]


def _lookup(n: ast.Subscript, binds: Dict[str, List[Node]]) -> List[KeyUse]:
    key = const_str(n.slice)
    if key is None or not isinstance(n.ctx, ast.Load):
        return []
    m = _state_dict_of(n.value)
    if m is None and isinstance(n.value, ast.Name):
        nearest = nearest_before(binds.get(n.value.id, []), n.lineno)
        if nearest is not None:
            m = _state_dict_of(nearest)
    if m is None:
        return []
    return [(n, m, key, "state_dict", "lookup raises KeyError")]


def _loop_tests(loop: Union[ast.For, ast.AsyncFor]) -> List[KeyUse]:
    it = loop.iter
    if isinstance(it, ast.Call) and isinstance(it.func, ast.Attribute) and it.func.attr in ("keys", "items") \
            and not it.args:
        it = it.func.value
    if not (isinstance(it, ast.Call) and isinstance(it.func, ast.Attribute) and it.func.attr in _NAMED
            and isinstance(it.func.value, ast.Name)):
        return []
    model, what = it.func.value.id, it.func.attr
    t = loop.target
    key = t.elts[0] if isinstance(t, ast.Tuple) and t.elts else t
    if not isinstance(key, ast.Name):
        return []
    out: List[KeyUse] = []
    for st in loop.body:
        for n in ast.walk(st):
            lit = None
            if (isinstance(n, ast.Compare) and len(n.ops) == 1 and isinstance(n.ops[0], ast.Eq)
                    and isinstance(n.left, ast.Name) and n.left.id == key.id):
                lit = const_str(n.comparators[0])
            elif (isinstance(n, ast.Call) and isinstance(n.func, ast.Attribute) and n.func.attr == "startswith"
                  and isinstance(n.func.value, ast.Name) and n.func.value.id == key.id and len(n.args) == 1):
                lit = const_str(n.args[0])
            if lit:
                out.append((n, model, lit, what, "test is never true"))
    return out
