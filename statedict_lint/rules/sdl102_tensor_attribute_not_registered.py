"""SDL102 tensor-attribute-not-registered."""

from __future__ import annotations

import ast
from typing import Iterable, List, Optional, Sequence, Tuple

from statedict_lint.rules._base import Context, Node, Rule, self_name

_TENSOR_CHAIN = {"to", "cuda", "cpu", "float", "double", "half", "bfloat16", "long", "int", "bool",
                 "view", "reshape", "unsqueeze", "squeeze", "expand", "repeat", "t", "transpose",
                 "permute", "contiguous", "clone", "detach", "fill_", "zero_", "normal_", "uniform_",
                 "triu", "tril", "requires_grad_"}


class TensorAttributeNotRegistered(Rule):
    code = "SDL102"
    hint = r"""=[^=\n]*\b(?:zeros|ones|empty|full|rand|randn|randint|arange|eye|linspace|logspace|tensor|as_tensor|from_numpy|zeros_like|ones_like|empty_like|full_like|rand_like|randn_like|randperm|Tensor|FloatTensor|LongTensor)\("""
    message = ("self.{attr} is a plain tensor, neither a parameter nor a buffer: it is missing from "
               "state_dict() and .to(device) does not move it; use self.register_buffer(\"{attr}\", ...) "
               "(persistent=False if it should not be saved) or nn.Parameter")
    what = ("Flags `self.x = <tensor>` in the `__init__` of an `nn.Module`, where `<tensor>` is built by a "
            "`torch` factory (`torch.zeros(...)`), a tensor method chain on one (`torch.ones(n, n).tril()`), a "
            "torch function of one (`torch.tril(torch.ones(n, n))`, the causal-mask idiom) or arithmetic "
            "with one, when `x` is never registered: no `register_buffer(\"x\", ...)`, no "
            "`self.x = nn.Parameter(...)` on every path of `__init__`. A registration under an `if` with no "
            "registering `else` does not count (the attribute stays a plain tensor when the condition is "
            "false); writes into the tensor (`self.x[0] = 1`, `self.x += 1`) are not registrations. Silent "
            "when another method rebinds `x` (it may register it), and in classes that save, load or move "
            "their state themselves (they or a base class of the file define `_save_to_state_dict`, "
            "`state_dict`, `_load_from_state_dict` or `_apply`, as torch's quantized modules do).")
    why = ("Only parameters and buffers are part of the module's state. A plain tensor attribute is not "
           "saved or loaded with the state_dict, so a learned or computed value is lost on reload, and "
           "`model.to('cuda')` leaves it on the CPU: a device-mismatch error at the first forward, or a "
           "silent copy every step.")
    example = """\
class PositionalEncoding(nn.Module):
    def __init__(self, n, d):
        super().__init__()
        self.pe = torch.zeros(n, d)
"""
    use_instead = """\
class PositionalEncoding(nn.Module):
    def __init__(self, n, d):
        super().__init__()
        self.register_buffer("pe", torch.zeros(n, d), persistent=False)
"""
    valid = [
        "import torch\nimport torch.nn as nn\nclass M(nn.Module):\n    def __init__(self):\n"
        "        super().__init__()\n        self.register_buffer('pe', torch.zeros(4, 4))\n",
        "import torch\nimport torch.nn as nn\nclass M(nn.Module):\n    def __init__(self):\n"
        "        super().__init__()\n        self.w = nn.Parameter(torch.zeros(4, 4))\n",
        "import torch\nimport torch.nn as nn\nclass M(nn.Module):\n    def __init__(self):\n"
        "        super().__init__()\n        self.w = torch.zeros(4)\n        self.w = nn.Parameter(self.w)\n",
        "import torch\nclass NotAModule:\n    def __init__(self):\n        self.w = torch.zeros(4)\n",
        "import torch.nn as nn\nclass M(nn.Module):\n    def __init__(self):\n        super().__init__()\n"
        "        self.w = zeros(4)  # unresolved name\n",
    ]
    invalid = [
        "import torch\nimport torch.nn as nn\nclass M(nn.Module):\n    def __init__(self, n, d):\n"
        "        super().__init__()\n        self.pe = torch.zeros(n, d)\n",
        "import torch as T\nfrom torch import nn\nclass M(nn.Module):\n    def __init__(self):\n"
        "        super().__init__()\n        self.mask = T.ones(8, 8).tril().bool()\n",
        "import torch\nfrom torch import nn\nclass Attn(nn.Module):\n    def __init__(self, block_size):\n"
        "        super().__init__()\n        self.mask = torch.tril(torch.ones(block_size, block_size))\n",
        "import torch\nimport torch.nn as nn\nclass M(nn.Module):\n    def __init__(self, learn_logvar=False):\n"
        "        super().__init__()\n        self.logvar = torch.full((10,), 0.0)\n        if learn_logvar:\n"
        "            self.logvar = nn.Parameter(self.logvar)\n",
        "import torch\nimport torch.nn as nn\nclass M(nn.Module):\n    def __init__(self, n):\n"
        "        super().__init__()\n        self.mask = torch.zeros(n, n)\n        self.mask[0, :] = 1\n",
        "import torch\nimport torch.nn as nn\nclass Rope(nn.Module):\n    def __init__(self, dim, base=10000):\n"
        "        super().__init__()\n        self.inv_freq = 1.0 / (base ** (torch.arange(0, dim, 2).float() / dim))\n",
    ]

    def check(self, ctx: Context) -> Iterable[Tuple[Node, str]]:
        if not ctx.module_classes:
            return
        for n in ctx.assigns:
            if len(n.targets) != 1:
                continue
            t = n.targets[0]
            if not (isinstance(t, ast.Attribute) and isinstance(t.value, ast.Name)):
                continue
            if not is_tensor_expr(ctx, n.value):
                continue
            meth = ctx.scope_of(n)
            if getattr(meth, "name", None) != "__init__" or self_name(meth) != t.value.id:
                continue
            cls = ctx.class_of_method(meth)
            if cls is None or _custom_state(ctx, cls):
                continue
            verdict = _later(ctx, cls, meth, n, t.value.id, t.attr)
            if verdict is None:
                continue
            msg = self.message.format(attr=t.attr)
            if verdict:
                msg += f"; it is registered only under the `if` at line {verdict}, so it stays a plain tensor otherwise"
            yield n, msg


