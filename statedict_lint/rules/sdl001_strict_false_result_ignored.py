"""SDL001 load-state-dict-result-ignored."""

from __future__ import annotations

import ast
from typing import Iterable, Tuple

from statedict_lint.rules._base import Context, Node, Rule, is_const, kwarg, name_bindings

# names under which code computes the key mismatch itself (e.g. against a shard index, before loading)
KEY_ACCOUNTING = {"missing_keys", "unexpected_keys", "missing", "unexpected"}


class StrictFalseResultIgnored(Rule):
    code = "SDL001"
    hint = r"""load_state_dict"""
    name = "load-state-dict-result-ignored"
    message = ("load_state_dict(..., strict=False) result thrown away: missing and unexpected keys are "
               "silently ignored")
    needs = ("load_state_dict",)
    what = ("Flags `module.load_state_dict(..., strict=False)` used as a statement, so the returned "
            "`(missing_keys, unexpected_keys)` are never looked at. Silent when the same function computes "
            "the mismatch itself before the call (binds `missing_keys` / `unexpected_keys`, as loaders of "
            "sharded checkpoints do, where each shard is partial by design).")
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
        "import torch\nmissing, unexpected = model.load_state_dict(sd, strict=False)\n",
        "import torch\nres = model.load_state_dict(sd, strict=False)\nassert not res.unexpected_keys\n",
        "import torch\nmodel.load_state_dict(sd, strict=True)\n",
        "import torch\nload_state_dict(model, sd, strict=False)  # a helper function, not the method\n",
        "import torch\ndef load_shards(model, shards, index):\n    expected = set(model.state_dict())\n"
        "    missing_keys = expected - set(index)\n    if missing_keys:\n        raise KeyError(missing_keys)\n"
        "    for shard in shards:\n        model.load_state_dict(shard, strict=False)  # partial by design\n",
    ]
    invalid = [
        "import torch\nmodel.load_state_dict(sd, strict=False)\n",
        "import torch\nself.backbone.load_state_dict(torch.load(p, map_location='cpu', weights_only=True), "
        "strict=False)\n",
    ]

    def check(self, ctx: Context) -> Iterable[Tuple[Node, str]]:
        for call in ctx.calls:
            f = call.func
            if not (isinstance(f, ast.Attribute) and f.attr == "load_state_dict"):
                continue
            if id(call) not in ctx.discarded:
                continue
            if is_const(kwarg(call, "strict"), False) or (
                    len(call.args) >= 2 and is_const(call.args[1], False)):
                if accounts_keys_before(ctx, call):
                    continue
                yield call, self.message


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
