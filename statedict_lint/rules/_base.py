"""Rule framework: the ``Rule`` base class and the per-file ``Context`` every rule reads.

Rules work on the stdlib ``ast`` tree (flake8 hands us the tree it already parsed). Names are resolved
with a small import map of our own (``import torch as T``, ``from torch import nn, load``, ...); a name
that cannot be resolved to torch resolves to ``None`` and rules stay silent on it.
"""

from __future__ import annotations

import ast
import os
import re
from typing import Dict, Iterable, Iterator, List, Optional, Sequence, Set, Tuple, Union

from statedict_lint.codes import CODES, kebab
from statedict_lint.rules.session import LintSession
from statedict_lint.torchfacts import MODULE_SELF_RETURNING

Node = ast.AST
# what a finding points at: a node, or (line, column) for one that no node of the file stands for (SDL800)
Where = Union[Node, Tuple[int, int]]
SCOPE_TYPES = (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda, ast.ClassDef)

# torch.nn names that are not nn.Module subclasses even though they are capitalised
NOT_MODULES = {"Parameter", "UninitializedParameter", "UninitializedBuffer", "Buffer"}
TENSOR_FACTORIES = {"zeros", "ones", "empty", "full", "rand", "randn", "randint", "arange", "eye",
                    "linspace", "logspace", "tensor", "as_tensor", "from_numpy", "zeros_like",
                    "ones_like", "empty_like", "full_like", "rand_like", "randn_like", "randperm",
                    "Tensor", "FloatTensor", "LongTensor"}
PARAMETER_CTORS = {"torch.nn.Parameter", "torch.nn.parameter.Parameter"}


class Rule:
    """One lint rule. Subclasses set ``code`` and the docs attributes and implement ``check``; the rule's name is
    its class name in kebab-case and its default and level come from the code's entry in ``statedict_lint.codes``
    (the one registry; ``tests/test_rules.py`` checks that file, class and registry names agree)."""

    code: str = ""
    name: str = ""  # kebab-case name of the flagged pattern: derived from the class name
    message: str = ""  # default message (check may yield a more specific one)
    default_enabled: bool = True  # from the registry: False for SDL9xx (off unless selected)
    severity: str = "error"  # from the registry
    what: str = ""
    why: str = ""
    example: str = ""
    use_instead: str = ""
    valid: List[str] = []
    invalid: List[str] = []
    needs: Tuple[str, ...] = ("torch",)  # textual pre-filter: the file must mention one of these
    hint: str = ""  # regex (MULTILINE) of the lines this rule's nodes start on; "" = imports/defs only

    def __init_subclass__(cls, **kwargs: object) -> None:
        super().__init_subclass__(**kwargs)
        cls.name = kebab(cls.__name__)
        if cls.code:
            entry = CODES[cls.code]
            cls.default_enabled, cls.severity = entry.default_enabled, entry.severity

    def check(self, ctx: "Context") -> Iterable[Tuple[Where, str]]:  # pragma: no cover - abstract
        raise NotImplementedError


def dotted(node: Node) -> Optional[str]:
    """``a.b.c`` for a chain of attributes on a name, else None."""
    parts: List[str] = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if isinstance(node, ast.Name):
        parts.append(node.id)
        return ".".join(reversed(parts))
    return None


def kwarg(call: ast.Call, name: str) -> Optional[ast.expr]:
    for kw in call.keywords:
        if kw.arg == name:
            return kw.value
    return None


def has_star_kwargs(call: ast.Call) -> bool:
    return any(kw.arg is None for kw in call.keywords) or any(isinstance(a, ast.Starred) for a in call.args)


def is_const(node: Optional[Node], value: object) -> bool:
    return isinstance(node, ast.Constant) and node.value is value


def walk_scope(root: Node) -> Iterator[Node]:
    """Every node inside ``root`` (a function, module or class body) without entering nested scopes."""
    if isinstance(root, ast.Lambda):
        stack: List[Node] = [root.body]
    else:
        stack = list(reversed(getattr(root, "body", [])))
    while stack:
        node = stack.pop()
        yield node
        if isinstance(node, SCOPE_TYPES):
            # decorators / defaults / bases belong to the enclosing scope, bodies do not
            if isinstance(node, ast.ClassDef):
                stack.extend(reversed(node.decorator_list + node.bases))
            elif not isinstance(node, ast.Lambda):
                stack.extend(reversed(node.decorator_list))
            continue
        stack.extend(reversed(list(ast.iter_child_nodes(node))))


_ALWAYS = r"^[ \t]*(?:import|from|class)[ \t]"
_RX: Dict[str, "re.Pattern[str]"] = {}  # the rules' hint patterns, compiled once (as many as there are rules)


