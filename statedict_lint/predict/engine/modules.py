"""Module scopes and imports: loading module source, executing a module's top level lazily (bindings as thunks forced
on first use), imports, the catalog."""

from __future__ import annotations

import os
from typing import Any, List, Optional, Tuple

import libcst as cst

from statedict_lint.errors import UserError
from statedict_lint.predict.catalog import chunks as catalog_chunks
from statedict_lint.predict.engine.base import EngineBase
from statedict_lint.predict.engine.budget import BIG, _DecoratorBudget
from statedict_lint.predict.engine.common import _bound_names, _dotted, _target_names, _walk_stmts, alias_name
from statedict_lint.predict.engine.scopes import Frame, ModuleScope, Thunk
from statedict_lint.predict.libs import NOT_MINE
from statedict_lint.memo import LRU
from statedict_lint.predict.signals import Break, Continue, EvalRaise, GiveUp, Return
from statedict_lint.predict.values import (
    UNKNOWN_BOOL,
    ClassValue,
    FunctionValue,
    InstanceValue,
    NamespaceValue,
    Opaque,
    Repeated,
    SymKey,
    Unknown,
)
from statedict_lint.source.loader import SourceFile, module_name_of, parse_file, parse_text


class ModulesMixin(EngineBase):

    # -- modules -----------------------------------------------------------------------------
    def catalog(self) -> ModuleScope:
        """The catalog module. Its classes are parsed on first use: a run needs only a few of them."""
        if self._catalog is None:
            scope = ModuleScope(self, parse_text("", self.catalog_path, lines=False, cache=self.session.sources),
                                "statedict_lint.catalog.torch_nn", False)
            self._catalog = scope
            self.path_modules[self.catalog_path] = scope
            frame = Frame(scope, None)
            frame.locals = scope.values
            for name, chunk in _catalog_chunks(self.catalog_path, self.session.catalog_chunks):
                if name is not None:
                    scope.values[name] = Thunk("catalog", None, chunk)
                else:
                    sf = parse_text(chunk, self.catalog_path, lines=False, cache=self.session.sources)
                    self._exec_module_block(scope, frame, sf.module.body)
        return self._catalog

    def load_library_source(self, path: str, qualname: str) -> ModuleScope:
        """A library model's Python source (``catalog/transformers_runtime.py``): interpreted like user code, its
        lines never reported (parsed without a line map, so positions stay in the user's code)."""
        ap = os.path.abspath(path)
        if ap in self.path_modules:
            return self.path_modules[ap]
        scope = ModuleScope(self, parse_file(ap, lines=False, cache=self.session.sources), qualname, False)
        self.path_modules[ap] = scope
        self.modules.setdefault(qualname, scope)
        self.exec_module(scope)
        return scope

    def search_roots(self) -> List[str]:
        """Where module sources are looked up (the project's roots, then sys.path)."""
        return list(self.locator.roots)

    def load_path(self, path: str, qualname: Optional[str] = None, is_package: Optional[bool] = None) -> ModuleScope:
        ap = os.path.abspath(path)
        if ap in self.path_modules:
            return self.path_modules[ap]
        sf = parse_file(ap, lines=ap != self.catalog_path, cache=self.session.sources)
        if qualname is None:
            qualname = module_name_of(ap)
        if is_package is None:
            is_package = os.path.basename(ap) == "__init__.py"
        scope = ModuleScope(self, sf, qualname, is_package)
        self.path_modules[ap] = scope
        self.modules.setdefault(qualname, scope)
        self.exec_module(scope)
        return scope

    def import_module(self, dotted: str, line: int, path: str) -> Any:
        lib = self.libs.namespace(dotted)
        if lib is not None:
            return lib
        if dotted in self.modules:
            return self.modules[dotted].namespace if isinstance(self.modules[dotted], ModuleScope) else self.modules[dotted]
        found = self.locator.find(dotted)
        if found is None:
            result: Any = Unknown(f"cannot find the source of module `{dotted}` (import at line {line})", line, path)
            self.modules[dotted] = result
            return result
        fpath, is_pkg = found
        try:
            scope = self.load_path(fpath, dotted, is_pkg)
        except UserError as exc:
            result = Unknown(f"cannot read module `{dotted}`: {exc}", line, path)
            self.modules[dotted] = result
            return result
        self.modules[dotted] = scope
        return scope.namespace

    def resolve_relative(self, scope: ModuleScope, level: int, module: str) -> str:
        base = scope.qualname.split(".") if scope.qualname else []
        if not scope.is_package:
            base = base[:-1]
        if level > 1:
            base = base[: len(base) - (level - 1)] if level - 1 <= len(base) else []
        return ".".join([p for p in base + ([module] if module else []) if p])

    def exec_module(self, scope: ModuleScope) -> None:
        frame = Frame(scope, None)
        frame.locals = scope.values  # module level: locals are the globals
        self.loading += 1
        saved = (self.line, self.path, self.budget.step_limit)
        self.budget.step_limit = BIG  # (a module imported from a budgeted statement has budgets of its own)
        try:
            self._exec_module_block(scope, frame, scope.sf.module.body)
        finally:
            self.loading -= 1
            self.line, self.path, self.budget.step_limit = saved

    def _force_pending(self, scope: ModuleScope, stmt: Any) -> None:
        """Evaluate the module-level assignments still pending (lazy) that read something the statement about to
        run can reach: it may change it, and Python evaluated them before it. What it can reach: the names it
        mentions and, transitively, the names the functions and classes of this module it mentions mention.
        (Literals cannot change; imports bind modules and their names, which stay shared.)"""
        names = self.session.names
        reach = _reachable_names(scope, stmt, names)
        for name in list(scope.values):
            v = scope.values.get(name)
            if isinstance(v, Thunk) and v.kind == "assign" and not v.busy and not _is_literal(v.node.value) \
                    and (name in reach or not _names_of(v.node.value, names).isdisjoint(reach)):
                scope.lookup(name)

    def _module_failed(self, scope: ModuleScope, stmt: Any, exc: Any) -> None:
        """Module-level code the evaluation could not follow: what it binds is unknown, what it may change
        (globals declared in this module's functions, classes and containers it was given) is tainted."""
        sf = scope.sf
        line = sf.line(stmt)
        why = exc.reason if isinstance(exc, GiveUp) else exc.message if isinstance(exc, EvalRaise) else str(exc)
        reason = f"module-level code at line {line} cannot be evaluated ({why})"
        self.gap(reason, line, sf.path)
        self.taint_module_state(scope, reason)
        for name in _bound_names(stmt):
            scope.values[name] = Unknown(reason, line, sf.path)
        for name in _declared_globals(scope):
            if name in scope.values:
                scope.values[name] = Unknown(f"`{name}` may be changed by {reason}", line, sf.path)

    def _module_expr(self, scope: ModuleScope, frame: Frame, small: cst.Expr) -> None:
        """A module-level expression statement (a call, usually): Python runs it at import, in order."""
        node = small.value
        if not isinstance(node, (cst.Call, cst.Await)):
            return  # docstrings and bare names have no effect
        sf = scope.sf
        self.set_pos(sf, small)
        line = sf.line(small)
        if not isinstance(node, cst.Call):
            return
        func = self.eval(frame, node.func, sf) if _is_lookup(node.func) else None  # (no call evaluated twice)
        if isinstance(func, (Unknown, Opaque)):
            # an unmodelled library call: it cannot rebind this module's names, but may change what it is given
            for a in node.args:
                try:
                    v = self.eval(frame, a.value, sf)
                except (EvalRaise, GiveUp):
                    continue
                self._taint_given(v, f"passed to `{sf.code(node.func).strip()}` at line {line}, which is not "
                                     f"modelled", line, sf.path)
            return
        self._force_pending(scope, small)
        self.set_pos(sf, small)
        self.eval(frame, node, sf)

    def taint_module_state(self, scope: Any, reason: str) -> None:
        """Code that gave up at import may have added to the tables its module keeps (registries filled by
        decorators): a dict may hold other keys, a list or set other items. Once per module."""
        if not isinstance(scope, ModuleScope) or scope.state_tainted or self.in_catalog(scope.sf):
            return
        scope.state_tainted = True
        line, path = self.line, self.path
        for name, v in list(scope.values.items()):  # tables still pending (`_BLOCKS = []`) exist already
            if isinstance(v, Thunk) and v.kind == "assign" and not v.busy and _is_table(v.node.value):
                scope.lookup(name)
                self.line, self.path = line, path
        for name, v in list(scope.values.items()):
            if isinstance(v, (dict, list)):
                self._taint_given(v, f"filled at import by {reason}", line, path)
            elif isinstance(v, (set, frozenset)):
                scope.values[name] = Unknown(f"`{name}` may be filled at import by {reason}", line, path, False)

    def _taint_given(self, v: Any, reason: str, line: int, path: str) -> None:
        if isinstance(v, ClassValue) and v.node is not None:
            v.taint = Unknown(f"class `{v.name}` was {reason}", line, path)
        elif isinstance(v, dict):
            v[SymKey(Unknown(reason, line, path))] = Unknown(reason, line, path)
        elif isinstance(v, list):
            v.append(Repeated(Unknown(reason, line, path), Unknown(reason, line, path), "?"))
        elif isinstance(v, InstanceValue):
            v.tainted = Unknown(f"object of class `{getattr(v.cls, 'name', '?')}` was {reason}", line, path)

    def _exec_module_block(self, scope: ModuleScope, frame: Frame, body: Any) -> None:
        sf = scope.sf
        for stmt in body:
            start = self.budget.steps
            # one top-level statement (a script's `train()` at module level, say) gets IMPORT_STEPS steps;
            # past them it is a gap and its steps are given back to construction
            saved_limit = self.budget.limit_import(self.budget.import_steps)
            try:
                if isinstance(stmt, cst.BaseSmallStatement):
                    self._module_small(scope, frame, stmt)
                elif isinstance(stmt, cst.SimpleStatementLine):
                    for small in stmt.body:
                        self._module_small(scope, frame, small)
                elif isinstance(stmt, (cst.FunctionDef, cst.ClassDef)):
                    self.set_pos(sf, stmt)
                    self.exec_stmt(frame, stmt)
                elif isinstance(stmt, cst.If):
                    self._module_if(scope, frame, stmt)
                elif isinstance(stmt, cst.Try):
                    self._module_try(scope, frame, stmt)
                elif isinstance(stmt, cst.With):
                    self._exec_module_block(scope, frame, stmt.body.body)
                elif isinstance(stmt, (cst.For, cst.While)):  # import-time loops (registries, tables) run
                    self.set_pos(sf, stmt)
                    self._force_pending(scope, stmt)
                    self.exec_stmt(frame, stmt, sf)
                else:
                    self._module_failed(scope, stmt, GiveUp(f"unsupported statement {type(stmt).__name__}"))
            except (EvalRaise, GiveUp, Return, Break, Continue) as exc:
                if isinstance(exc, _DecoratorBudget) and saved_limit == BIG:
                    self.budget.steps = start
                    exc = GiveUp(f"it takes more than {self.budget.import_steps} steps at import")
                self._module_failed(scope, stmt, exc)
            finally:
                self.budget.step_limit = saved_limit
            if isinstance(stmt, (cst.SimpleStatementLine, cst.BaseSmallStatement, cst.For, cst.While)):
                self._globals_written(scope, stmt)

    def _globals_written(self, scope: ModuleScope, stmt: Any) -> None:
        """Module-level code writing the module's own namespace by means the evaluation does not follow
        (``globals().update(...)``, ``globals()[k] = v``, ``setattr(sys.modules[__name__], k, v)``, ``vars()``):
        the names it may write are unknown from this point on - the ones it names with a literal, or every name
        of the module (but its imports) when they cannot be told."""
        sf = scope.sf
        markers = ("globals(", "vars(", "locals(", "sys.modules", "__dict__")
        if not any(m in sf.text for m in markers):
            return  # (a statement's code is a slice of its file: no code generation needed to say no)
        code = sf.code(stmt)
        if not any(m in code for m in markers):
            return
        names = _namespace_writes(stmt)
        if names == set():
            return
        line = sf.line(stmt.body[0] if isinstance(stmt, cst.SimpleStatementLine) else stmt)
        reason = f"the module's names are written at line {line} (`{code.strip().splitlines()[0][:60]}`), " \
                 f"which is not modelled"
        if names is None:
            self.gap(reason, line, sf.path)
            for name, v in list(scope.values.items()):
                if name == "__name__" or isinstance(v, Thunk) and v.kind in ("import", "importfrom") \
                        or isinstance(v, NamespaceValue):
                    continue
                scope.values[name] = Unknown(f"`{name}` may be changed: {reason}", line, sf.path)
        else:
            for name in sorted(names):
                scope.values[name] = Unknown(f"`{name}` is changed: {reason}", line, sf.path)

    def _module_small(self, scope: ModuleScope, frame: Frame, small: Any) -> None:
        if isinstance(small, (cst.Import, cst.ImportFrom)):
            self.exec_import(frame, small, scope.sf, lazy=True)
        elif isinstance(small, (cst.Assign, cst.AnnAssign)):
            targets = [t.target for t in small.targets] if isinstance(small, cst.Assign) else [small.target]
            if small.value is None:
                return
            if len(targets) == 1 and isinstance(targets[0], cst.Name):
                scope.values[targets[0].value] = Thunk("assign", small)
            else:  # `Cfg.dim = 5`, `TABLE["x"] = ...`: changes state pending bindings may read
                self._force_pending(scope, small)
                self.set_pos(scope.sf, small)
                self.exec_small(frame, small, scope.sf)
        elif isinstance(small, cst.AugAssign):
            self._force_pending(scope, small)
            self.set_pos(scope.sf, small)
            try:
                self.exec_small(frame, small, scope.sf)
            except (EvalRaise, GiveUp):
                for name in _target_names(small.target):
                    scope.values[name] = Unknown("module-level augmented assignment failed", scope.sf.line(small), scope.sf.path)
        elif isinstance(small, cst.Del):
            for name in _target_names(small.target):
                scope.values.pop(name, None)
        elif isinstance(small, cst.Expr):
            self._module_expr(scope, frame, small)

    def _module_if(self, scope: ModuleScope, frame: Frame, stmt: cst.If) -> None:
        sf = scope.sf
        test = stmt.test
        # (`if __name__ == "__main__":` is evaluated like any test: the model's file is imported, by torch and
        # by `verify`, never run as a script, so `__name__` is the module's name and the guard is not taken)
        if _is_type_checking(test):
            return
        self.set_pos(sf, stmt)
        try:
            cond = self.truth(self.eval(frame, test, sf))
        except (EvalRaise, GiveUp):
            cond = UNKNOWN_BOOL
        if cond is True:
            self._exec_module_block(scope, frame, stmt.body.body)
        elif cond is False:
            if isinstance(stmt.orelse, cst.If):
                self._module_if(scope, frame, stmt.orelse)
            elif isinstance(stmt.orelse, cst.Else):
                self._exec_module_block(scope, frame, stmt.orelse.body.body)
        else:
            for name in _bound_names(stmt):
                scope.values[name] = Unknown(f"`{name}` is defined under a condition at module level "
                                             f"(line {sf.line(stmt)}) that cannot be decided", sf.line(stmt), sf.path)

    def _module_try(self, scope: ModuleScope, frame: Frame, stmt: cst.Try) -> None:
        # try/except around imports: the try body is taken when every module it imports can be found
        # (it is what Python does when the import succeeds). When one cannot be found here, whether the
        # import succeeds depends on where the model runs: every name either branch binds is unknown (and a
        # condition on it gives conditional keys), never the handler's value as certain.
        ok = True
        missing = ""
        for node in _walk_stmts(stmt.body.body):
            if isinstance(node, cst.Import):
                for alias in node.names:
                    dotted = _dotted(alias.name)
                    if self.import_module(dotted, scope.sf.line(node), scope.sf.path) is None or \
                            isinstance(self.import_module(dotted, scope.sf.line(node), scope.sf.path), Unknown):
                        ok = False
                        missing = missing or dotted
            elif isinstance(node, cst.ImportFrom):
                mod = self._importfrom_module(scope, node)
                target = self.import_module(mod, scope.sf.line(node), scope.sf.path)
                if isinstance(target, Unknown):
                    ok = False
                    missing = missing or mod
                elif isinstance(target, NamespaceValue) and not isinstance(node.names, cst.ImportStar):
                    for alias in node.names:
                        if isinstance(self.getattr_ns(target, _dotted(alias.name), scope.sf.line(node), scope.sf.path), Unknown):
                            ok = False
                            missing = missing or f"{mod}.{_dotted(alias.name)}"
        if not ok and stmt.handlers:
            line = scope.sf.line(stmt)
            names: List[str] = []
            for block in [stmt.body] + [h.body for h in stmt.handlers] + ([stmt.orelse.body] if stmt.orelse else []):
                for sub in block.body:
                    names.extend(n for n in _bound_names(sub) if n not in names)
            for name in names:
                scope.values[name] = Unknown(
                    f"`{name}` depends on whether `{missing}` can be imported where the model runs (try/except "
                    f"ImportError at line {line}); its source is not found here", line, scope.sf.path)
            if stmt.finalbody is not None:
                self._exec_module_block(scope, frame, stmt.finalbody.body.body)
            return
        if ok:
            self._exec_module_block(scope, frame, stmt.body.body)
            if stmt.orelse is not None:
                self._exec_module_block(scope, frame, stmt.orelse.body.body)
        elif stmt.handlers:
            self._exec_module_block(scope, frame, stmt.handlers[0].body.body)
        if stmt.finalbody is not None:
            self._exec_module_block(scope, frame, stmt.finalbody.body.body)

    def _unfound_import(self, scope: ModuleScope, stmt: cst.Try, sf: SourceFile) -> str:
        """The first module imported directly in a try body whose source cannot be found here ("" if none)."""
        for node in _walk_stmts(stmt.body.body):
            if isinstance(node, cst.Import):
                for alias in node.names:
                    dotted = _dotted(alias.name)
                    if isinstance(self.import_module(dotted, sf.line(node), sf.path), Unknown):
                        return dotted
            elif isinstance(node, cst.ImportFrom):
                mod = self._importfrom_module(scope, node)
                if isinstance(self.import_module(mod, sf.line(node), sf.path), Unknown):
                    return mod
        return ""

    def _importfrom_module(self, scope: ModuleScope, node: cst.ImportFrom) -> str:
        mod = _dotted(node.module) if node.module is not None else ""
        level = len(node.relative)
        if level:
            return self.resolve_relative(scope, level, mod)
        return mod

    def force_thunk(self, scope: ModuleScope, name: str, thunk: Thunk) -> Any:
        saved = (self.line, self.path)
        try:
            if thunk.kind == "assign":
                node = thunk.node
                self.set_pos(scope.sf, node)
                frame = Frame(scope, None)
                frame.locals = scope.values
                try:
                    return self.eval(frame, node.value, scope.sf)
                except (EvalRaise, GiveUp) as exc:
                    return Unknown(f"module-level `{name}` cannot be evaluated: {exc}", scope.sf.line(node), scope.sf.path)
            if thunk.kind == "importfrom":
                mod, attr, line = thunk.extra
                modelled = self.libs.override(f"{mod}.{attr}")  # answered before the module's source is read
                if modelled is not NOT_MINE:
                    return modelled
                target = self.import_module(mod, line, scope.sf.path)
                if isinstance(target, Unknown):
                    return Unknown(f"`{name}` comes from module `{mod}` (import at line {line}), whose source "
                                   f"cannot be found", line, scope.sf.path)
                return self.getattr_ns(target, attr, line, scope.sf.path)
            if thunk.kind == "import":
                dotted, line = thunk.extra
                return self.import_module(dotted, line, scope.sf.path)
            if thunk.kind == "catalog":
                sf = parse_text(thunk.extra, self.catalog_path, lines=False, cache=self.session.sources)
                frame = Frame(scope, None)
                frame.locals = scope.values
                scope.values[name] = None
                self.exec_stmt(frame, sf.module.body[0], sf)
                return scope.values[name]
        finally:
            self.line, self.path = saved
        return Unknown(f"`{name}` cannot be evaluated")

    def getattr_ns(self, ns: NamespaceValue, attr: str, line: int, path: str) -> Any:
        if ns.scope is None:
            return self.libs.attribute(ns, attr)
        sub = f"{ns.qualname}.{attr}" if ns.qualname else attr
        modelled = self.libs.override(sub)
        if modelled is not NOT_MINE:
            return modelled
        found, v = ns.scope.lookup(attr)
        if found:
            return v
        if ns.scope.is_package:
            target = self.import_module(sub, line, path)
            if not isinstance(target, Unknown):
                return target
        return Unknown(f"module `{ns.qualname}` has no readable definition of `{attr}`", line, path)

    def exec_import(self, frame: Frame, node: Any, sf: SourceFile, lazy: bool) -> None:
        line = sf.line(node)
        scope = frame.scope
        if isinstance(node, cst.Import):
            for alias in node.names:
                dotted = _dotted(alias.name)
                name = alias_name(alias)
                if name is not None:
                    frame.locals[name] = Thunk("import", node, (dotted, line)) if lazy else self.import_module(dotted, line, sf.path)
                else:
                    top = dotted.split(".")[0]
                    frame.locals[top] = Thunk("import", node, (top, line)) if lazy else self.import_module(top, line, sf.path)
            return
        mod = self._importfrom_module(scope, node)
        if isinstance(node.names, cst.ImportStar):
            scope.star.append((mod, line))
            return
        for alias in node.names:
            attr = _dotted(alias.name)
            name = alias.asname.name.value if alias.asname is not None else attr
            if lazy:
                frame.locals[name] = Thunk("importfrom", node, (mod, attr, line))
            else:
                target = self.import_module(mod, line, sf.path)
                frame.locals[name] = target if isinstance(target, Unknown) else self.getattr_ns(target, attr, line, sf.path)


