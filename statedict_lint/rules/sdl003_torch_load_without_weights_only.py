"""SDL003 torch-load-without-weights-only."""

from __future__ import annotations

import ast
from typing import Iterable, Optional, Tuple

from statedict_lint.rules._base import Context, Node, Rule, has_star_kwargs, is_const, kwarg
from statedict_lint.rules._flow import in_safe_globals_block, written_before
from statedict_lint.rules._scopeinfo import const_str


class TorchLoadWithoutWeightsOnly(Rule):
    code = "SDL003"
    hint = r"""load\b"""
    message = ("torch.load() without weights_only=True: unpickling a checkpoint can execute arbitrary code "
               "(the default depends on the torch version)")
    what = ("Flags `torch.load(f)` without `weights_only=True`, and `torch.load(f, weights_only=False)`. "
            "Silent when `weights_only` is omitted inside `with torch.serialization.safe_globals([...]):` "
            "(written for the torch >= 2.6 default) or in a project whose declared requirements "
            "(`pyproject.toml`, `setup.cfg`, `requirements*.txt`, nearest folder up to the repository root) "
            "need torch >= 2.6, where `weights_only=True` is the default — an explicit `weights_only=False` "
            "is still flagged there; when the same function wrote the file with `torch.save(obj, same_path)`; "
            "and in test files. When the file saves an `argparse.Namespace` in a checkpoint dict "
            "(`\"args\": args`), the message says how to allow it with `safe_globals`.")
    why = ("`torch.load` unpickles. Before torch 2.6 the default is `weights_only=False`: a downloaded "
           "checkpoint can run any code on load. Since 2.6 the default flipped, so the same line behaves "
           "differently (and old pickled checkpoints stop loading) depending on the installed torch. "
           "Saying `weights_only=True` is safe and means the same everywhere.")
    example = """\
state = torch.load("model.pt", map_location="cpu")
"""
    use_instead = """\
state = torch.load("model.pt", map_location="cpu", weights_only=True)
"""
    valid = [
        "import torch\nsd = torch.load(p, map_location='cpu', weights_only=True)\n",
        "import torch\nsd = torch.load(p, map_location='cpu', **kw)\n",
        "import torch\nsd = torch.load(p, map_location='cpu', weights_only=trusted)\n",
        "sd = torch.load(p)  # torch never imported: cannot be resolved\n",
        "import torch\ndef load(p, weights_only=True):\n    try:\n        return torch.load(p, map_location='cpu', "
        "weights_only=weights_only)\n    except TypeError:\n        return torch.load(p, map_location='cpu')\n",
    ]
    invalid = [
        "import torch\nsd = torch.load(p, map_location='cpu')\n",
        "import torch\nsd = torch.load(p, map_location='cpu', weights_only=False)\n",
        "import torch\nwith torch.serialization.safe_globals([Config]):\n"
        "    sd = torch.load(p, map_location='cpu', weights_only=False)\n",
        "import torch\ntorch.save({'model': m.state_dict(), 'args': args}, 'ckpt.pt')\n"
        "ck = torch.load(resume_path, map_location='cpu')\n",
    ]

    def check(self, ctx: Context) -> Iterable[Tuple[Node, str]]:
        if ctx.session.project.is_test_path(ctx.path):
            return
        low = None
        for call in ctx.calls:
            if not ctx.is_torch(call.func, "torch.load"):
                continue
            wo = kwarg(call, "weights_only")
            if wo is None:
                if has_star_kwargs(call) or len(call.args) >= 4 or _weights_only_aware(ctx, call):
                    continue
                if in_safe_globals_block(ctx, call) or written_before(ctx, call) is not None:
                    continue
                if low is None:
                    low = (ctx.session.project.torch_lower_bound(ctx.path) or (0, 0),)
                if low[0] >= SAFE_DEFAULT:
                    continue  # the project requires torch >= 2.6: weights_only=True is the default
                yield call, self.message + _namespace_hint(ctx)
            elif is_const(wo, False):
                if written_before(ctx, call) is not None:
                    continue
                yield call, ("torch.load(..., weights_only=False): unpickling a checkpoint can execute "
                             "arbitrary code") + _namespace_hint(ctx)


SAFE_DEFAULT = (2, 6)


def _namespace_hint(ctx: Context) -> str:
    """When this file saves an ``argparse.Namespace`` in a checkpoint dict, plain weights_only=True fails:
    say how to allow it."""
    line = _saved_namespace_line(ctx)
    if line is None:
        return ""
    return (f"; this file saves an argparse.Namespace in its checkpoints (line {line}): load under "
            "`with torch.serialization.safe_globals([argparse.Namespace]):` with weights_only=True")


def _saved_namespace_line(ctx: Context) -> Optional[int]:
    if "args" not in ctx.source:
        return None
    if "saved-namespace-line" in ctx.memo:
        cached = ctx.memo["saved-namespace-line"]
        return cached if isinstance(cached, int) else None
    found: Optional[int] = None
    for n in ast.walk(ctx.tree):
        if not isinstance(n, ast.Dict):
            continue
        for k, v in zip(n.keys, n.values):
            if const_str(k) == "args" and isinstance(v, ast.Name) and v.id == "args":
                found = n.lineno
                break
        if found:
            break
    ctx.memo["saved-namespace-line"] = found
    return found


def _weights_only_aware(ctx: Context, call: ast.Call) -> bool:
    """The enclosing function decides weights_only itself (e.g. a fallback for torch builds without it)."""
    scope = ctx.scope_of(call)
    if scope is ctx.tree:
        return False
    from statedict_lint.rules._base import name_bindings, walk_scope

    if "weights_only" in name_bindings(scope):
        return True
    return any(isinstance(n, ast.Name) and n.id == "weights_only" for n in walk_scope(scope))