class Context:
    """What rules know about one file: its tree, its imports and its nn.Module classes.

    For speed the tree is not walked whole: only statements spanning an *interesting* line (one that
    matches a rule's ``hint`` regex, or an import/class/def line) are entered. Rules that need every
    node of one function or class walk that subtree themselves (``walk_scope``).
    """

    def __init__(self, tree: ast.Module, source: str, path: str = "", hints: Sequence[str] = (),
                 session: Optional[LintSession] = None) -> None:
        self.tree = tree
        self.session = session or LintSession()  # the lint run's options and caches
        self.source = source
        self.path = path
        self.imports: Dict[str, Optional[str]] = {}
        # local name -> (module, name, level) of every `from M import name` (relative ones too)
        self.from_imports: Dict[str, Tuple[str, str, int]] = {}
        self.calls: List[ast.Call] = []
        self.assigns: List[ast.Assign] = []
        # for statements and comprehensions on interesting lines
        self.loops: List[Union[ast.For, ast.AsyncFor, ast.ListComp, ast.SetComp, ast.GeneratorExp, ast.DictComp]] = []
        self.functions: List[Union[ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda]] = []
        # what one rule worked out about this file for another (or for its next call), under a name it chooses
        self.memo: Dict[str, object] = {}
        self.classes: List[ast.ClassDef] = []
        self.discarded: Set[int] = set()  # id() of calls whose value is thrown away (expression statements)
        self.scope: Dict[int, Node] = {}  # id(node) -> innermost enclosing function/class/module
        offsets: List[int] = []
        for h in dict.fromkeys([_ALWAYS] + [h for h in hints if h]):
            rx = _RX.get(h)
            if rx is None:
                rx = _RX[h] = re.compile(h, re.MULTILINE)
            offsets.extend(m.start() for m in rx.finditer(source))
        offsets.sort()
        lines: List[int] = []
        pos, line = 0, 1
        for off in offsets:
            line += source.count("\n", pos, off)
            pos = off
            if not lines or lines[-1] != line:
                lines.append(line)
        self.lines = lines
        self._collect(lines)
        self.module_classes = self._module_classes()

    # -- collection -------------------------------------------------------------------------------
    def _bind(self, local: str, target: str) -> None:
        old = self.imports.get(local, target)
        self.imports[local] = target if old == target else None  # conflicting imports: unknown

    def _collect(self, lines: List[int]) -> None:
        from bisect import bisect_left

        assigned_globals: Set[str] = set()
        nlines = len(lines)
        stack: List[Tuple[Node, Node]] = [(c, self.tree) for c in reversed(self.tree.body)]
        while stack:
            node, scope = stack.pop()
            lo = getattr(node, "lineno", None)
            if lo is not None and isinstance(node, (ast.stmt, ast.expr)):
                hi = getattr(node, "end_lineno", None) or lo
                i = bisect_left(lines, lo)
                if i >= nlines or lines[i] > hi:
                    continue  # nothing interesting inside
            self.scope[id(node)] = scope
            inner = scope
            if isinstance(node, ast.Call):
                self.calls.append(node)
            elif isinstance(node, ast.Expr):
                if isinstance(node.value, ast.Call):
                    self.discarded.add(id(node.value))
            elif isinstance(node, ast.Assign):
                self.assigns.append(node)
                if scope is self.tree:
                    for t in node.targets:
                        if isinstance(t, ast.Name):
                            assigned_globals.add(t.id)
            elif isinstance(node, (ast.For, ast.AsyncFor, ast.ListComp, ast.SetComp, ast.GeneratorExp,
                                   ast.DictComp)):
                self.loops.append(node)
            elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
                self.functions.append(node)
                inner = node
            elif isinstance(node, ast.ClassDef):
                self.classes.append(node)
                inner = node
            elif isinstance(node, ast.Import):
                for a in node.names:
                    if a.asname:
                        self._bind(a.asname, a.name)
                    else:
                        top = a.name.split(".")[0]
                        self._bind(top, top)
                continue
            elif isinstance(node, ast.ImportFrom):
                for a in node.names:
                    if a.name != "*":
                        self.from_imports[a.asname or a.name] = (node.module or "", a.name, node.level or 0)
                if not node.level and node.module:
                    for a in node.names:
                        if a.name != "*":
                            self._bind(a.asname or a.name, f"{node.module}.{a.name}")
                continue
            if inner is not scope and isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda,
                                                        ast.ClassDef)):
                # decorators, defaults and bases belong to the enclosing scope
                outer_parts: List[Node] = list(getattr(node, "decorator_list", []))
                if isinstance(node, ast.ClassDef):
                    outer_parts += node.bases + [k.value for k in node.keywords]
                elif not isinstance(node, ast.Lambda):
                    outer_parts += [d for d in node.args.defaults + node.args.kw_defaults if d is not None]
                for c in reversed(outer_parts):
                    stack.append((c, scope))
                body: List[Node] = [node.body] if isinstance(node, ast.Lambda) else list(node.body)
                for c in reversed(body):
                    stack.append((c, inner))
                continue
            for c in reversed(list(ast.iter_child_nodes(node))):
                stack.append((c, scope))
        for name in assigned_globals:  # `torch = None` at module level: no longer sure what the name is
            if name in self.imports:
                self.imports[name] = None

    def scope_of(self, node: Node) -> Node:
        return self.scope.get(id(node), self.tree)

    def _module_classes(self) -> Set[str]:
        """Names of classes in this file that subclass torch.nn.Module (directly or via each other)."""
        found: Set[str] = set()
        changed = True
        while changed:
            changed = False
            for cls in self.classes:
                if cls.name in found:
                    continue
                for b in cls.bases:
                    q = self.qualname(b)
                    if (q is not None and q.startswith("torch.nn.") and q.rsplit(".", 1)[-1][:1].isupper()
                            and q.rsplit(".", 1)[-1] not in NOT_MODULES) or (
                            isinstance(b, ast.Name) and b.id in found):
                        found.add(cls.name)
                        changed = True
                        break
        return found

    def class_of_method(self, func: Node) -> Optional[ast.ClassDef]:
        """The nn.Module subclass of this file that ``func`` is a method of, else None."""
        cls = self.scope.get(id(func))
        if isinstance(cls, ast.ClassDef) and cls.name in self.module_classes and func in cls.body:
            return cls
        return None

    # -- resolution -------------------------------------------------------------------------------
    def qualname(self, node: Node) -> Optional[str]:
        """Canonical dotted name of an expression built from an imported name, or None."""
        d = dotted(node)
        if d is None:
            return None
        head, _, rest = d.partition(".")
        base = self.imports.get(head)
        if base is None:
            return None
        q = f"{base}.{rest}" if rest else base
        if q.startswith("torch.nn.modules."):
            q = "torch.nn." + q.rsplit(".", 1)[-1]
        return q

    def is_torch(self, node: Node, *names: str) -> bool:
        return self.qualname(node) in names

    def is_module_ctor(self, node: Node, cross_file: bool = False) -> bool:
        """``nn.Linear(...)``, ``MyNet(...)`` (an nn.Module class of this file), ``X(...).to(dev)``.

        With ``cross_file``, also ``Net(...)`` for ``from model import Net`` when the project's
        ``model.py`` defines ``Net`` as an nn.Module subclass (read with ``ast``, never imported).
        """
        while (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
               and node.func.attr in MODULE_SELF_RETURNING and isinstance(node.func.value, ast.Call)):
            node = node.func.value
        if not isinstance(node, ast.Call):
            return False
        f = node.func
        if isinstance(f, ast.Name) and f.id in self.module_classes and f.id not in self.imports:
            return True
        if cross_file and isinstance(f, ast.Name) and self.is_project_module_class(f.id):
            return True
        q = self.qualname(f)
        if q is None or not q.startswith("torch.nn."):
            return False
        last = q.rsplit(".", 1)[-1]
        return q.count(".") == 2 and last[:1].isupper() and last not in NOT_MODULES

    def is_project_module_class(self, local: str, depth: int = 0) -> bool:
        """``local`` was imported with ``from M import C`` and the project's file for ``M`` defines ``C`` as
        an nn.Module subclass (directly, through its own classes, or re-exported, 3 hops at most)."""
        spec = self.from_imports.get(local)
        if spec is None or depth > 3 or self.imports.get(local, "") is None:
            return False
        module, name, level = spec
        if not level and (module == "torch" or module.startswith("torch.")):
            return False
        facts = self.session.project
        path = facts.project_module_file(self.path, module, level)
        if path is None or os.path.abspath(path) == os.path.abspath(self.path or ""):
            return False
        key = (path, name)
        known = self.session.module_classes
        if key not in known:
            known[key] = False  # cycles end here
            parsed = facts.parse_file(path)
            known[key] = parsed is not None and Context(parsed[0], parsed[1], path,
                                                        session=self.session).defines_module_class(name, depth)
        return known[key]

    def defines_module_class(self, name: str, depth: int = 0) -> bool:
        """This file binds ``name`` at module level to an nn.Module subclass (its own class, an alias
        ``Model = DetectionModel``, a subclass of a project class, or a re-export)."""
        for _ in range(4):
            alias = [n.value.id for n in self.tree.body if isinstance(n, ast.Assign) and len(n.targets) == 1
                     and isinstance(n.targets[0], ast.Name) and n.targets[0].id == name
                     and isinstance(n.value, ast.Name)]
            if len(alias) != 1:
                break
            name = alias[0]
        defs = [c for c in self.classes if c.name == name and self.scope_of(c) is self.tree]
        if len(defs) == 1:
            if name in self.module_classes:
                return True
            return any(isinstance(b, ast.Name) and (b.id in self.module_classes or self.is_project_module_class(
                b.id, depth + 1)) for b in defs[0].bases)
        if not defs and name in self.from_imports:
            return self.is_project_module_class(name, depth + 1)
        return False

    def is_optimizer_ctor(self, node: Node) -> bool:
        if not isinstance(node, ast.Call):
            return False
        q = self.qualname(node.func)
        if q is None or not q.startswith("torch.optim."):
            return False
        parts = q.split(".")
        return len(parts) == 3 and parts[2][:1].isupper() and parts[2] != "Optimizer" or (
            len(parts) == 4 and parts[2] in ("adam", "adamw", "sgd", "rmsprop", "adagrad", "lbfgs")
            and parts[3][:1].isupper())

    def is_parameter_ctor(self, node: Node) -> bool:
        return isinstance(node, ast.Call) and self.qualname(node.func) in PARAMETER_CTORS

    def is_tensor_factory(self, node: Node) -> bool:
        if not isinstance(node, ast.Call):
            return False
        q = self.qualname(node.func)
        return q is not None and q.startswith("torch.") and q.count(".") == 1 and q[6:] in TENSOR_FACTORIES


