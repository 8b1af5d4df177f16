"""Statements: blocks, simple statements, ``with``, ``try``, assignment and ``del``."""

from __future__ import annotations

from typing import Any, Callable, Dict, Iterator, List, Optional, Tuple

import libcst as cst

from statedict_lint.predict.engine.base import EngineBase
from statedict_lint.predict.engine.common import _walk_stmts
from statedict_lint.predict.engine.scopes import Frame
from statedict_lint.memo import LRU
from statedict_lint.predict.signals import Break, Continue, EvalRaise, GiveUp, Return
from statedict_lint.predict.symbolic import Sym
from statedict_lint.predict.values import (
    UNKNOWN_BOOL,
    ClassValue,
    ContextGenerator,
    FunctionValue,
    InstanceValue,
    ModuleValue,
    Opaque,
    Repeated,
    SymRange,
    TableView,
    Unknown,
)
from statedict_lint.source.loader import SourceFile, iter_children


class StatementsMixin(EngineBase):

    # -- statements --------------------------------------------------------------------------
    def exec_block(self, frame: Frame, body: Any, sf: SourceFile, top: bool = False) -> None:
        """Run a block. ``top``: it is a function's whole body (falling off its end returns None)."""
        stmts = body.body if isinstance(body, (cst.IndentedBlock, cst.SimpleStatementSuite)) else body
        stmts = list(stmts)
        i = 0
        while i < len(stmts):
            stmt = stmts[i]
            if isinstance(stmt, cst.If) and _has_jump(stmt, self.session.jumps):
                cond = self._if_truth(frame, stmt, sf)
                if cond is UNKNOWN_BOOL:
                    self._fork_if_with_rest(frame, stmt, stmts[i + 1:], sf, top)
                    return
            self.exec_stmt(frame, stmt, sf)
            i += 1

    # The handler of each compound statement type and of each simple statement type (method names, bound once
    # per Evaluator: ``statement_handlers``, ``small_handlers``).
    STATEMENT_HANDLERS: Dict[type, str] = {
        cst.If: "exec_if", cst.For: "exec_for", cst.While: "exec_while", cst.FunctionDef: "define_function",
        cst.ClassDef: "define_class", cst.With: "_exec_with_stmt", cst.Try: "exec_try",
    }
    SMALL_HANDLERS: Dict[type, str] = {
        cst.Assign: "_exec_assign", cst.AnnAssign: "_exec_annassign", cst.AugAssign: "_exec_augassign",
        cst.Expr: "_exec_expr", cst.Return: "_exec_return", cst.Pass: "_exec_pass", cst.Break: "_exec_break",
        cst.Continue: "_exec_continue", cst.Raise: "_exec_raise", cst.Assert: "_exec_assert", cst.Del: "_exec_del",
        cst.Import: "_exec_import_stmt", cst.ImportFrom: "_exec_import_stmt", cst.Global: "_exec_global",
        cst.Nonlocal: "_exec_nonlocal",
    }

    def exec_stmt(self, frame: Frame, stmt: Any, sf: Optional[SourceFile] = None) -> None:
        sf = sf or frame.scope.sf
        self.budget.tick()
        if type(stmt) is cst.SimpleStatementLine:
            for small in stmt.body:
                self.set_pos(sf, small)
                self.exec_small(frame, small, sf)
            return
        self.set_pos(sf, stmt)
        handler = self.statement_handlers.get(type(stmt))
        if handler is not None:
            handler(frame, stmt, sf)
        elif isinstance(stmt, cst.BaseSmallStatement):  # body of a one-line suite: `if x: y = 1`
            self.exec_small(frame, stmt, sf)
        else:
            raise GiveUp(f"unsupported statement {type(stmt).__name__}")

    def _exec_with_stmt(self, frame: Frame, stmt: cst.With, sf: SourceFile) -> None:
        self.exec_with(frame, stmt, list(stmt.items), sf)

    def exec_with(self, frame: Frame, stmt: cst.With, items: List[Any], sf: SourceFile) -> None:
        """``with a, b: body``: a context manager read from source (a class with ``__enter__``/``__exit__``, a
        ``@contextmanager`` generator) runs its enter code, the body, then its exit code, as Python does. Any
        other value (library context managers: torch.no_grad, ...) only runs the body."""
        if not items:
            self.exec_block(frame, stmt.body, sf)
            return
        item, rest = items[0], items[1:]
        v = self.eval(frame, item.item, sf)
        line = sf.line(item.item)
        text = sf.code(item.item).strip()
        enter: Any = None
        if isinstance(v, InstanceValue) and isinstance(v.cls, ClassValue):
            fn_enter, o_enter = v.cls.find("__enter__")
            fn_exit, o_exit = v.cls.find("__exit__")
            if o_enter is not None or o_exit is not None:
                if not (isinstance(fn_enter, FunctionValue) and isinstance(fn_exit, FunctionValue)):
                    raise GiveUp(f"context manager `{text}` (line {line}) cannot be evaluated")
                enter = self.call_function(fn_enter, [v], {}, owner=o_enter)

                def leave() -> None:
                    self.call_function(fn_exit, [v, None, None, None], {}, owner=o_exit)
        elif isinstance(v, ContextGenerator):
            gen_frame, after, enter = self._generator_enter(v, text, line)

            def leave() -> None:
                self._generator_exit(v, gen_frame, after)
        else:
            enter = v

            def leave() -> None:
                return None
        if item.asname is not None:
            self.assign(frame, item.asname.name, enter, sf)
        try:
            self.exec_with(frame, stmt, rest, sf)
        except (Return, Break, Continue):
            leave()
            raise
        except EvalRaise as exc:
            if isinstance(v, (InstanceValue, ContextGenerator)):  # (its exit code may suppress the exception)
                raise GiveUp(f"an exception inside `with {text}` (line {line}), which is not modelled: "
                             f"{exc.message}")
            raise
        leave()

    def _generator_enter(self, cm: ContextGenerator, text: str, line: int) -> Tuple[Frame, List[Any], Any]:
        """Run a ``@contextmanager`` function up to its one ``yield`` (a statement of its body, or of a ``try``
        that has only a ``finally``): its frame, the code left to run on exit, and the yielded value."""
        fn = cm.func
        why = f"context manager `{text}` (line {line}) cannot be evaluated"
        body = list(fn.node.body.body) if isinstance(fn.node, cst.FunctionDef) else []
        yields = [n for n in _yields_in(fn.node)] if body else []
        if len(yields) != 1:
            raise GiveUp(f"{why}: its generator does not yield exactly once")
        before: List[Any] = []
        after: List[Any] = []
        value_node: Any = None
        found = False
        for stmt in body:
            if found:
                after.append(stmt)
                continue
            y = _yield_stmt(stmt)
            if y is not None:
                value_node, found = y, True
            elif isinstance(stmt, cst.Try) and any(_yield_stmt(s) is not None for s in stmt.body.body) \
                    and not stmt.handlers and stmt.orelse is None:
                inner = list(stmt.body.body)
                k = next(i for i, s in enumerate(inner) if _yield_stmt(s) is not None)
                before.extend(inner[:k])
                value_node, found = _yield_stmt(inner[k]), True
                after.extend(inner[k + 1:])
                if stmt.finalbody is not None:
                    after.extend(stmt.finalbody.body.body)
            elif any(True for _ in _yields_in(stmt)):
                raise GiveUp(f"{why}: its `yield` is not a statement of its body (or of a try/finally)")
            else:
                before.append(stmt)
        gen_frame = Frame(fn.scope, fn.closure, fn, fn.owner)
        gen_frame.locals = self.bind_args(fn, cm.args, cm.kwargs)
        self.budget.depth += 1
        try:
            self.exec_block(gen_frame, before, fn.sf)
            value = self.eval(gen_frame, value_node, fn.sf)
        except (Return, Break, Continue):
            raise GiveUp(f"{why}: it returns before its `yield`")
        finally:
            self.budget.depth -= 1
        return gen_frame, after, value

    def _generator_exit(self, cm: ContextGenerator, gen_frame: Frame, after: List[Any]) -> None:
        self.budget.depth += 1
        try:
            self.exec_block(gen_frame, after, cm.func.sf)
        except Return:
            pass  # (the generator stops: the with statement goes on)
        finally:
            self.budget.depth -= 1

    def exec_small(self, frame: Frame, small: Any, sf: SourceFile) -> None:
        if isinstance(small, (cst.Assign, cst.AnnAssign)) and isinstance(small.value, cst.IfExp):
            # `x = a if c else b` with an undecidable c is `if c: x = a / else: x = b`: both branches run
            test = self.eval(frame, small.value.test, sf)
            if self.truth(test) is UNKNOWN_BOOL:
                targets = [t.target for t in small.targets] if isinstance(small, cst.Assign) else [small.target]
                node = small.value

                def assign_from(expr: Any) -> Callable[[Frame], None]:
                    def run(fr: Frame) -> None:
                        v = self.eval(fr, expr, sf)
                        for t in targets:
                            self.assign(fr, t, v, sf)
                    return run

                text = self._cond_text(sf, node.test, test, frame)
                conds = (f"{text} (line {self.line})", f"not {text} (line {self.line})")
                if isinstance(test, (Opaque, Sym)):  # an unbound constructor value: a switch (render, keys)
                    self.switch_conditions.update(conds)
                self.fork(frame, [(conds[0], assign_from(node.body)), (conds[1], assign_from(node.orelse))])
                return
        handler = self.small_handlers.get(type(small))
        if handler is None:
            raise GiveUp(f"unsupported statement {type(small).__name__}")
        handler(frame, small, sf)

    def _exec_assign(self, frame: Frame, small: cst.Assign, sf: SourceFile) -> None:
        value = self.eval(frame, small.value, sf)
        for t in small.targets:
            self.assign(frame, t.target, value, sf)

    def _exec_annassign(self, frame: Frame, small: cst.AnnAssign, sf: SourceFile) -> None:
        if small.value is not None:
            self.assign(frame, small.target, self.eval(frame, small.value, sf), sf)

    def _exec_augassign(self, frame: Frame, small: cst.AugAssign, sf: SourceFile) -> None:
        op = _AUG_OPS[type(small.operator)]
        cur = self.eval(frame, small.target, sf)
        rhs = self.eval(frame, small.value, sf)
        if op == "+" and isinstance(cur, list):
            items = self.iterate(rhs, sf)
            if isinstance(items, Unknown):
                cur.append(Repeated(items, Unknown("unknown count"), "?"))
                return
            cur.extend(self._maybe_repeated(items))
            return
        if op == "+" and isinstance(cur, ModuleValue) and cur.container in ("ModuleList", "Sequential"):
            self.torch.container_extend(cur, rhs)
            return
        self.assign(frame, small.target, self.binop(op, cur, rhs), sf)

    def _exec_expr(self, frame: Frame, small: cst.Expr, sf: SourceFile) -> None:
        self.eval(frame, small.value, sf)

    def _exec_return(self, frame: Frame, small: cst.Return, sf: SourceFile) -> None:
        raise Return(None if small.value is None else self.eval(frame, small.value, sf))

    def _exec_pass(self, frame: Frame, small: cst.Pass, sf: SourceFile) -> None:
        return

    def _exec_break(self, frame: Frame, small: cst.Break, sf: SourceFile) -> None:
        raise Break()

    def _exec_continue(self, frame: Frame, small: cst.Continue, sf: SourceFile) -> None:
        raise Continue()

    def _exec_raise(self, frame: Frame, small: cst.Raise, sf: SourceFile) -> None:
        text = sf.code(small).strip()
        raise EvalRaise(f"`{text}`", self.line, self.path)

    def _exec_assert(self, frame: Frame, small: cst.Assert, sf: SourceFile) -> None:
        t = self.truth(self.eval(frame, small.test, sf))
        if t is False:
            raise EvalRaise(f"`{sf.code(small).strip()}` fails", self.line, self.path)

    def _exec_del(self, frame: Frame, small: cst.Del, sf: SourceFile) -> None:
        self.delete(frame, small.target, sf)

    def _exec_import_stmt(self, frame: Frame, small: Any, sf: SourceFile) -> None:
        self.exec_import(frame, small, sf, lazy=False)

    def _exec_global(self, frame: Frame, small: cst.Global, sf: SourceFile) -> None:
        if frame.locals is not frame.scope.values:
            frame.globals = (frame.globals or set()) | {n.name.value for n in small.names}
            for n in small.names:
                frame.locals.pop(n.name.value, None)

    def _exec_nonlocal(self, frame: Frame, small: cst.Nonlocal, sf: SourceFile) -> None:
        frame.nonlocals = (frame.nonlocals or set()) | {n.name.value for n in small.names}
        for n in small.names:
            frame.locals.pop(n.name.value, None)

    def exec_try(self, frame: Frame, stmt: cst.Try, sf: SourceFile) -> None:
        missing = self._unfound_import(frame.scope, stmt, sf) if stmt.handlers else ""
        if missing:
            # `try: import x ... except ImportError: ...` with x not found here: whether the import succeeds
            # depends on where the model runs -- both branches, their keys conditional
            line = self.line
            cond = f"`{missing}` can be imported where the model runs (line {line})"

            def tried(fr: Frame) -> None:
                self.exec_block(fr, stmt.body, sf)
                if stmt.orelse is not None:
                    self.exec_block(fr, stmt.orelse.body, sf)

            try:
                self.fork(frame, [(cond, tried),
                                  (f"not {cond}", lambda fr: self.exec_block(fr, stmt.handlers[0].body, sf))])
            finally:
                if stmt.finalbody is not None:
                    self.exec_block(frame, stmt.finalbody.body, sf)
            return
        try:
            try:
                self.exec_block(frame, stmt.body, sf)
            except EvalRaise:
                if not stmt.handlers:
                    raise
                self.exec_block(frame, stmt.handlers[0].body, sf)
            else:
                if stmt.orelse is not None:
                    self.exec_block(frame, stmt.orelse.body, sf)
        finally:
            if stmt.finalbody is not None:
                self.exec_block(frame, stmt.finalbody.body, sf)

    # -- assignment --------------------------------------------------------------------------
    def assign(self, frame: Frame, target: Any, value: Any, sf: SourceFile) -> None:
        if isinstance(target, cst.Name):
            name = target.value
            if frame.globals is not None and name in frame.globals:
                frame.scope.values[name] = value
                return
            if frame.nonlocals is not None and name in frame.nonlocals:
                f = frame.closure
                while f is not None and name not in f.locals:
                    f = f.closure
                if f is None:
                    raise GiveUp(f"nonlocal `{name}` without an enclosing binding")
                f.locals[name] = value
                return
            frame.locals[name] = value
        elif isinstance(target, cst.Attribute):
            obj = self.eval(frame, target.value, sf)
            self.setattr(obj, target.attr.value, value)
        elif isinstance(target, cst.Subscript):
            obj = self.eval(frame, target.value, sf)
            key = self.eval_slice(frame, target.slice, sf)
            self.setitem(obj, key, value)
        elif isinstance(target, (cst.Tuple, cst.List)):
            elems = target.elements
            items = self.iterate(value, sf)
            if isinstance(items, (Unknown, SymRange)) or any(isinstance(x, Repeated) for x in items):
                u = items if isinstance(items, Unknown) else self.unknown("cannot unpack a value of symbolic length")
                for e in elems:
                    self.assign(frame, e.value, u, sf)
                return
            star = [i for i, e in enumerate(elems) if isinstance(e, cst.StarredElement)]
            if star:
                s = star[0]
                after = len(elems) - s - 1
                if len(items) < len(elems) - 1:
                    raise EvalRaise("not enough values to unpack", self.line, self.path)
                for e, v in zip(elems[:s], items[:s]):
                    self.assign(frame, e.value, v, sf)
                self.assign(frame, elems[s].value, list(items[s: len(items) - after]), sf)
                for e, v in zip(elems[s + 1:], items[len(items) - after:]):
                    self.assign(frame, e.value, v, sf)
                return
            if len(items) != len(elems):
                raise EvalRaise(f"cannot unpack {len(items)} values into {len(elems)} names", self.line, self.path)
            for e, v in zip(elems, items):
                self.assign(frame, e.value, v, sf)
        elif isinstance(target, cst.StarredElement):
            self.assign(frame, target.value, value, sf)
        else:
            raise GiveUp(f"unsupported assignment target {type(target).__name__}")

    def delete(self, frame: Frame, target: Any, sf: SourceFile) -> None:
        if isinstance(target, cst.Name):
            frame.locals.pop(target.value, None)
        elif isinstance(target, cst.Attribute):
            self.delattr(self.eval(frame, target.value, sf), target.attr.value)
        elif isinstance(target, cst.Subscript):
            obj = self.eval(frame, target.value, sf)
            key = self.eval_slice(frame, target.slice, sf)
            if isinstance(obj, (list, dict)) and not isinstance(key, (Unknown, Sym, Opaque)):
                try:
                    del obj[key]
                except (IndexError, KeyError, TypeError):
                    raise EvalRaise("del of a missing item", self.line, self.path)
            elif isinstance(obj, ModuleValue):
                self.torch.container_delitem(obj, key)
            elif isinstance(obj, TableView):
                obj.forget()
        elif isinstance(target, (cst.Tuple, cst.List)):
            for e in target.elements:
                self.delete(frame, e.value, sf)