def _catalog_chunks(path: str, table: LRU[Any]) -> List[Tuple[Optional[str], str]]:
    """The catalog's top-level statements as (class/function name or None, source chunk), held by the session;
    the split itself (predict/catalog: lexical, no ``ast`` parse of the catalog) is made once per process and
    shared with ``STATELESS``."""
    key = (path, os.path.getmtime(path))
    hit = table.get(key)
    if hit is None:
        hit = table[key] = catalog_chunks(path)
    return hit


def _declared_globals(scope: Any) -> set:
    """Names declared ``global`` anywhere in a module's functions (computed once per module)."""
    hit = getattr(scope, "declared_globals", None)
    if hit is None:
        found: set = set()

        class V(cst.CSTVisitor):
            def visit_Global(self, node: cst.Global) -> None:
                found.update(n.name.value for n in node.names)

        scope.sf.module.visit(V())
        hit = scope.declared_globals = found
    return hit


_LITERALS = (cst.Integer, cst.Float, cst.SimpleString, cst.Imaginary, cst.Ellipsis)


def _names_of(node: Any, table: LRU[Any]) -> frozenset:
    """Every Name mentioned in a node (cached per node in the session's ``names`` table, which keeps the node)."""
    hit = table.get(id(node))
    if hit is not None and hit[0] is node:
        return hit[1]
    found: set = set()

    class V(cst.CSTVisitor):
        def visit_Name(self, n: cst.Name) -> None:
            found.add(n.value)

    node.visit(V())
    out = frozenset(found)
    table[id(node)] = (node, out)
    return out