def position(node: Node) -> Tuple[int, int]:
    """(line, column) of a node; (0, 0) for the few kinds without one (``ast.comprehension``, ``ast.arguments``)."""
    return getattr(node, "lineno", 0), getattr(node, "col_offset", 0)


def nearest_before(bindings: Iterable[Node], line: int) -> Optional[Node]:
    """The last of ``bindings`` (``name_bindings`` values) on a line before ``line``, or None (nodes without a
    line are left out)."""
    before = [v for v in bindings if getattr(v, "lineno", line) < line]
    return max(before, key=position) if before else None


def name_bindings(scope: Node) -> Dict[str, List[Node]]:
    """For a function/module: local name -> every expression or node that binds it in this scope.

    Plain ``x = value`` records ``value``; any other binding form (loop target, ``with ... as``,
    augmented assignment, parameter, tuple unpacking, walrus, import, del, global) records the binding
    node itself, which no rule treats as a known value.
    """
    out: Dict[str, List[Node]] = {}

    def add(name: str, value: Node) -> None:
        out.setdefault(name, []).append(value)

    if isinstance(scope, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
        a = scope.args
        for arg in a.posonlyargs + a.args + a.kwonlyargs + ([a.vararg] if a.vararg else []) + (
                [a.kwarg] if a.kwarg else []):
            add(arg.arg, arg)
    for node in walk_scope(scope):
        if isinstance(node, ast.Assign):
            for t in node.targets:
                if isinstance(t, ast.Name):
                    add(t.id, node.value)
                else:
                    for n in _target_names(t):
                        add(n.id, t)
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            add(node.target.id, node.value if node.value is not None else node)
        elif isinstance(node, (ast.AugAssign, ast.For, ast.AsyncFor, ast.comprehension)):
            for n in _target_names(node.target):
                add(n.id, node)
        elif isinstance(node, (ast.With, ast.AsyncWith)):
            for item in node.items:
                if item.optional_vars is not None:
                    for sub in ast.walk(item.optional_vars):
                        if isinstance(sub, ast.Name):
                            add(sub.id, node)
        elif isinstance(node, ast.NamedExpr):
            add(node.target.id, node)
        elif isinstance(node, (ast.Global, ast.Nonlocal)):
            for name in node.names:
                add(name, node)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            for al in node.names:
                add((al.asname or al.name).split(".")[0], node)
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            add(node.name, node)
        elif isinstance(node, ast.ExceptHandler) and node.name:
            add(node.name, node)
        elif isinstance(node, ast.Delete):
            for t in node.targets:
                if isinstance(t, ast.Name):
                    add(t.id, node)
    return out


def _target_names(t: Node) -> List[ast.Name]:
    """Names (re)bound by an assignment target: ``a``, ``a, (b, *c)``; not ``a[i]`` or ``a.b``."""
    if isinstance(t, ast.Name):
        return [t]
    if isinstance(t, (ast.Tuple, ast.List)):
        return [n for e in t.elts for n in _target_names(e)]
    if isinstance(t, ast.Starred):
        return _target_names(t.value)
    return []


def self_name(func: Node) -> Optional[str]:
    """The first parameter's name of a method (``self``), None for anything else."""
    if not isinstance(func, (ast.FunctionDef, ast.AsyncFunctionDef)):
        return None
    pos = func.args.posonlyargs + func.args.args
    if not pos:
        return None
    if any(isinstance(d, ast.Name) and d.id in ("staticmethod", "classmethod") for d in func.decorator_list):
        return None
    return pos[0].arg