_AUG_OPS: Dict[type, str] = {
    cst.AddAssign: "+", cst.SubtractAssign: "-", cst.MultiplyAssign: "*", cst.DivideAssign: "/",
    cst.FloorDivideAssign: "//", cst.ModuloAssign: "%", cst.PowerAssign: "**", cst.LeftShiftAssign: "<<",
    cst.RightShiftAssign: ">>", cst.BitOrAssign: "|", cst.BitAndAssign: "&", cst.BitXorAssign: "^",
}


def _yield_stmt(stmt: Any) -> Any:
    """``yield`` / ``yield x`` as a statement: the yielded expression (None for a bare yield), else None."""
    if isinstance(stmt, cst.SimpleStatementLine) and len(stmt.body) == 1 and isinstance(stmt.body[0], cst.Expr) \
            and isinstance(stmt.body[0].value, cst.Yield) and not isinstance(stmt.body[0].value.value, cst.From):
        return stmt.body[0].value.value or cst.Name("None")
    return None


def _yields_in(node: Any) -> Iterator[Any]:
    """The yield expressions of a function body (not of the functions and lambdas defined in it)."""
    found: List[Any] = []

    class V(cst.CSTVisitor):
        def visit_Yield(self, n: cst.Yield) -> None:
            found.append(n)

        def visit_FunctionDef(self, n: cst.FunctionDef) -> bool:
            return n is node

        def visit_Lambda(self, n: cst.Lambda) -> bool:
            return False

        def visit_ClassDef(self, n: cst.ClassDef) -> bool:
            return False

    node.visit(V())
    return iter(found)


def _has_jump(stmt: Any, table: LRU[Any]) -> bool:
    """Does an if-statement contain return/break/continue (outside nested functions/loops for break)? Cached in
    the session's ``jumps`` table, whose entries keep the statement (so its id is not reused meanwhile)."""
    hit = table.get(id(stmt))
    if hit is not None and hit[0] is stmt:
        return hit[1]
    result = _has_jump_uncached(stmt)
    table[id(stmt)] = (stmt, result)
    return result


def _has_jump_uncached(stmt: Any) -> bool:
    stack = [stmt]
    while stack:
        n = stack.pop()
        if isinstance(n, (cst.Return, cst.Break, cst.Continue)):
            return True
        if isinstance(n, (cst.FunctionDef, cst.ClassDef, cst.Lambda)):
            continue
        if isinstance(n, (cst.For, cst.While)) and n is not stmt:
            # break/continue inside a nested loop belong to it; a return still escapes
            stack.extend(x for x in _walk_stmts(n.body.body) if isinstance(x, cst.Return))
            continue
        stack.extend(iter_children(n))
    return False