_CUSTOM_STATE = {"_save_to_state_dict", "state_dict", "_load_from_state_dict", "_apply"}


def _custom_state(ctx: Context, cls: ast.ClassDef, depth: int = 0) -> bool:
    """The class (or a base class of this file) saves or moves its state itself: a plain tensor attribute may
    well be in its state_dict (packed, as torch's quantized modules do) or moved by its own ``_apply``."""
    if depth > 8:
        return True
    if any(isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef)) and n.name in _CUSTOM_STATE for n in cls.body):
        return True
    for b in cls.bases:
        if isinstance(b, ast.Name):
            for other in ctx.classes:
                if other.name == b.id and other is not cls and _custom_state(ctx, other, depth + 1):
                    return True
    return False


_TORCH_TENSOR_FUNCS = {"tril", "triu", "outer", "exp", "log", "sin", "cos", "sqrt", "rsqrt", "pow", "cat",
                       "stack", "diag", "diagflat", "flip", "roll", "cumsum", "cumprod", "polar", "where",
                       "meshgrid", "einsum", "matmul", "mm", "bmm", "clamp", "abs", "sigmoid", "softmax",
                       "logical_not", "masked_fill", "repeat_interleave", "kron", "cartesian_prod", "ones_like",
                       "zeros_like", "full_like", "empty_like", "rand_like", "randn_like"}


def is_tensor_expr(ctx: Context, v: Node, depth: int = 0) -> bool:
    """A torch tensor built here: a factory, a tensor method chain on one (``.tril().bool()``), a torch
    function of one (``torch.tril(torch.ones(n, n))``), or arithmetic with one (``1.0 / (b ** torch.arange(...))``)."""
    if depth > 8:
        return False
    if ctx.is_tensor_factory(v):
        return True
    if isinstance(v, ast.Call):
        f = v.func
        if isinstance(f, ast.Attribute) and f.attr in _TENSOR_CHAIN and isinstance(f.value, (ast.Call, ast.BinOp)):
            return is_tensor_expr(ctx, f.value, depth + 1)
        q = ctx.qualname(f)
        if q is not None and q.startswith("torch.") and q.count(".") == 1 and q[6:] in _TORCH_TENSOR_FUNCS:
            args = [a for a in v.args if not isinstance(a, ast.Starred)]
            if args and isinstance(args[0], (ast.List, ast.Tuple)):
                args = list(args[0].elts)
            return any(is_tensor_expr(ctx, a, depth + 1) for a in args)
        return False
    if isinstance(v, ast.BinOp):
        return is_tensor_expr(ctx, v.left, depth + 1) or is_tensor_expr(ctx, v.right, depth + 1)
    if isinstance(v, ast.UnaryOp) and isinstance(v.op, ast.USub):
        return is_tensor_expr(ctx, v.operand, depth + 1)
    return False


_BUFFER_CTORS = ("torch.nn.Buffer", "torch.nn.parameter.Buffer")
_REGISTER = ("register_buffer", "register_parameter", "register_module", "add_module", "__setattr__")


Mention = Tuple[Node, Node, Optional[Node]]  # (method, statement, value: None for `self.x: T` without one)


