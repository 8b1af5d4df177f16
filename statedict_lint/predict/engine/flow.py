"""Fork and merge: ``if`` on conditions that cannot be decided (both branches on forked copies of the state, merged),
and loops (unrolled, or run once symbolically)."""

from __future__ import annotations

from typing import Any, Callable, Dict, List, Optional, Tuple

import libcst as cst

from statedict_lint.predict.engine.base import EngineBase
from statedict_lint.predict.engine.budget import MAX_UNROLL
from statedict_lint.predict.engine.common import _same_plain, _target_names
from statedict_lint.predict.engine.scopes import Frame
from statedict_lint.predict.merge import fork_copy, merge_outcomes, merge_values
from statedict_lint.predict.signals import Break, Continue, EvalRaise, GiveUp, Return
from statedict_lint.predict.symbolic import Sym, is_intlike
from statedict_lint.predict.template import placeholder as placeholder_name
from statedict_lint.predict.values import (
    GeneratorValue,
    InstanceValue,
    ModuleValue,
    Opaque,
    Repeated,
    SymRange,
    Unknown,
)
from statedict_lint.source.loader import SourceFile, iter_children


class FlowMixin(EngineBase):

    def _if_truth(self, frame: Frame, stmt: cst.If, sf: SourceFile) -> Any:
        self.set_pos(sf, stmt)
        value = self.eval(frame, stmt.test, sf)
        self._last_test = value
        return self.truth(value)

    def exec_if(self, frame: Frame, stmt: cst.If, sf: SourceFile) -> None:
        cond = self._if_truth(frame, stmt, sf)
        if cond is True:
            self.exec_block(frame, stmt.body, sf)
        elif cond is False:
            self._exec_orelse(frame, stmt, sf)
        else:
            self._fork_if_with_rest(frame, stmt, [], sf)

    def _exec_orelse(self, frame: Frame, stmt: cst.If, sf: SourceFile) -> None:
        if isinstance(stmt.orelse, cst.If):
            self.exec_stmt(frame, stmt.orelse, sf)
        elif isinstance(stmt.orelse, cst.Else):
            self.exec_block(frame, stmt.orelse.body, sf)

    def _fork_if_with_rest(self, frame: Frame, stmt: cst.If, rest: List[Any], sf: SourceFile, top: bool = False) -> None:
        test = self._last_test
        text = self._cond_text(sf, stmt.test, test, frame)
        cond_true = f"{text} (line {self.line})"
        cond_false = f"not {text} (line {self.line})"
        if isinstance(test, (Opaque, Sym)):  # an unbound constructor value: a switch (render, keys)
            self.switch_conditions.update((cond_true, cond_false))

        def branch_true(fr: Frame) -> None:
            self.exec_block(fr, stmt.body, sf)
            self.exec_block(fr, rest, sf)

        def branch_false(fr: Frame) -> None:
            self._exec_orelse(fr, stmt, sf)
            self.exec_block(fr, rest, sf)

        self.fork(frame, [(cond_true, branch_true), (cond_false, branch_false)], top)

    def _cond_text(self, sf: SourceFile, node: Any, value: Any, frame: Optional[Frame] = None) -> str:
        """How to name an undecidable condition: in the user's terms (the unbound value behind it, or why a
        name set elsewhere -- at import, by the environment -- cannot be known)."""
        text = sf.code(node).strip()
        name = value.name if isinstance(value, Opaque) else value.render() if isinstance(value, Sym) else None
        if self.in_catalog(sf):
            return name or f"{text} (inside torch.nn)"
        if name and name != text and not text.startswith("not "):
            return f"{text} [= {name}]"
        if frame is not None:
            for n in _names_in(node):
                v = frame.locals.get(n) if n in frame.locals else frame.scope.values.get(n)
                if isinstance(v, Unknown) and v.line != self.line and v.reason:
                    why = v.reason if len(v.reason) <= 120 else v.reason[:117] + "..."
                    return f"{text} [{n}: {why}]"
        return text

    def fork(self, frame: Frame, branches: List[Tuple[str, Callable[[Frame], None]]], top: bool = False) -> None:
        """Run each branch on a copy of the state reachable from the frame; merge into the originals."""

        self.budget.fork()
        roots = frame.locals
        outcomes = []
        saved_line = (self.line, self.path)
        for cond, run in branches:
            copied, memo, pairs = fork_copy(roots)
            fr = Frame(frame.scope, frame.closure, frame.func, frame.cls)
            fr.locals = copied
            self.conditions.append(cond)
            signal: Tuple[str, Any] = ("fall", None)
            try:
                run(fr)
            except Return as r:
                signal = ("return", r.value)
            except Break:
                signal = ("break", None)
            except Continue:
                signal = ("continue", None)
            except EvalRaise as exc:
                signal = ("raise", exc)
            finally:
                self.conditions.pop()
            if top and signal[0] == "fall":  # falling off the end of a function body returns None
                signal = ("return", None)
            outcomes.append((cond, memo, copied, signal, pairs))
            self.line, self.path = saved_line
        live = [o for o in outcomes if o[3][0] != "raise"]
        if not live:
            raise outcomes[0][3][1]
        merge_outcomes(self, roots, live)
        kinds = {o[3][0] for o in live}
        if len(kinds) > 1:
            raise GiveUp(f"control flow depends on an undecidable condition ({live[0][0]})")
        kind = kinds.pop()
        if kind == "return":

            value = live[0][3][1]
            for o in live[1:]:
                value = merge_values(self, value, o[3][1], live[0][0])
            raise Return(value)
        if kind == "break":
            raise Break()
        if kind == "continue":
            raise Continue()

    def exec_for(self, frame: Frame, stmt: cst.For, sf: SourceFile) -> None:
        it = self.eval(frame, stmt.iter, sf)
        items = self.iterate(it, sf)
        if isinstance(items, Unknown):
            self._unknown_loop(frame, stmt, sf, items.reason)
            return
        if isinstance(items, SymRange):
            self._symbolic_loop(frame, stmt, sf, items)
            return
        broke = False
        for n, item in enumerate(items):
            if isinstance(item, Repeated):
                self._unknown_loop(frame, stmt, sf, "the loop runs over a list of symbolic length")
                return
            self.assign(frame, stmt.target, item, sf)
            try:
                self.exec_block(frame, stmt.body, sf)
            except Break:
                broke = True
                if isinstance(it, GeneratorValue) and it.pos is not None:
                    it.pos -= len(items) - n - 1  # a break leaves the rest of an iterator to its next user
                break
            except Continue:
                continue
        if not broke and stmt.orelse is not None:
            self.exec_block(frame, stmt.orelse.body, sf)

    def _unknown_loop(self, frame: Frame, stmt: Any, sf: SourceFile, reason: str) -> None:
        line, path = self.line, self.path
        text = sf.code(stmt.iter).strip() if isinstance(stmt, cst.For) else sf.code(stmt.test).strip()
        targets = set(_target_names(stmt.target)) if isinstance(stmt, cst.For) else set()

        def sig() -> tuple:
            return _signature(frame.locals, targets)

        before = sig()

        def body(fr: Frame) -> None:
            if isinstance(stmt, cst.For):
                self.assign(fr, stmt.target, Unknown(f"loop variable of the loop at line {line}", line, self.path), sf)
            try:
                self.exec_block(fr, stmt.body, sf)
            except (Break, Continue):
                pass

        # the branches copy the state reachable from the frame's locals; objects reachable only from the
        # module's globals are shared, so what the body writes to them is made conditional below
        self._force_pending(frame.scope, stmt)  # (module-level values the body reaches exist before it runs)
        self.line, self.path = line, path
        outside = _shallow_state(frame.scope.values)
        cond = f"the loop at line {line} runs"
        self.fork(frame, [(cond, body), (f"the loop at line {line} does not run", lambda fr: None)])
        changed = self._merge_outside(outside, cond)
        if sig() != before or changed:
            self.note(f"loop over `{text}` cannot be unrolled: {reason}", line, path)

    def _merge_outside(self, before: Dict[int, Tuple[Any, Any]], cond: str) -> bool:
        """Objects a branch changed in place that the fork did not copy: each changed attribute or entry is
        the merge of its value before and after (the branch may not have run)."""
        changed = False
        for obj, snap in before.values():
            if isinstance(obj, InstanceValue) and isinstance(snap, dict):
                for k in set(snap) | set(obj.attrs):
                    old, new = snap.get(k, _MISSING_ATTR), obj.attrs.get(k, _MISSING_ATTR)
                    if old is new:
                        continue
                    changed = True
                    if old is _MISSING_ATTR or new is _MISSING_ATTR:
                        obj.attrs[k] = Unknown(f"attribute `{k}` may be set only if {cond}", self.line, self.path)
                    else:
                        obj.attrs[k] = merge_values(self, new, old, cond)
            elif isinstance(obj, dict) and isinstance(snap, dict):
                if [(k, id(v)) for k, v in snap.items()] != [(k, id(v)) for k, v in obj.items()]:
                    changed = True
                    restored = dict(snap)
                    obj.clear()
                    obj.update(restored)
                    self._taint_given(obj, f"changed only if {cond}", self.line, self.path)
            elif isinstance(obj, list) and isinstance(snap, list):
                if [id(v) for v in snap] != [id(v) for v in obj]:
                    changed = True
                    obj[:] = snap
                    self._taint_given(obj, f"changed only if {cond}", self.line, self.path)
        return changed

    def _symbolic_loop(self, frame: Frame, stmt: cst.For, sf: SourceFile, rng: "SymRange") -> None:
        placeholder = placeholder_name(len(self.repeat))
        index = rng.start + Sym.var(f"{{{placeholder}}}") * rng.step if rng.step != 1 or rng.start != 0 \
            else Sym.var(f"{{{placeholder}}}")
        # dry run on a copy to find loop-carried variables

        copied, memo, pairs = fork_copy(frame.locals)
        fr = Frame(frame.scope, frame.closure, frame.func, frame.cls)
        fr.locals = copied
        self.repeat.append((placeholder, rng.count))
        saved = (self.line, self.path, len(self.notes))
        try:
            try:
                self.assign(fr, stmt.target, index, sf)
                self.exec_block(fr, stmt.body, sf)
            except (Break, Continue, EvalRaise, Return, GiveUp):
                pass
            self.line, self.path = saved[0], saved[1]
            del self.notes[saved[2]:]
            self._note_keys = set(self.notes)
            carried = [name for name, v in copied.items()
                       if name in frame.locals and not _same_value(frame.locals[name], v, memo)]
            for name in carried:
                v = frame.locals[name]
                frame.locals[name] = Unknown(f"`{name}` changes from one iteration to the next of the loop at "
                                             f"line {saved[0]}", saved[0], saved[1],
                                             maybe_state=not is_intlike(v) and not isinstance(v, (str, float, bool)))
            for orig, cp in pairs.values():  # attributes (self.inplanes = ...) carried across iterations
                if isinstance(orig, (ModuleValue, InstanceValue)):
                    for name, v in list(orig.attrs.items()):
                        if name in cp.attrs and not _same_value(v, cp.attrs[name], memo):
                            orig.attrs[name] = Unknown(
                                f"attribute `{name}` changes from one iteration to the next of the loop at line "
                                f"{saved[0]}", saved[0], saved[1],
                                maybe_state=not is_intlike(v) and not isinstance(v, (str, float, bool)))
            try:
                self.assign(frame, stmt.target, index, sf)
                self.exec_block(frame, stmt.body, sf)
            except (Break, Continue):
                raise GiveUp(f"break/continue in a loop with a symbolic trip count (line {saved[0]})")
        finally:
            self.repeat.pop()

    def exec_while(self, frame: Frame, stmt: cst.While, sf: SourceFile) -> None:
        n = 0
        while True:
            c = self.truth(self.eval(frame, stmt.test, sf))
            if c is False:
                if stmt.orelse is not None:
                    self.exec_block(frame, stmt.orelse.body, sf)
                return
            if c is not True:
                self._unknown_loop(frame, stmt, sf, "its condition cannot be decided")
                return
            n += 1
            if n > MAX_UNROLL:
                raise GiveUp("while loop does not terminate within the unroll limit")
            try:
                self.exec_block(frame, stmt.body, sf)
            except Break:
                return
            except Continue:
                continue