def _reachable_names(scope: Any, stmt: Any, table: LRU[Any]) -> set:
    """The names a module-level statement mentions, and (transitively) those mentioned by the functions and
    classes of the same module among them: what running it may read or change."""
    reach: set = set()
    todo = list(_names_of(stmt, table))
    while todo:
        n = todo.pop()
        if n in reach:
            continue
        reach.add(n)
        v = scope.values.get(n)
        node = v.node if isinstance(v, (FunctionValue, ClassValue)) and v.scope is scope else None
        if isinstance(node, (cst.FunctionDef, cst.ClassDef)):
            todo.extend(x for x in _names_of(node, table) if x not in reach)
    return reach


def _is_lookup(node: Any) -> bool:
    """A name or a chain of attributes of one (evaluating it calls nothing but properties)."""
    while isinstance(node, cst.Attribute):
        node = node.value
    return isinstance(node, cst.Name)


def _is_literal(node: Any) -> bool:
    """An expression whose value depends on no name (numbers, strings, containers of them, True/False/None)."""
    if isinstance(node, _LITERALS):
        return True
    if isinstance(node, cst.Name):
        return node.value in ("True", "False", "None")
    if isinstance(node, (cst.List, cst.Tuple, cst.Set)):
        return all(not isinstance(e, cst.StarredElement) and _is_literal(e.value) for e in node.elements)
    if isinstance(node, cst.Dict):
        return all(isinstance(e, cst.DictElement) and _is_literal(e.key) and _is_literal(e.value) for e in node.elements)
    if isinstance(node, cst.UnaryOperation):
        return _is_literal(node.expression)
    return False


