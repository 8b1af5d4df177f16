"""SDL902 state-dict-key-substring-filter (opinionated, off by default)."""

from __future__ import annotations

import ast
import re
from typing import Iterable, List, NamedTuple, Optional, Sequence, Tuple

from statedict_lint.rules._base import Context, Node, Rule, dotted, name_bindings, nearest_before, walk_scope

_INDEX = re.compile(r"\.[0-9]+$")  # a prefix that ends in a container index: "blocks.1"
_TOKEN = re.compile(r"^[A-Za-z_][A-Za-z0-9_.]*[0-9]$")
_SD_NAMES = re.compile(r"(^|_)(state_dict|statedict|sd|ckpt|checkpoint|weights|params|pretrained_dict|"
                       r"model_dict|own_state)$")


class StateDictKeySubstringFilter(Rule):
    code = "SDL902"
    hint = r"""startswith\(|\d["'] *(?:not +)?in\b"""
    message = ("state_dict key matched by {how} {lit!r}: also matches {other!r}; compare a whole dotted "
               "component, e.g. k.startswith({fix!r})")
    needs = ("state_dict", "torch", "ckpt", "checkpoint")
    what = ("Flags a filter on state_dict keys that tests a name ending in a digit by substring "
            "(`\"fc1\" in k`), or a container index by a prefix without its dot "
            "(`k.startswith(\"blocks.1\")`), where `k` "
            "iterates over a state_dict (the result of `.state_dict()` or `torch.load`, or a variable "
            "named like one). A literal whose last number is 0 (`blocks.0`, `ln0`) cannot collide and is "
            "not flagged. Off by default: on real code most such filters are correct *for the model they "
            "were written for* (it has fewer than 10 siblings), so this is a robustness opinion, not a "
            "proven bug. Enable with `--extend-select SDL902`. A filter whose result reaches "
            "`load_state_dict(..., strict=False)` in the same function is SDL009 (on by default) instead.")
    why = ("Keys are dotted paths. `\"fc1\" in k` is also true for `fc10.weight` and `enc.fc1x.bias`, and "
           "`k.startswith(\"blocks.1\")` also selects `blocks.10` to `blocks.19`: the filter freezes, drops "
           "or renames more layers than intended, silently.")
    example = """\
state = {k: v for k, v in model.state_dict().items() if "layer1" in k}
"""
    use_instead = """\
state = {k: v for k, v in model.state_dict().items() if k.startswith("layer1.")}
"""
    valid = [
        "import torch\nsd = {k: v for k, v in model.state_dict().items() if k.startswith('layer1.')}\n",
        "import torch\nsd = {k: v for k, v in model.state_dict().items() if 'fc' in k}\n",
        "import torch\nsd = {k: v for k, v in state_dict.items() if not k.startswith('norm1')}  # a name, not an index\n",
        "import torch\nfor name in names:\n    if 'fc1' in name:\n        pass\n",
        "import torch\nsd = {k[7:]: v for k, v in state_dict.items() if k.startswith('module')}\n",
    ]
    invalid = [
        "import torch\nsd = {k: v for k, v in model.state_dict().items() if 'layer1' in k}\n",
        "import torch\nstate_dict = torch.load(p, map_location='cpu', weights_only=True)\nfor k in list(state_dict):\n"
        "    if k.startswith('blocks.1'):\n        del state_dict[k]\n",
        "import torch\ndef strip(sd):\n    return {k: v for k, v in sd.items() if 'head2' not in k}\n",
    ]

    def check(self, ctx: Context) -> Iterable[Tuple[Node, str]]:
        for loop, test, msg, _key in substring_filters(ctx, self.message):
            if flows_into_partial_load(ctx, loop, test) is None:  # those are SDL009, on by default
                yield test, msg


class _Filters(NamedTuple):
    message: str
    found: List[Tuple[Node, Node, str, str]]


def substring_filters(ctx: Context, message: str) -> List[Tuple[Node, Node, str, str]]:
    """(loop, test, message, key variable) for every digit-ending substring / index-prefix test on keys of a
    loop over a state_dict (a for statement or a comprehension)."""
    cached = ctx.memo.get("substring-filters")
    if isinstance(cached, _Filters) and cached.message == message:
        return cached.found
    out: List[Tuple[Node, Node, str, str]] = []
    binds_cache: dict = {}
    for n in ctx.loops:
        loops: List[Tuple[Node, Node, Sequence[Node]]]  # (target, iterable, where the key is tested)
        if isinstance(n, (ast.For, ast.AsyncFor)):
            loops = [(n.target, n.iter, n.body)]
        else:
            head: List[Node] = [n.key, n.value] if isinstance(n, ast.DictComp) else [n.elt]
            loops = [(g.target, g.iter, head + list(g.ifs)) for g in n.generators]
        for target, it, body in loops:
            scope = ctx.scope_of(n)
            key = _key_var(ctx, target, it, binds_cache, scope)
            if key is None:
                continue
            out.extend((n, t, m, key) for t, m in _tests(message, body, key))
    ctx.memo["substring-filters"] = _Filters(message, out)
    return out