def _same_value(orig: Any, copied: Any, memo: Dict[int, Any]) -> bool:
    if memo.get(id(orig)) is copied:
        return True
    if orig is copied:
        return True
    return _same_plain(orig, copied)


_MISSING_ATTR = object()


def _shallow_state(roots: Dict[str, Any]) -> Dict[int, Tuple[Any, Any]]:
    """The plain objects reachable from a namespace (instances, dicts, lists), each with a shallow copy of its
    contents, to tell afterwards what was changed in place."""
    out: Dict[int, Tuple[Any, Any]] = {}
    stack = list(roots.values())
    while stack and len(out) < 10_000:
        v = stack.pop()
        if id(v) in out:
            continue
        t = type(v)
        if t is InstanceValue:
            out[id(v)] = (v, dict(v.attrs))
            stack.extend(v.attrs.values())
        elif t is dict:
            out[id(v)] = (v, dict(v))
            stack.extend(v.values())
        elif t is list:
            out[id(v)] = (v, list(v))
            stack.extend(v)
    return out


def _signature(roots: Dict[str, Any], exclude: set) -> tuple:
    """A structural fingerprint of the state reachable from a frame (what a loop could change)."""
    out: List[Any] = [tuple((k, id(v)) for k, v in roots.items() if k not in exclude)]
    seen: set = {id(roots)}
    stack = [v for k, v in roots.items() if k not in exclude]
    while stack:
        v = stack.pop()
        if id(v) in seen:
            continue
        t = type(v)
        if t is dict:
            seen.add(id(v))
            out.append(("d", id(v), tuple((k if isinstance(k, str) else id(k), id(x)) for k, x in v.items())))
            stack.extend(v.values())
        elif t is list:
            seen.add(id(v))
            out.append(("l", id(v), tuple(id(x) for x in v)))
            stack.extend(v)
        elif t is ModuleValue:
            seen.add(id(v))
            for table in (v.params, v.buffers, v.children, v.unknown_attrs):
                out.append(("m", id(v), tuple((k, id(e.value), e.condition) for k, e in table.items())))
                stack.extend(e.value for e in table.values())
            out.append(("a", id(v), tuple((k, id(x)) for k, x in v.attrs.items())))
            stack.extend(v.attrs.values())
        elif t is InstanceValue:
            seen.add(id(v))
            out.append(("i", id(v), tuple((k, id(x)) for k, x in v.attrs.items())))
            stack.extend(v.attrs.values())
    return tuple(out)


def _names_in(node: Any) -> List[str]:
    out: List[str] = []
    stack = [node]
    while stack and len(out) < 8:
        n = stack.pop()
        if isinstance(n, cst.Name):
            out.append(n.value)
        elif isinstance(n, (cst.UnaryOperation, cst.BooleanOperation, cst.Comparison, cst.BinaryOperation)):
            stack.extend(reversed(list(iter_children(n))))
        elif isinstance(n, cst.ComparisonTarget):
            stack.append(n.comparator)
    return out
