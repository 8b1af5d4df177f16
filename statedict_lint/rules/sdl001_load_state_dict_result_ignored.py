"""SDL001 load-state-dict-result-ignored."""

from __future__ import annotations

import ast
from typing import Dict, Iterable, List, Optional, Tuple

from statedict_lint.rules._base import (Context, Node, Rule, dotted, is_const, kwarg, name_bindings, nearest_before,
                                        walk_scope)
from statedict_lint.rules._flow import reads_of

# names under which code computes the key mismatch itself (e.g. against a shard index, before loading)
KEY_ACCOUNTING = {"missing_keys", "unexpected_keys", "missing", "unexpected"}


class LoadStateDictResultIgnored(Rule):
    code = "SDL001"
    hint = r"""load_state_dict"""
    message = ("load_state_dict(..., strict=False) result thrown away: missing and unexpected keys are "
               "silently ignored")
    needs = ("load_state_dict",)
    what = ("Flags `module.load_state_dict(..., strict=False)` whose returned `(missing_keys, "
            "unexpected_keys)` are never looked at: the call used as a statement, its result bound to names "
            "that are never read, or read only under `if flag:` where `flag` is a parameter defaulting to "
            "`False`/`None`; and `load_state_dict(sd, strict=strict)` thrown away in a function that a call of "
            "the same file passes `strict=False`. Silent when the same function computes the mismatch itself "
            "before the call "
            "(binds `missing_keys` / `unexpected_keys`, as loaders of sharded checkpoints do, where each shard "
            "is partial by design); when the loaded dict was matched against the model's own "
            "`state_dict()` just before and is reported right after (`csd = intersect(sd, "
            "model.state_dict())`, load, `log(f\"{len(csd)}/{len(model.state_dict())} loaded\")`); when the "
            "result is bound to `_` only (discarded on purpose); and in test files, whose partial loads are "
            "followed by output comparisons.")
    why = ("With `strict=False` torch loads whatever matches and returns the keys it skipped. Thrown "
           "away, a renamed layer, a `module.` prefix or a wrong checkpoint loads *nothing* for those "
           "layers and the model silently keeps its random initialisation: accuracy collapses, no error.")
    example = """\
model.load_state_dict(state_dict, strict=False)
"""
    use_instead = """\
result = model.load_state_dict(state_dict, strict=False)
if result.unexpected_keys:
    raise RuntimeError(f"unexpected keys: {result.unexpected_keys}")
print("newly initialised:", result.missing_keys)
"""
    valid = [
        "import torch\nmodel.load_state_dict(sd)\n",
        "import torch\nmissing, unexpected = model.load_state_dict(sd, strict=False)\n"
        "assert not unexpected, unexpected\n",
        "import torch\nres = model.load_state_dict(sd, strict=False)\nassert not res.unexpected_keys\n",
        "import torch\nmodel.load_state_dict(sd, strict=True)\n",
        "import torch\nload_state_dict(model, sd, strict=False)  # a helper function, not the method\n",
        "import torch\ndef load_shards(model, shards, index):\n    expected = set(model.state_dict())\n"
        "    missing_keys = expected - set(index)\n    if missing_keys:\n        raise KeyError(missing_keys)\n"
        "    for shard in shards:\n        model.load_state_dict(shard, strict=False)  # partial by design\n",
        "import torch\ndef transfer(model, sd, log):\n"
        "    csd = {k: v for k, v in sd.items() if k in model.state_dict()}\n"
        "    model.load_state_dict(csd, strict=False)\n"
        "    log.info(f'transferred {len(csd)}/{len(model.state_dict())} items')\n",
        "import torch\ndef load(model, sd, verbose=True):\n    m, u = model.load_state_dict(sd, strict=False)\n"
        "    if verbose:\n        print(m, u)\n",
        "import torch\ndef load_pretrained(model, path, strict=True):\n"
        "    model.load_state_dict(torch.load(path, map_location='cpu', weights_only=True), strict=strict)\n"
        "def evaluate(model, args):\n    load_pretrained(model, args.weights)  # strict by default\n",
    ]
    invalid = [
        "import torch\nmodel.load_state_dict(sd, strict=False)\n",
        "import torch\nself.backbone.load_state_dict(torch.load(p, map_location='cpu', weights_only=True), "
        "strict=False)\n",
        "import torch\ndef load(model, sd):\n    res = model.load_state_dict(sd, strict=False)\n    return model\n",
        "import torch\ndef load(model, sd, verbose=False):\n    m, u = model.load_state_dict(sd, strict=False)\n"
        "    if verbose:\n        print(m, u)\n",
        "import torch\ndef transfer(model, sd):\n    csd = {k: v for k, v in sd.items() if k in model.state_dict()}\n"
        "    model.load_state_dict(csd, strict=False)  # nothing reported after\n",
        "import torch\ndef load_pretrained(model, path, strict=True):\n"
        "    model.load_state_dict(torch.load(path, map_location='cpu', weights_only=True), strict=strict)\n"
        "def finetune(model, args):\n    load_pretrained(model, args.weights, strict=False)\n",
    ]

    def check(self, ctx: Context) -> Iterable[Tuple[Node, str]]:
        if ctx.session.project.is_test_path(ctx.path):
            return
        for call in ctx.calls:
            if id(call) in ctx.discarded and not accounts_keys_before(ctx, call):
                caller = _strict_false_from_caller(ctx, call)
                if caller is not None:
                    yield call, (f"load_state_dict(..., strict={caller[0]}) result thrown away, and {caller[1]}() is "
                                 f"called with {caller[0]}=False (line {caller[2]}): missing and unexpected keys are "
                                 "then silently ignored")
                    continue
            if not is_strict_false_load(call) or accounts_keys_before(ctx, call):
                continue
            if id(call) in ctx.discarded:
                if not _reported_after(ctx, call):
                    yield call, self.message
                continue
            names = _bound_names(ctx, call)
            if not names:
                continue
            scope = ctx.scope_of(call)
            reads = [r for n in names for r in reads_of(scope, n)]
            shown = f"`{names[0]}`" if len(names) == 1 else "(" + ", ".join(names) + ")"
            if not reads:
                yield call, (f"load_state_dict(..., strict=False) result bound to {shown} but never read: missing "
                             "and unexpected keys are silently ignored")
                continue
            flag = _only_under_false_flag(scope, reads)
            if flag is not None:
                yield call, (f"load_state_dict(..., strict=False) result {shown} is read only when `{flag}` is true "
                             f"(default {flag_default(scope, flag)}): by default missing and unexpected keys are "
                             "silently ignored")


