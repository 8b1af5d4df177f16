"""Small data-flow facts shared by the loading rules (one function or module body at a time)."""

from __future__ import annotations

import ast
from typing import Dict, List, Optional

from statedict_lint.rules._base import Context, Node, kwarg, name_bindings, walk_scope


def load_path_arg(call: ast.Call) -> Optional[ast.expr]:
    """The file argument of ``torch.load(f, ...)``."""
    if call.args and not isinstance(call.args[0], ast.Starred):
        return call.args[0]
    return kwarg(call, "f")


def _save_path_arg(call: ast.Call) -> Optional[ast.expr]:
    if len(call.args) >= 2 and not isinstance(call.args[1], ast.Starred):
        return call.args[1]
    return kwarg(call, "f")


def _names(node: Node) -> List[str]:
    return [n.id for n in ast.walk(node) if isinstance(n, ast.Name)]


def written_before(ctx: Context, load: ast.Call) -> Optional[ast.Call]:
    """The ``torch.save(obj, P)`` of the same function that wrote the file ``load`` reads: the same path
    expression, earlier, with none of the names in it rebound in between (a temporary file, a
    ``BytesIO`` buffer, a test's ``tmp_path / "x.pt"``)."""
    if "save" not in ctx.source:
        return None
    path = load_path_arg(load)
    if path is None or isinstance(path, ast.Constant) and not isinstance(path.value, str):
        return None
    want = ast.dump(path)
    scope = ctx.scope_of(load)
    binds: Optional[Dict[str, List[Node]]] = None
    for n in walk_scope(scope):
        if not (isinstance(n, ast.Call) and ctx.is_torch(n.func, "torch.save")):
            continue
        p = _save_path_arg(n)
        if p is None or ast.dump(p) != want or (n.lineno, n.col_offset) >= (load.lineno, load.col_offset):
            continue
        if binds is None:
            binds = name_bindings(scope)
        if any(n.lineno < getattr(v, "lineno", 0) <= load.lineno for name in _names(path)
               for v in binds.get(name, ())):
            continue
        return n
    return None


def in_safe_globals_block(ctx: Context, call: ast.Call) -> bool:
    """``call`` is inside ``with torch.serialization.safe_globals([...]):`` (written for weights_only=True)."""
    if "safe_globals" not in ctx.source:
        return False
    for n in walk_scope(ctx.scope_of(call)):
        if not isinstance(n, (ast.With, ast.AsyncWith)):
            continue
        if not any(isinstance(i.context_expr, ast.Call) and ctx.is_torch(
                i.context_expr.func, "torch.serialization.safe_globals") for i in n.items):
            continue
        if any(sub is call for st in n.body for sub in ast.walk(st)):
            return True
    return False


def reads_of(scope: Node, name: str, after: int = 0) -> List[ast.Name]:
    """Every read of ``name`` in ``scope`` (nested functions included) on a line after ``after``."""
    stmts = getattr(scope, "body", None)  # (a lambda's body is one expression)
    body: List[Node] = stmts if isinstance(stmts, list) else [scope]
    out = []
    for st in body:
        for n in ast.walk(st):
            if isinstance(n, ast.Name) and n.id == name and isinstance(n.ctx, ast.Load) and n.lineno > after:
                out.append(n)
    return out