_NS_CALLS = ("globals", "vars", "locals")


def _is_ns_expr(node: Any) -> bool:
    """``globals()``, ``vars()``, ``locals()`` (at module level: the module's namespace), ``sys.modules[...]``."""
    if isinstance(node, cst.Call) and isinstance(node.func, cst.Name) and node.func.value in _NS_CALLS \
            and not node.args:
        return True
    if isinstance(node, cst.Subscript) and _dotted(node.value) == "sys.modules":
        return True
    if isinstance(node, cst.Attribute) and node.attr.value == "__dict__":
        return _is_ns_expr(node.value)
    return False


def _literal_str(node: Any) -> Optional[str]:
    if isinstance(node, cst.SimpleString):
        v = node.evaluated_value
        return v if isinstance(v, str) else None
    return None


def _namespace_writes(stmt: Any) -> Optional[set]:
    """The names a module-level statement writes through its module's namespace object: a set (empty when it
    does not touch the namespace), or None when which names cannot be told from the source."""
    found: set = set()
    unknown = [False]

    class V(cst.CSTVisitor):
        def visit_Call(self, node: cst.Call) -> Optional[bool]:
            f = node.func
            if isinstance(f, cst.Attribute) and _is_ns_expr(f.value):  # globals().update(...) / .setdefault
                if f.attr.value in ("get", "keys", "items", "values", "copy", "__contains__"):
                    return False
                if f.attr.value == "update" and all(a.keyword is not None and a.star == "" for a in node.args):
                    found.update(a.keyword.value for a in node.args if a.keyword is not None)
                elif f.attr.value == "update" and len(node.args) == 1 and isinstance(node.args[0].value, cst.Dict) \
                        and all(isinstance(e, cst.DictElement) and _literal_str(e.key) is not None
                                for e in node.args[0].value.elements):
                    found.update(s for e in node.args[0].value.elements
                                 if isinstance(e, cst.DictElement) and (s := _literal_str(e.key)) is not None)
                elif f.attr.value in ("setdefault", "pop", "__setitem__", "__delitem__") and node.args \
                        and _literal_str(node.args[0].value) is not None:
                    found.add(_literal_str(node.args[0].value))
                else:
                    unknown[0] = True
                return False
            if isinstance(f, cst.Name) and f.value in ("setattr", "delattr") and node.args \
                    and _is_ns_expr(node.args[0].value):
                name = _literal_str(node.args[1].value) if len(node.args) > 1 else None
                if name is None:
                    unknown[0] = True
                else:
                    found.add(name)
                return False
            if _is_ns_expr(node):
                unknown[0] = True  # handed somewhere the evaluation does not follow
            return None

        def visit_Subscript(self, node: cst.Subscript) -> Optional[bool]:
            if _is_ns_expr(node.value):
                el = node.slice[0].slice if len(node.slice) == 1 else None
                name = _literal_str(el.value) if isinstance(el, cst.Index) else None
                if name is None:
                    unknown[0] = True
                else:
                    found.add(name)
                return False
            if _dotted(node.value) == "sys.modules":
                unknown[0] = True
                return False
            return None

        def visit_FunctionDef(self, node: cst.FunctionDef) -> bool:
            return False

        def visit_Lambda(self, node: cst.Lambda) -> bool:
            return False

    stmt.visit(V())
    return None if unknown[0] else found


_TABLE_CALLS = frozenset(("list", "dict", "set", "OrderedDict", "collections.OrderedDict", "defaultdict",
                          "collections.defaultdict"))


def _is_table(node: Any) -> bool:
    """A module-level value that is a fresh container (a registry a decorator or metaclass may fill)."""
    if isinstance(node, (cst.List, cst.Dict, cst.Set, cst.ListComp, cst.DictComp, cst.SetComp)):
        return True
    return isinstance(node, cst.Call) and _dotted(node.func) in _TABLE_CALLS


def _is_type_checking(test: Any) -> bool:
    return _dotted(test) in ("TYPE_CHECKING", "typing.TYPE_CHECKING")