def _strict_false_from_caller(ctx: Context, call: ast.Call) -> Optional[Tuple[str, str, int]]:
    """(parameter, function, line) when ``strict=<parameter>`` of the enclosing function and a call of that
    function in the same file passes ``<parameter>=False``."""
    f = call.func
    if not (isinstance(f, ast.Attribute) and f.attr == "load_state_dict"):
        return None
    strict = kwarg(call, "strict")
    if strict is None and len(call.args) >= 2:
        strict = call.args[1]
    if not isinstance(strict, ast.Name):
        return None
    scope = ctx.scope_of(call)
    if not isinstance(scope, (ast.FunctionDef, ast.AsyncFunctionDef)):
        return None
    a = scope.args
    if strict.id not in {x.arg for x in a.posonlyargs + a.args + a.kwonlyargs}:
        return None
    if any(getattr(v, "lineno", 0) < call.lineno and not isinstance(v, ast.arg)
           for v in name_bindings(scope).get(strict.id, ())):
        return None  # rebound before the load
    for n in ast.walk(ctx.tree):
        if not isinstance(n, ast.Call):
            continue
        callee = n.func.id if isinstance(n.func, ast.Name) else n.func.attr if isinstance(n.func, ast.Attribute) \
            else None
        if callee == scope.name and is_const(kwarg(n, strict.id), False):
            return strict.id, scope.name, n.lineno
    return None


def is_strict_false_load(call: ast.Call) -> bool:
    f = call.func
    return isinstance(f, ast.Attribute) and f.attr == "load_state_dict" and (
        is_const(kwarg(call, "strict"), False) or (len(call.args) >= 2 and is_const(call.args[1], False)))