def _tests(message: str, body: Sequence[Node], key: str) -> Iterable[Tuple[Node, str]]:
    for stmt in body:
        for n in ast.walk(stmt):
            if (isinstance(n, ast.Compare) and len(n.ops) == 1 and isinstance(n.ops[0], (ast.In, ast.NotIn))
                    and isinstance(n.comparators[0], ast.Name) and n.comparators[0].id == key):
                lit = _lit(n.left)
                if lit:
                    yield n, message.format(how="substring", lit=lit, other=lit + "0" + ".weight", fix=lit + ".")
            elif (isinstance(n, ast.Call) and isinstance(n.func, ast.Attribute)
                  and n.func.attr == "startswith" and isinstance(n.func.value, ast.Name)
                  and n.func.value.id == key and len(n.args) == 1):
                arg = n.args[0]
                lits = [arg] if not isinstance(arg, ast.Tuple) else list(arg.elts)
                for a in lits:
                    lit = _lit(a)
                    if lit and _INDEX.search(lit):
                        yield n, message.format(how="prefix", lit=lit, other=lit + "0.weight", fix=lit + ".")
                        break


def _strict_false_loads(ctx: Context, scope: Node) -> List[ast.Call]:
    from statedict_lint.rules.sdl001_load_state_dict_result_ignored import is_strict_false_load

    return [n for n in walk_scope(scope) if isinstance(n, ast.Call) and is_strict_false_load(n) and n.args]


def flows_into_partial_load(ctx: Context, loop: Node, test: Node) -> Optional[ast.Call]:
    """The ``load_state_dict(..., strict=False)`` the filtered dict reaches in the same scope, else None:
    ``{k: v for k, v in sd.items() if "fc1" in k}`` passed inline or through a name, or a for loop that
    deletes / pops from the dict it iterates (or fills another) that is then loaded."""
    scope = ctx.scope_of(loop)
    if isinstance(loop, ast.DictComp):
        loads = _strict_false_loads(ctx, scope)
        for c in loads:
            if c.args[0] is loop:
                return c
        names = [t.id for a in ctx.assigns if a.value is loop for t in a.targets if isinstance(t, ast.Name)]
        if len(names) != 1:
            return None
        binds = name_bindings(scope).get(names[0], [])
        for c in loads:
            if isinstance(c.args[0], ast.Name) and c.args[0].id == names[0] and c.lineno > loop.lineno:
                if nearest_before(binds, c.lineno) is loop:
                    return c
        return None
    if isinstance(loop, (ast.For, ast.AsyncFor)):
        touched = set()
        for st in loop.body:
            for n in ast.walk(st):
                if isinstance(n, ast.Delete):
                    touched |= {t.value.id for t in n.targets if isinstance(t, ast.Subscript)
                                and isinstance(t.value, ast.Name)}
                elif (isinstance(n, ast.Call) and isinstance(n.func, ast.Attribute) and n.func.attr == "pop"
                      and isinstance(n.func.value, ast.Name)):
                    touched.add(n.func.value.id)
                elif isinstance(n, ast.Assign):
                    touched |= {t.value.id for t in n.targets if isinstance(t, ast.Subscript)
                                and isinstance(t.value, ast.Name)}
        end = getattr(loop, "end_lineno", loop.lineno)
        for c in _strict_false_loads(ctx, scope):
            if isinstance(c.args[0], ast.Name) and c.args[0].id in touched and c.lineno > end:
                return c
    return None


def _lit(node: Node) -> Optional[str]:
    if isinstance(node, ast.Constant) and isinstance(node.value, str) and _TOKEN.match(node.value) and \
            any(c.isalpha() for c in node.value):
        if re.search(r"(?<![0-9])0$", node.value):  # "blocks.0", "ln0": no other number starts with 0
            return None
        return node.value
    return None


def _key_var(ctx: Context, target: Node, it: Node, cache: dict, scope: Node) -> Optional[str]:
    """The loop variable holding state_dict keys, when ``it`` iterates a state_dict's keys or items."""
    inner = it
    if isinstance(inner, ast.Call) and isinstance(inner.func, ast.Name) and inner.func.id in ("list", "sorted") \
            and len(inner.args) == 1:
        inner = inner.args[0]
    method = None
    if isinstance(inner, ast.Call) and isinstance(inner.func, ast.Attribute) and inner.func.attr in (
            "keys", "items") and not inner.args:
        method = inner.func.attr
        inner = inner.func.value
    if not isinstance(target, (ast.Name, ast.Tuple)):
        return None
    if not _is_state_dict(ctx, inner, cache, scope):
        return None
    if method == "items":
        if isinstance(target, ast.Tuple) and len(target.elts) == 2 and isinstance(target.elts[0], ast.Name):
            return target.elts[0].id
        return None
    return target.id if isinstance(target, ast.Name) else None


def _is_state_dict(ctx: Context, node: Node, cache: dict, scope: Node, depth: int = 0) -> bool:
    if isinstance(node, ast.Call):
        if isinstance(node.func, ast.Attribute) and node.func.attr == "state_dict" and not node.args:
            return True
        return ctx.is_torch(node.func, "torch.load", "safetensors.torch.load_file")
    d = dotted(node)
    if d is None:
        return False
    last = d.rsplit(".", 1)[-1]
    if _SD_NAMES.search(last.lower()):
        return True
    if isinstance(node, ast.Name) and depth < 3:
        if id(scope) not in cache:
            cache[id(scope)] = name_bindings(scope)
        vals = cache[id(scope)].get(node.id) or []
        return bool(vals) and all(isinstance(v, ast.expr) and _is_state_dict(ctx, v, cache, scope, depth + 1)
                                  for v in vals)
    return False