def _mentions(cls: ast.ClassDef, attr: str) -> List[Mention]:
    """(method, statement, value) for every other place that (re)binds ``self.<attr>``: an assignment with it
    as a whole target (not ``self.x[i] = ...`` nor ``self.x += ...``), register_*/add_module("x"), setattr."""
    out: List[Mention] = []
    for meth in cls.body:
        if not isinstance(meth, (ast.FunctionDef, ast.AsyncFunctionDef)):
            continue
        s = self_name(meth)
        for n in ast.walk(meth):
            if isinstance(n, (ast.Assign, ast.AnnAssign)):
                targets = n.targets if isinstance(n, ast.Assign) else [n.target]
                for t in targets:
                    elts = t.elts if isinstance(t, (ast.Tuple, ast.List)) else [t]
                    for e in elts:
                        if (isinstance(e, ast.Attribute) and e.attr == attr and isinstance(e.value, ast.Name)
                                and e.value.id == s):
                            out.append((meth, n, n.value if len(elts) == 1 else n))
            elif isinstance(n, ast.Call):
                f = n.func
                if (isinstance(f, ast.Attribute) and f.attr in _REGISTER and n.args
                        and isinstance(n.args[0], ast.Constant) and n.args[0].value == attr):
                    out.append((meth, n, n))
                elif (isinstance(f, ast.Name) and f.id in ("setattr", "delattr") and len(n.args) >= 2
                      and isinstance(n.args[1], ast.Constant) and n.args[1].value == attr):
                    out.append((meth, n, n))
    return out


def _later(ctx: Context, cls: ast.ClassDef, init: Node, assign: ast.Assign, s: str, attr: str):
    """None when ``self.<attr>`` may end up registered (stay silent); "" when it stays a plain tensor;
    the line of the condition when it is registered only on one branch of an ``if`` in ``__init__``."""
    others = [m for m in _mentions(cls, attr) if m[1] is not assign]
    cond_line = ""
    for meth, stmt, value in others:
        if meth is not init:
            return None  # another method may register it: unknown
        if _exclusive(init, assign, stmt):
            continue  # the other branch of an `if`: never both
        if value is not None and value is not stmt and is_tensor_expr(ctx, value):
            continue  # a plain tensor again
        registers = value is stmt or (value is not None and ctx.is_parameter_ctor(value)) or (
            isinstance(value, ast.Call) and ctx.qualname(value.func) in _BUFFER_CTORS)
        path = _path_to(init, stmt)
        if path is None:
            return None
        conds = [p for p in path if not isinstance(p, (ast.With, ast.AsyncWith))
                 and not (isinstance(p, ast.Try) and _in_list(p.body, stmt))]
        if not conds or not registers:
            return None  # registered on every path, or rebound to something unknown
        top = conds[0]
        if not isinstance(top, ast.If) or _registers_on_both(top, others):
            return None  # a loop or handler (unknown), or registered on both branches
        cond_line = str(top.lineno)
    return cond_line


def _exclusive(root: Node, a: Node, b: Node) -> bool:
    """``a`` and ``b`` sit in different branches of one ``if`` of ``root``."""
    for n in ast.walk(root):
        if isinstance(n, ast.If) and n.orelse:
            if (_in_list(n.body, a) and _in_list(n.orelse, b)) or (_in_list(n.orelse, a) and _in_list(n.body, b)):
                return True
    return False


def _in_list(stmts: Sequence[Node], node: Node) -> bool:
    return any(x is node for st in stmts for x in ast.walk(st))


def _path_to(root: Node, target: Node) -> Optional[List[Node]]:
    """Compound statements from ``root``'s body down to ``target`` (outermost first)."""
    def rec(stmts: List[Node], acc: List[Node]) -> Optional[List[Node]]:
        for st in stmts:
            compound = isinstance(st, (ast.If, ast.For, ast.While, ast.With, ast.Try, ast.AsyncFor, ast.AsyncWith))
            if st is target or (not compound and _in_list([st], target)):
                return acc
            for field in ("body", "orelse", "finalbody"):
                sub = getattr(st, field, None)
                if isinstance(sub, list) and sub and _in_list(sub, target):
                    return rec(sub, acc + [st])
            for h in getattr(st, "handlers", []) or []:
                if _in_list(h.body, target):
                    return rec(h.body, acc + [st, h])
            if isinstance(st, (ast.If, ast.While)) and _in_list([st.test], target):
                return acc + [st]
        return None
    return rec(getattr(root, "body", []), [])


def _registers_on_both(node: ast.If, others: List[Mention]) -> bool:
    stmts = [m[1] for m in others]
    return bool(node.orelse) and any(_in_list(node.body, x) for x in stmts) and any(
        _in_list(node.orelse, x) for x in stmts)