def _bound_names(ctx: Context, call: ast.Call) -> List[str]:
    """``res`` / ``missing, unexpected`` for ``res = m.load_state_dict(...)``; [] when not bound to names
    (or bound to ``_`` only: thrown away on purpose, as said)."""
    for a in ctx.assigns:
        if a.value is call and len(a.targets) == 1:
            t = a.targets[0]
            elts = t.elts if isinstance(t, (ast.Tuple, ast.List)) else [t]
            names = [e.id for e in elts if isinstance(e, ast.Name)]
            if len(names) != len(elts):
                return []
            return [n for n in names if n != "_"]
    return []


def _param_defaults(scope: Node) -> Dict[str, Node]:
    a = getattr(scope, "args", None)
    if a is None or isinstance(scope, ast.Lambda):
        return {}
    pos = a.posonlyargs + a.args
    out: Dict[str, Node] = {}
    for arg, d in zip(pos[len(pos) - len(a.defaults):], a.defaults):
        out[arg.arg] = d
    for arg, d in zip(a.kwonlyargs, a.kw_defaults):
        if d is not None:
            out[arg.arg] = d
    return out


def flag_default(scope: Node, flag: str) -> str:
    d = _param_defaults(scope).get(flag)
    return repr(d.value) if isinstance(d, ast.Constant) else "?"


def _only_under_false_flag(scope: Node, reads: List[ast.Name]) -> Optional[str]:
    """The parameter ``F`` (default False/None) when every read sits in the body of an ``if F:``."""
    defaults = {k for k, d in _param_defaults(scope).items()
                if isinstance(d, ast.Constant) and (d.value is False or d.value is None)}
    if not defaults:
        return None
    guarded: Dict[str, set] = {}
    for n in walk_scope(scope):
        if isinstance(n, ast.If) and isinstance(n.test, ast.Name) and n.test.id in defaults:
            ids = guarded.setdefault(n.test.id, set())
            for st in n.body:
                ids.update(id(x) for x in ast.walk(st))
    for flag, ids in guarded.items():
        if all(id(r) in ids for r in reads):
            return flag
    return None


def _reported_after(ctx: Context, call: ast.Call) -> bool:
    """``csd = intersect(sd, model.state_dict()); model.load_state_dict(csd, strict=False)`` followed by a
    report of it (``log(f"{len(csd)}/{len(model.state_dict())} loaded")``): the dict was matched against
    the model's own keys before the load and what loaded is reported after, so nothing is silent."""
    if not call.args or not isinstance(call.args[0], ast.Name) or not isinstance(call.func, ast.Attribute):
        return False
    name = call.args[0].id
    recv = dotted(call.func.value)
    if recv is None:
        return False
    scope = ctx.scope_of(call)
    nearest = nearest_before(name_bindings(scope).get(name, ()), call.lineno)
    if nearest is None:
        return False
    if not isinstance(nearest, ast.expr) or not any(
            isinstance(n, ast.Call) and isinstance(n.func, ast.Attribute) and n.func.attr == "state_dict"
            and dotted(n.func.value) == recv for n in ast.walk(nearest)):
        return False
    for st in walk_scope(scope):  # a statement that is a call reporting it: print(...), log.info(...)
        if (isinstance(st, ast.Expr) and isinstance(st.value, ast.Call) and st.lineno > call.lineno
                and not (isinstance(st.value.func, ast.Attribute) and st.value.func.attr == "load_state_dict")
                and any(isinstance(x, ast.Name) and x.id == name for a in st.value.args for x in ast.walk(a))):
            return True
    return False


def accounts_keys_before(ctx: Context, call: ast.Call) -> bool:
    """The enclosing function binds ``missing_keys``/``unexpected_keys`` (not from a load) before ``call``."""
    scope = ctx.scope_of(call)
    if scope is ctx.tree or not any(k in ctx.source for k in KEY_ACCOUNTING):
        return False
    binds = name_bindings(scope)
    for name in KEY_ACCOUNTING:
        for v in binds.get(name, ()):
            if (not isinstance(v, ast.expr) or isinstance(getattr(v, "ctx", None), ast.Store)
                    or getattr(v, "lineno", call.lineno) >= call.lineno):
                continue
            if any(isinstance(n, ast.Attribute) and n.attr == "load_state_dict" for n in ast.walk(v)):
                continue
            return True
    return False
