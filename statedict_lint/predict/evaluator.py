"""A symbolic interpreter for nn.Module construction code (``__init__`` and everything it calls).

It runs user code over the value domain of ``values.py``: concrete Python values, symbolic integers,
tensor specs, module values and ``Unknown``. It never imports the user's code or torch; torch.nn layers
come from the catalog (``catalog/torch_nn.py``, interpreted like user code) and the library models of
``libs/`` (torch, the standard library, einops, ...), found by full dotted name.

Unknown conditions run both branches on forked copies of the state and merge the results: what differs
becomes conditional (for module entries) or Unknown (for plain values). Loops with a symbolic trip count
run their body once with a placeholder index and mark the list items they add as ``Repeated``.
"""

from __future__ import annotations

import os
from typing import Any, Callable, Dict, Iterator, List, Optional, Tuple

import libcst as cst

from statedict_lint.errors import UserError
from statedict_lint.predict.libs import NOT_MINE, Libraries
from statedict_lint.predict.libs.builtins import PythonValues, python_builtins
from statedict_lint.predict.libs.torch import TorchDir
from statedict_lint.predict.merge import fork_copy, merge_outcomes, merge_values
from statedict_lint.predict.signals import Break, CallBudget, Continue, EvalRaise, GiveUp, Return
from statedict_lint.predict.symbolic import Sym, is_int, is_intlike
from statedict_lint.predict.values import (
    TABLE_MUTATORS,
    UNKNOWN_BOOL,
    BoundMethod,
    BufferMarker,
    ClassValue,
    ContextGenerator,
    DictView,
    DtypeValue,
    Entry,
    FunctionValue,
    formattable,
    GeneratorValue,
    InstanceValue,
    Intrinsic,
    ModuleValue,
    NamespaceValue,
    Opaque,
    ParamValue,
    Partial,
    Repeated,
    StarUnknown,
    StarUnknownTuple,
    SuperValue,
    SymKey,
    SymRange,
    SymSlice,
    TableView,
    TensorSpec,
    Unknown,
    maybe_state,
)
from statedict_lint.source.loader import Locator, SourceFile, iter_children, module_name_of, parse_file, parse_text
from statedict_lint.torchfacts import CONTAINERS, MODULE_ATTRS

MAX_STEPS = 2_000_000
CALL_STEPS = 150_000  # one nested call's own budget (see Evaluator.tick)
MAX_CALL_ABORTS = 8
BIG = 1 << 62
MAX_UNROLL = 100_000
# Bounds on what the evaluator materializes (hostile or runaway source: `2**10**10`, `'a' * 10**10`, a list
# doubled 40 times): bigger values are Unknown "too large to evaluate", never a hang or a MemoryError.
# A decorator run at import (timm's @register_model on 1,400 functions) gets this many steps; one that needs
# more is given up (what it decorates is unknown) and not run again for the other functions it decorates.
DECORATOR_STEPS = 250
IMPORT_STEPS = 20_000  # one module-level statement (a call, a loop) at import
MAX_INT_BITS = 4096
MAX_SEQ_LEN = 1_000_000
MAX_DEPTH = 120
MAX_FORKS = 64


# -- classes, functions, scopes ------------------------------------------------------------------

class _DecoratorBudget(GiveUp):
    """A decorator run at import used up its steps (DECORATOR_STEPS); unlike CallBudget, the helpers it was
    running are not marked as too costly for construction."""


class Thunk:
    """A module-level binding evaluated on first use."""

    def __init__(self, kind: str, node: Any, extra: Any = None) -> None:
        self.kind = kind  # "assign" | "import" | "importfrom" | "unknown"
        self.node = node
        self.extra = extra
        self.busy = False


class ModuleScope:
    def __init__(self, ev: "Evaluator", sf: SourceFile, qualname: str, is_package: bool) -> None:
        self.ev = ev
        self.sf = sf
        self.qualname = qualname
        self.is_package = is_package
        self.values: Dict[str, Any] = {"__name__": qualname}
        self.star: List[Tuple[str, int]] = []
        self.namespace = NamespaceValue(qualname, self)

    def __deepcopy__(self, memo: dict) -> "ModuleScope":
        return self

    def lookup(self, name: str) -> Tuple[bool, Any]:
        if name in self.values:
            v = self.values[name]
            if isinstance(v, Thunk):
                if v.busy:
                    return True, Unknown(f"`{name}` is defined in terms of itself", 0, self.sf.path)
                v.busy = True
                try:
                    value = self.ev.force_thunk(self, name, v)
                finally:
                    v.busy = False
                self.values[name] = value
                return True, value
            return True, v
        for mod, line in self.star:
            target = self.ev.import_module(mod, line, self.sf.path)
            if isinstance(target, NamespaceValue) and target.scope is not None and target.scope is not self:
                found, v = target.scope.lookup(name)
                if found:
                    return True, v
            elif isinstance(target, Unknown):
                return True, Unknown(f"`{name}` may come from `from {mod} import *` (line {line}), "
                                     f"which cannot be read", line, self.sf.path)
        return False, None


class Frame:
    def __init__(self, scope: ModuleScope, closure: Optional["Frame"], func: Any = None, cls: Any = None) -> None:
        self.locals: Dict[str, Any] = {}
        self.scope = scope
        self.closure = closure
        self.func = func
        self.cls = cls  # class that defined the running function (for super())
        self.globals: Optional[set] = None  # names declared `global` in the running function
        self.nonlocals: Optional[set] = None  # names declared `nonlocal`

    def __deepcopy__(self, memo: dict) -> "Frame":
        # Frames captured by closures are shared, not copied; the running frame's locals are forked
        # explicitly by the evaluator.
        return self


_BIN_OPS: Dict[type, str] = {
    cst.Add: "+", cst.Subtract: "-", cst.Multiply: "*", cst.Divide: "/", cst.FloorDivide: "//",
    cst.Modulo: "%", cst.Power: "**", cst.LeftShift: "<<", cst.RightShift: ">>", cst.BitOr: "|",
    cst.BitAnd: "&", cst.BitXor: "^", cst.MatrixMultiply: "@",
}
_AUG_OPS: Dict[type, str] = {
    cst.AddAssign: "+", cst.SubtractAssign: "-", cst.MultiplyAssign: "*", cst.DivideAssign: "/",
    cst.FloorDivideAssign: "//", cst.ModuloAssign: "%", cst.PowerAssign: "**", cst.LeftShiftAssign: "<<",
    cst.RightShiftAssign: ">>", cst.BitOrAssign: "|", cst.BitAndAssign: "&", cst.BitXorAssign: "^",
}
_CMP_OPS: Dict[type, str] = {
    cst.Equal: "==", cst.NotEqual: "!=", cst.LessThan: "<", cst.LessThanEqual: "<=", cst.GreaterThan: ">",
    cst.GreaterThanEqual: ">=", cst.In: "in", cst.NotIn: "not in", cst.Is: "is", cst.IsNot: "is not",
}


_STRINGS: Dict[str, Any] = {}  # string literal source -> its value

_CATALOG_CHUNKS: Dict[Tuple[str, float], List[Tuple[Optional[str], str]]] = {}


def _catalog_chunks(path: str) -> List[Tuple[Optional[str], str]]:
    """The catalog's top-level statements as (class/function name or None, source chunk), split once per
    process (every Evaluator used to re-parse the whole catalog with ``ast``: ~12% of a cold timm run)."""
    import ast as _ast

    key = (path, os.path.getmtime(path))
    hit = _CATALOG_CHUNKS.get(key)
    if hit is not None:
        return hit
    with open(path, encoding="utf-8") as fh:
        text = fh.read()
    lines = text.splitlines(keepends=True)
    out: List[Tuple[Optional[str], str]] = []
    for node in _ast.parse(text).body:
        start = min([node.lineno] + [d.lineno for d in getattr(node, "decorator_list", [])])
        chunk = "".join(lines[start - 1: node.end_lineno])
        named = isinstance(node, (_ast.ClassDef, _ast.FunctionDef))
        out.append((node.name if named else None, chunk))  # type: ignore[union-attr]
    _CATALOG_CHUNKS[key] = out
    return out


class Evaluator:
    def __init__(self, roots: List[str], catalog_path: str) -> None:
        self.locator = Locator(roots)
        self.catalog_path = os.path.abspath(catalog_path)
        self.modules: Dict[str, Any] = {}  # qualname -> ModuleScope | Unknown
        self.path_modules: Dict[str, ModuleScope] = {}
        self.line = 0  # current line in user-visible code
        self.path = ""
        self.steps = 0
        self.depth = 0
        self.forks = 0
        self.call_starts: List[int] = []  # self.steps when each active call began (innermost last)
        self.call_aborts = 0
        self.over_budget: set = set()  # helper functions (by node) already abandoned for their step count
        self.lost_writes: List[Tuple[int, str]] = []  # item writes into values that could not be known
        self.conditions: List[str] = []  # path conditions of the running branch
        self.repeat: List[Tuple[str, Any]] = []  # (placeholder, count) of enclosing symbolic loops
        self.notes: List[Tuple[int, str, str]] = []  # unresolved: (line, path, message)
        self._note_keys: set = set()
        self.opaques: List[Tuple[Opaque, str, int, str]] = []  # opaque values stored as attributes
        # modelling gaps that do not show in the result by themselves (module-level code the evaluation could
        # not follow, ...): a raise reached after one of them is "cannot know", never "construction fails"
        self.gaps: List[Tuple[int, str, str]] = []
        self.loading = 0  # modules being executed right now (import-time code runs while > 0)
        self.constructing = False  # set by api once the target class is being built
        self.unknown_calls = 0  # calls of values that are not known so far (code we could not follow)
        self.step_limit = BIG  # a step count at which the running import-time decorator is given up
        self.default_dtype: Optional[str] = "float32"  # torch.set_default_dtype, as executed so far
        self.late_default_dtype: Any = None  # set_default_dtype run by an import evaluated during construction
        self.libs = Libraries(self)  # library models (predict/libs), by full dotted name
        self.torch = self.libs["torch"]
        self.pyvalues = PythonValues(self)
        self.builtins = python_builtins(self)
        self._catalog: Optional[ModuleScope] = None

    # -- diagnostics ------------------------------------------------------------------------
    def unknown(self, reason: str, maybe_state: bool = True) -> Unknown:
        return Unknown(reason, self.line, self.path, maybe_state)

    def too_large(self, what: str) -> Unknown:
        """A value bigger than the evaluator materializes: Unknown, with the line, and noted."""
        msg = f"value too large to evaluate ({what})"
        self.note(msg)
        return self.unknown(msg, maybe_state=False)

    def note(self, message: str, line: Optional[int] = None, path: Optional[str] = None,
             whole_prediction: bool = False) -> None:
        """An unresolved item of the prediction. ``whole_prediction``: a fact about the whole prediction (which
        library version is read), kept even when it is first noticed by import-time code."""
        ln = self.line if line is None else line
        p = self.path if path is None else path
        key = (ln, p, message)
        if self.loading and not whole_prediction:
            # import-time code (a module's top level, decorators run at import): what it could not follow is
            # Unknown in the values it made (and calls that gave up taint their module's tables), not a line of
            # every prediction that imports the module
            return
        if key not in self._note_keys:
            self._note_keys.add(key)
            self.notes.append(key)

    def in_catalog(self, sf: SourceFile) -> bool:
        return sf.path == self.catalog_path

    def set_pos(self, sf: SourceFile, node: cst.CSTNode) -> None:
        if sf.path != self.catalog_path:
            ln = sf.line(node)
            if ln:
                self.line = ln
                self.path = sf.path

    def tick(self) -> None:
        self.steps += 1
        if self.steps > MAX_STEPS:
            raise GiveUp("evaluation took too many steps")
        if self.depth > 1 and self.steps - self.call_starts[-1] > CALL_STEPS:  # (never for __init__: starts at BIG)
            # one helper call unrolling a huge loop (timm's attention-bias tables: 196 x 196 points) is
            # given up on its own -- noted, its result unknown -- instead of ending the whole prediction
            raise CallBudget("the call took too many steps to evaluate")
        if self.steps > self.step_limit:
            raise _DecoratorBudget("it takes too many steps at import")

    # -- modules -----------------------------------------------------------------------------
    def catalog(self) -> ModuleScope:
        """The catalog module. Its classes are parsed on first use: a run needs only a few of them."""
        if self._catalog is None:
            scope = ModuleScope(self, parse_text("", self.catalog_path, lines=False),
                                "statedict_lint.catalog.torch_nn", False)
            self._catalog = scope
            self.path_modules[self.catalog_path] = scope
            frame = Frame(scope, None)
            frame.locals = scope.values
            for name, chunk in _catalog_chunks(self.catalog_path):
                if name is not None:
                    scope.values[name] = Thunk("catalog", None, chunk)
                else:
                    sf = parse_text(chunk, self.catalog_path, lines=False)
                    self._exec_module_block(scope, frame, sf.module.body)
        return self._catalog

    def load_library_source(self, path: str, qualname: str) -> ModuleScope:
        """A library model's Python source (``catalog/transformers_runtime.py``): interpreted like user code, its
        lines never reported (parsed without a line map, so positions stay in the user's code)."""
        ap = os.path.abspath(path)
        if ap in self.path_modules:
            return self.path_modules[ap]
        scope = ModuleScope(self, parse_file(ap, lines=False), qualname, False)
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
        sf = parse_file(ap, lines=ap != self.catalog_path)
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
        saved = (self.line, self.path, self.step_limit)
        self.step_limit = BIG  # (a module imported from a budgeted statement has budgets of its own)
        try:
            self._exec_module_block(scope, frame, scope.sf.module.body)
        finally:
            self.loading -= 1
            self.line, self.path, self.step_limit = saved

    def gap(self, reason: str, line: int, path: str) -> None:
        self.gaps.append((line, path, reason))

    def _force_pending(self, scope: ModuleScope, stmt: Any) -> None:
        """Evaluate the module-level assignments still pending (lazy) that read something the statement about to
        run can reach: it may change it, and Python evaluated them before it. What it can reach: the names it
        mentions and, transitively, the names the functions and classes of this module it mentions mention.
        (Literals cannot change; imports bind modules and their names, which stay shared.)"""
        reach = _reachable_names(scope, stmt)
        for name in list(scope.values):
            v = scope.values.get(name)
            if isinstance(v, Thunk) and v.kind == "assign" and not v.busy and not _is_literal(v.node.value) \
                    and (name in reach or not _names_of(v.node.value).isdisjoint(reach)):
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
        if not isinstance(scope, ModuleScope) or getattr(scope, "state_tainted", False) or self.in_catalog(scope.sf):
            return
        scope.state_tainted = True  # type: ignore[attr-defined]
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
            start, saved_limit = self.steps, self.step_limit
            # one top-level statement (a script's `train()` at module level, say) gets IMPORT_STEPS steps;
            # past them it is a gap and its steps are given back to construction
            self.step_limit = min(saved_limit, self.steps + IMPORT_STEPS)
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
                    self.steps = start
                    exc = GiveUp(f"it takes more than {IMPORT_STEPS} steps at import")
                self._module_failed(scope, stmt, exc)
            finally:
                self.step_limit = saved_limit
            if isinstance(stmt, (cst.SimpleStatementLine, cst.BaseSmallStatement, cst.For, cst.While)):
                self._globals_written(scope, stmt)

    def _globals_written(self, scope: ModuleScope, stmt: Any) -> None:
        """Module-level code writing the module's own namespace by means the evaluation does not follow
        (``globals().update(...)``, ``globals()[k] = v``, ``setattr(sys.modules[__name__], k, v)``, ``vars()``):
        the names it may write are unknown from this point on - the ones it names with a literal, or every name
        of the module (but its imports) when they cannot be told."""
        sf = scope.sf
        code = sf.code(stmt)
        if not any(m in code for m in ("globals(", "vars(", "locals(", "sys.modules", "__dict__")):
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
                sf = parse_text(thunk.extra, self.catalog_path, lines=False)
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

    # -- statements --------------------------------------------------------------------------
    def exec_block(self, frame: Frame, body: Any, sf: SourceFile, top: bool = False) -> None:
        """Run a block. ``top``: it is a function's whole body (falling off its end returns None)."""
        stmts = body.body if isinstance(body, (cst.IndentedBlock, cst.SimpleStatementSuite)) else body
        stmts = list(stmts)
        i = 0
        while i < len(stmts):
            stmt = stmts[i]
            if isinstance(stmt, cst.If) and _has_jump(stmt):
                cond = self._if_truth(frame, stmt, sf)
                if cond is UNKNOWN_BOOL:
                    self._fork_if_with_rest(frame, stmt, stmts[i + 1:], sf, top)
                    return
            self.exec_stmt(frame, stmt, sf)
            i += 1

    def exec_stmt(self, frame: Frame, stmt: Any, sf: Optional[SourceFile] = None) -> None:
        sf = sf or frame.scope.sf
        self.tick()
        if isinstance(stmt, cst.BaseSmallStatement):  # body of a one-line suite: `if x: y = 1`
            self.set_pos(sf, stmt)
            self.exec_small(frame, stmt, sf)
            return
        if isinstance(stmt, cst.SimpleStatementLine):
            for small in stmt.body:
                self.set_pos(sf, small)
                self.exec_small(frame, small, sf)
            return
        self.set_pos(sf, stmt)
        if isinstance(stmt, cst.If):
            self.exec_if(frame, stmt, sf)
        elif isinstance(stmt, cst.For):
            self.exec_for(frame, stmt, sf)
        elif isinstance(stmt, cst.While):
            self.exec_while(frame, stmt, sf)
        elif isinstance(stmt, cst.FunctionDef):
            self.define_function(frame, stmt, sf)
        elif isinstance(stmt, cst.ClassDef):
            self.define_class(frame, stmt, sf)
        elif isinstance(stmt, cst.With):
            self.exec_with(frame, stmt, list(stmt.items), sf)
        elif isinstance(stmt, cst.Try):
            self.exec_try(frame, stmt, sf)
        else:
            raise GiveUp(f"unsupported statement {type(stmt).__name__}")

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
        self.depth += 1
        try:
            self.exec_block(gen_frame, before, fn.sf)
            value = self.eval(gen_frame, value_node, fn.sf)
        except (Return, Break, Continue):
            raise GiveUp(f"{why}: it returns before its `yield`")
        finally:
            self.depth -= 1
        return gen_frame, after, value

    def _generator_exit(self, cm: ContextGenerator, gen_frame: Frame, after: List[Any]) -> None:
        self.depth += 1
        try:
            self.exec_block(gen_frame, after, cm.func.sf)
        except Return:
            pass  # (the generator stops: the with statement goes on)
        finally:
            self.depth -= 1

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
                self.fork(frame, [(f"{text} (line {self.line})", assign_from(node.body)),
                                  (f"not {text} (line {self.line})", assign_from(node.orelse))])
                return
        if isinstance(small, cst.Assign):
            value = self.eval(frame, small.value, sf)
            for t in small.targets:
                self.assign(frame, t.target, value, sf)
        elif isinstance(small, cst.AnnAssign):
            if small.value is not None:
                self.assign(frame, small.target, self.eval(frame, small.value, sf), sf)
        elif isinstance(small, cst.AugAssign):
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
        elif isinstance(small, cst.Expr):
            self.eval(frame, small.value, sf)
        elif isinstance(small, cst.Return):
            raise Return(None if small.value is None else self.eval(frame, small.value, sf))
        elif isinstance(small, cst.Pass):
            return
        elif isinstance(small, cst.Break):
            raise Break()
        elif isinstance(small, cst.Continue):
            raise Continue()
        elif isinstance(small, cst.Raise):
            text = sf.code(small).strip()
            raise EvalRaise(f"`{text}`", self.line, self.path)
        elif isinstance(small, cst.Assert):
            t = self.truth(self.eval(frame, small.test, sf))
            if t is False:
                raise EvalRaise(f"`{sf.code(small).strip()}` fails", self.line, self.path)
        elif isinstance(small, cst.Del):
            self.delete(frame, small.target, sf)
        elif isinstance(small, (cst.Import, cst.ImportFrom)):
            self.exec_import(frame, small, sf, lazy=False)
        elif isinstance(small, cst.Global):
            if frame.locals is not frame.scope.values:
                frame.globals = (frame.globals or set()) | {n.name.value for n in small.names}
                for n in small.names:
                    frame.locals.pop(n.name.value, None)
        elif isinstance(small, cst.Nonlocal):
            frame.nonlocals = (frame.nonlocals or set()) | {n.name.value for n in small.names}
            for n in small.names:
                frame.locals.pop(n.name.value, None)
        else:
            raise GiveUp(f"unsupported statement {type(small).__name__}")

    def exec_import(self, frame: Frame, node: Any, sf: SourceFile, lazy: bool) -> None:
        line = sf.line(node)
        scope = frame.scope
        if isinstance(node, cst.Import):
            for alias in node.names:
                dotted = _dotted(alias.name)
                if alias.asname is not None:
                    name = alias.asname.name.value  # type: ignore[union-attr]
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
            name = alias.asname.name.value if alias.asname is not None else attr  # type: ignore[union-attr]
            if lazy:
                frame.locals[name] = Thunk("importfrom", node, (mod, attr, line))
            else:
                target = self.import_module(mod, line, sf.path)
                frame.locals[name] = target if isinstance(target, Unknown) else self.getattr_ns(target, attr, line, sf.path)

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
        text = self._cond_text(sf, stmt.test, getattr(self, "_last_test", None), frame)
        cond_true = f"{text} (line {self.line})"
        cond_false = f"not {text} (line {self.line})"

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

        self.forks += 1
        if self.forks > MAX_FORKS * 16:
            raise GiveUp("too many undecidable conditions")
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
        placeholder = "ijklmnpq"[len(self.repeat)] if len(self.repeat) < 8 else f"i{len(self.repeat)}"
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

    # -- definitions -------------------------------------------------------------------------
    def define_function(self, frame: Frame, node: cst.FunctionDef, sf: SourceFile, owner: Any = None) -> FunctionValue:
        defaults = self._param_defaults(frame, node.params, sf)
        fn = FunctionValue(node, frame.scope, frame if frame.func is not None else None, node.name.value, defaults, owner)
        fn.sf = sf
        fn.decorators = [_decorator_name(d.decorator) for d in node.decorators]
        value: Any = fn
        for d in reversed(node.decorators):
            dname = _decorator_name(d.decorator)
            if dname in _TRANSPARENT_DECORATORS or dname.endswith((".setter", ".deleter", ".getter")) or \
                    self.in_catalog(sf) or owner is not None and dname in _CACHE_DECORATORS:
                # (a cached method is called as a plain method: its cache is per `self`, not modelled)
                continue
            # any other decorator is run, as Python does: its result is the value (a decorator the evaluation
            # cannot follow makes the function unknown, with the decorator's line)
            value = self._apply_decorator(frame, d, value, f"function `{node.name.value}`", sf,
                                          _decorator_line(sf, node, d))
        if owner is None:
            self._bind_name(frame, node.name.value, value)
        return value

    def _bind_name(self, frame: Frame, name: str, value: Any) -> None:
        if frame.globals is not None and name in frame.globals:
            frame.scope.values[name] = value
        else:
            frame.locals[name] = value

    def _apply_decorator(self, frame: Frame, d: cst.Decorator, value: Any, what: str, sf: SourceFile,
                         line: int = 0) -> Any:
        line = sf.line(d.decorator) or line
        text = sf.code(d.decorator).strip()
        if isinstance(value, Unknown):
            return value
        saved = (self.line, self.path, self.step_limit)
        deco: Any = None
        try:
            self.set_pos(sf, d)
            deco = self.eval(frame, d.decorator, sf)
            target = deco.func if isinstance(deco, BoundMethod) else deco
            if isinstance(target, FunctionValue) and id(target.node) in self.over_budget:
                raise _DecoratorBudget(f"it takes more than {DECORATOR_STEPS} steps at import")
            if self.loading:
                self.step_limit = min(self.step_limit, self.steps + DECORATOR_STEPS)
            out = self.call(deco, [value], {})
        except (EvalRaise, GiveUp) as exc:
            why = exc.message if isinstance(exc, EvalRaise) else exc.reason
            target = deco.func if isinstance(deco, BoundMethod) else deco
            if isinstance(target, Partial):
                target = target.func
            if isinstance(target, FunctionValue):  # (a registry it fills may miss what it decorates)
                self.taint_module_state(target.scope, f"decorator `{text}` (line {line}) cannot be evaluated")
            if isinstance(exc, _DecoratorBudget):  # (only the decorator itself is not run again)
                if isinstance(target, FunctionValue):
                    self.over_budget.add(id(target.node))
                elif isinstance(target, Partial) and isinstance(target.func, FunctionValue):
                    self.over_budget.add(id(target.func.node))
            out = Unknown(f"{why}", line, sf.path)
        finally:
            self.line, self.path, self.step_limit = saved
        if isinstance(out, (Unknown, Opaque)):
            why = out.reason if isinstance(out, Unknown) else f"`{out.name}` is unbound"
            return Unknown(f"{what} is wrapped by decorator `{text}` (line {line}), which cannot be evaluated: "
                           f"{why}", line, sf.path)
        return out

    def _param_defaults(self, frame: Frame, params: cst.Parameters, sf: SourceFile) -> Dict[str, Any]:
        out: Dict[str, Any] = {}
        for p in list(params.posonly_params) + list(params.params) + list(params.kwonly_params):
            if p.default is not None:
                try:
                    out[p.name.value] = self.eval(frame, p.default, sf)
                except (EvalRaise, GiveUp) as exc:
                    out[p.name.value] = Unknown(f"default of `{p.name.value}` cannot be evaluated: {exc}")
        return out

    def define_class(self, frame: Frame, node: cst.ClassDef, sf: SourceFile) -> ClassValue:
        bases = []
        for arg in node.bases:
            if arg.keyword is not None or arg.star:
                continue
            b = self.eval(frame, arg.value, sf)
            if isinstance(b, Opaque):
                b = Unknown(f"base class `{b.name}` is a parameter", sf.line(node), sf.path)
            bases.append(b)
        scope = frame.scope
        qual = f"{scope.qualname}.{node.name.value}" if scope.qualname else node.name.value
        if self.in_catalog(sf):
            qual = f"torch.nn.{node.name.value}"
        cls = ClassValue(node.name.value, qual, bases, scope, node)
        cls.sf = sf
        class_kwargs: Dict[str, Any] = {}
        for arg in node.keywords:
            if arg.keyword is None:  # `**kwargs` in a class statement
                cls.taint = Unknown(f"class `{node.name.value}` is created with `**` keywords", sf.line(node), sf.path)
                continue
            kv = self.eval(frame, arg.value, sf)
            if arg.keyword.value == "metaclass":
                if not (kv is self.builtins.get("type") or getattr(kv, "qualname", "") in _PLAIN_METACLASSES
                        or isinstance(kv, ClassValue) and kv.intrinsic == "enum"):
                    text = sf.code(arg.value).strip()
                    cls.taint = Unknown(f"class `{node.name.value}` has metaclass `{text}` (line {sf.line(node)}), "
                                        f"which is not modelled", sf.line(node), sf.path)
                    # its __new__/__init__ run now and may fill the tables of the metaclass's module (registries)
                    meta_scope = kv.scope if isinstance(kv, ClassValue) and kv.node is not None else None
                    for sc in {id(s): s for s in (meta_scope, scope) if s is not None}.values():
                        self.taint_module_state(sc, f"metaclass `{text}` of class `{node.name.value}` "
                                                    f"(line {sf.line(node)}), which is not modelled")
            else:
                class_kwargs[arg.keyword.value] = kv
        body_frame = Frame(scope, frame if frame.func is not None else None, frame.func, frame.cls)
        body_frame.locals = dict()
        for stmt in node.body.body:
            if isinstance(stmt, cst.FunctionDef):
                fn = self.define_function(body_frame, stmt, sf, owner=cls)
                decos_f = [_decorator_name(d.decorator) for d in stmt.decorators]
                if any(d.endswith((".setter", ".deleter")) for d in decos_f):
                    # `@x.setter`: the property keeps its getter; the setter runs on assignment (setattr)
                    prop = cls.attrs.get(stmt.name.value)
                    if any(d.endswith(".setter") for d in decos_f):
                        cls.attrs[f"<setter {stmt.name.value}>"] = fn
                        if isinstance(fn, FunctionValue) and isinstance(prop, FunctionValue) and _is_property(prop):
                            prop.setter = fn
                    continue
                cls.attrs[stmt.name.value] = fn
                continue
            if isinstance(stmt, cst.SimpleStatementLine):
                for small in stmt.body:
                    if isinstance(small, cst.AnnAssign) and isinstance(small.target, cst.Name):
                        name = small.target.value
                        cls.fields.append((name, small.value, small.annotation.annotation))
                        if small.value is not None:
                            try:
                                v = self.eval(body_frame, small.value, sf)
                            except (EvalRaise, GiveUp) as exc:
                                v = Unknown(f"class attribute `{name}`: {exc}", sf.line(small), sf.path)
                            cls.attrs[name] = v
                            body_frame.locals[name] = v
                    elif isinstance(small, cst.Assign):
                        try:
                            v = self.eval(body_frame, small.value, sf)
                        except (EvalRaise, GiveUp) as exc:
                            v = Unknown(f"class attribute: {exc}", sf.line(small), sf.path)
                        for t in small.targets:
                            for name in _target_names(t.target):
                                cls.attrs[name] = v
                                body_frame.locals[name] = v
            elif isinstance(stmt, cst.ClassDef):
                inner = self.define_class(body_frame, stmt, sf)
                cls.attrs[stmt.name.value] = inner
            else:  # other statements in a class body (if/for/try...): the names they bind are unknown
                for name in _bound_names(stmt):
                    cls.attrs[name] = Unknown(f"class attribute `{name}` is set by a statement that is not "
                                              f"evaluated (line {sf.line(stmt)})", sf.line(stmt), sf.path)
        if self.in_catalog(sf) and node.name.value == "Module":
            cls.intrinsic = "Module"
        self._init_subclass(cls, class_kwargs, sf.line(node), sf.path)
        value: Any = cls
        for d in reversed(node.decorators):
            if self.in_catalog(sf):
                break
            out = self._apply_decorator(frame, d, value, f"class `{node.name.value}`", sf,
                                        _decorator_line(sf, node, d))
            if isinstance(out, Unknown) and isinstance(value, ClassValue):
                # keep the class (it is listed, its source lines known) but nothing built from it is claimed
                value.taint = value.taint or out
                continue
            value = out
        self._bind_name(frame, node.name.value, value)
        return cls

    def _init_subclass(self, cls: ClassValue, kwargs: Dict[str, Any], line: int, path: str) -> None:
        """``__init_subclass__`` of a base class read from source runs when the subclass is created."""
        for c in cls.mro()[1:]:
            if c.intrinsic or c.qualname.startswith("torch."):
                continue
            hook = c.attrs.get("__init_subclass__")
            if hook is None:
                continue
            if not isinstance(hook, FunctionValue):
                cls.taint = cls.taint or Unknown(f"`__init_subclass__` of `{c.name}` cannot be evaluated", line, path)
                return
            try:
                self.call_function(hook, [cls], dict(kwargs), owner=c)
            except (EvalRaise, GiveUp) as exc:
                why = exc.message if isinstance(exc, EvalRaise) else exc.reason
                cls.taint = cls.taint or Unknown(f"`{c.name}.__init_subclass__` for class `{cls.name}` cannot be "
                                                 f"evaluated: {why}", line, path)
            return

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

    def delattr(self, obj: Any, name: str) -> None:
        """``del obj.name`` / ``delattr(obj, name)``: nn.Module.__delattr__ unregisters a parameter, buffer or
        submodule; a ``__delattr__`` defined by the class is run as Python runs it."""
        if isinstance(obj, (ModuleValue, InstanceValue)) and isinstance(obj.cls, ClassValue):
            hook, howner = obj.cls.user_hook("__delattr__")
            if hook is not None:
                if not isinstance(hook, FunctionValue):
                    raise GiveUp(f"`{obj.cls.name}.__delattr__` cannot be evaluated")
                self.call_function(hook, [obj, name], {}, owner=howner)
                return
        self.raw_delattr(obj, name)

    def delattr_named(self, obj: Any, name: Any) -> None:
        if not isinstance(name, str):
            raise GiveUp("__delattr__ with a name that cannot be known")
        self.raw_delattr(obj, name)

    def raw_delattr(self, obj: Any, name: str) -> None:
        if isinstance(obj, ModuleValue):
            obj.remove(name)
        elif isinstance(obj, InstanceValue):
            obj.attrs.pop(name, None)

    def setattr(self, obj: Any, name: str, value: Any, hook_ok: bool = True) -> None:
        """``obj.name = value``; ``hook_ok=False`` is ``object.__setattr__``: no user ``__setattr__``, but
        data descriptors (properties with setters) still apply, as in Python."""
        if isinstance(obj, (ModuleValue, InstanceValue)) and isinstance(obj.cls, ClassValue):
            hook, howner = obj.cls.user_hook("__setattr__") if hook_ok else (None, None)
            if hook is not None:  # `self.x = v` calls type(self).__setattr__, as in Python
                if not isinstance(hook, FunctionValue):
                    raise GiveUp(f"`{obj.cls.name}.__setattr__` cannot be evaluated")
                before, notes = self.unknown_calls, len(self.notes)
                result = self.call_function(hook, [obj, name, value], {}, owner=howner)
                if self.unknown_calls != before or isinstance(result, Unknown) or len(self.notes) != notes:
                    # the hook handed the value to code we could not follow, or could not be evaluated itself:
                    # where the value went (and what else the hook wrote) is not known
                    why = Unknown(f"`.{name} = ...` goes through `{obj.cls.name}.__setattr__` (line "
                                  f"{hook.sf.line(hook.node)}), which cannot be followed", self.line, self.path)
                    if isinstance(obj, ModuleValue):
                        obj.unknown_attrs[f"<{name} through __setattr__>"] = Entry(why, self.line, self.path)
                    else:  # never keep the value the attribute had before the write: it was overwritten
                        obj.tainted = obj.tainted or why
                return
            if not isinstance(value, (ModuleValue, ParamValue, BufferMarker)) and not (
                    isinstance(obj, ModuleValue) and (name in obj.params or name in obj.buffers or name in obj.children)):
                prop, powner = obj.cls.find(name)
                if isinstance(prop, FunctionValue) and _is_property(prop):
                    if prop.setter is None:
                        raise EvalRaise(f"AttributeError: property '{name}' of '{obj.cls.name}' object has no setter",
                                        self.line, self.path)
                    self.call_function(prop.setter, [obj, value], {}, owner=powner)
                    return
                setter = self._descriptor(obj.cls, name, "__set__")
                if setter is not None:
                    desc, fn, fowner = setter
                    self.call_function(fn, [desc, obj, value], {}, owner=fowner)
                    return
        self.raw_setattr(obj, name, value)

    def _descriptor(self, cls: ClassValue, name: str, kind: str) -> Optional[Tuple[Any, Any, Any]]:
        """(descriptor, its ``__get__``/``__set__``, owner) when class attribute ``name`` is a descriptor
        object whose class (read from source) defines ``kind``."""
        attr, owner = cls.find(name)
        if owner is None or not isinstance(attr, InstanceValue) or not isinstance(attr.cls, ClassValue):
            return None
        fn, fowner = attr.cls.user_hook(kind)
        if fn is None:
            return None
        if not isinstance(fn, FunctionValue):
            raise GiveUp(f"descriptor `{name}` of class `{cls.name}` cannot be evaluated")
        return attr, fn, fowner

    def raw_setattr(self, obj: Any, name: str, value: Any) -> None:
        """``object.__setattr__`` / ``nn.Module.__setattr__``: no user hook."""
        if isinstance(obj, ModuleValue):
            self.torch.module_setattr(obj, name, value)
        elif isinstance(obj, InstanceValue):
            if obj.frozen:
                raise EvalRaise(f"dataclasses.FrozenInstanceError: cannot assign to field '{name}'", self.line, self.path)
            setter, owner = obj.cls.find(f"<setter {name}>") if isinstance(obj.cls, ClassValue) else (None, None)
            if isinstance(setter, FunctionValue):
                self.call_function(setter, [obj, value], {}, owner=owner)
                return
            obj.attrs[name] = value
        elif isinstance(obj, ParamValue) and name == "data" and isinstance(value, TensorSpec):
            obj.tensor = value
        elif isinstance(obj, (TensorSpec, ParamValue)) and name == "data":
            # `buf.data = t`: the tensor itself now holds t (every reference to it sees the new shape and dtype)
            self.torch.replace_tensor(obj.tensor if isinstance(obj, ParamValue) else obj, value,
                                              f"`.data` is assigned a value that cannot be known (line {self.line})")
        elif isinstance(obj, (TensorSpec, ParamValue)) and name == "requires_grad":
            return
        elif isinstance(obj, Opaque):
            # code writes an attribute of an unbound value (T5/Udop: `decoder_config = copy.deepcopy(config);
            # decoder_config.is_decoder = True`): reading it back as the unbound attribute would be a guess, and
            # copies of an Opaque are the same object -- what is read afterwards is unknown
            obj.bound[name] = Unknown(f"`{obj.name}.{name}` is assigned by the code on a value that is not bound "
                                      f"(bind {obj.name} to decide)", self.line, self.path, maybe_state(value))
        elif isinstance(obj, Unknown):
            return
        elif isinstance(obj, ClassValue):
            obj.attrs[name] = value
        else:
            return  # attributes on other objects do not affect the state_dict

    def setitem(self, obj: Any, key: Any, value: Any) -> None:
        if isinstance(obj, (list, dict)):
            if isinstance(obj, dict):
                key = _hashable_key(key)
            if isinstance(key, (Unknown, Opaque, Sym, SymKey)):
                if isinstance(obj, dict):
                    obj[key if isinstance(key, SymKey) else SymKey(key)] = value
                    return
                obj[:] = [Repeated(Unknown("list element set at a symbolic index"), Unknown("?"), "?")]
                return
            try:
                obj[key] = value
            except (IndexError, TypeError, KeyError):
                raise EvalRaise("item assignment out of range", self.line, self.path)
        elif isinstance(obj, ModuleValue):
            self.torch.container_setitem(obj, key, value)
        elif isinstance(obj, (TensorSpec, ParamValue)):
            return  # in-place writes into a tensor keep its shape and dtype
        elif isinstance(obj, Unknown):
            # a write into a container we cannot see (`groups[unknown_index][k] = v`): it may alias one we track,
            # so later conclusions (a KeyError, say) are not certain any more
            if self.loading:  # at import (registries filled by decorators): the tables of this module
                self.taint_module_state(self.path_modules.get(self.path),
                                        f"a write into a value that cannot be known (line {self.line})")
            else:
                self.lost_writes.append((self.line, self.path))

    # -- expressions -------------------------------------------------------------------------
    def eval(self, frame: Frame, node: Any, sf: SourceFile) -> Any:
        self.tick()
        t = type(node)
        if t is cst.Name:
            return self.lookup(frame, node.value)
        if t is cst.Integer:
            if len(node.value) > 1200:
                return self.too_large(f"an integer literal of {len(node.value)} digits")
            return int(node.value.replace("_", ""), 0) if not node.value.startswith("0") or node.value in ("0",) or node.value[1:2] in "xXoObB" else int(node.value.replace("_", ""))
        if t is cst.Float:
            return float(node.value.replace("_", ""))
        if t is cst.SimpleString:
            text = node.value  # evaluated_value runs ast.literal_eval on every call
            hit = _STRINGS.get(text, _STRINGS)
            if hit is _STRINGS:
                hit = _STRINGS[text] = node.evaluated_value
            return hit
        if t is cst.Attribute:
            return self.getattr(self.eval(frame, node.value, sf), node.attr.value)
        if t is cst.Call:
            return self.eval_call(frame, node, sf)
        if t is cst.BinaryOperation:
            return self.binop(_BIN_OPS[type(node.operator)], self.eval(frame, node.left, sf), self.eval(frame, node.right, sf))
        if t is cst.UnaryOperation:
            return self.unaryop(node.operator, self.eval(frame, node.expression, sf))
        if t is cst.BooleanOperation:
            left = self.eval(frame, node.left, sf)
            lt = self.truth(left)
            is_and = isinstance(node.operator, cst.And)
            if lt is UNKNOWN_BOOL:
                right = self.eval(frame, node.right, sf)
                rt = self.truth(right)
                if is_and and rt is False:
                    return False if isinstance(left, bool) or left is UNKNOWN_BOOL else self.unknown("value of `and` cannot be decided", False)
                if not is_and and rt is True and isinstance(right, bool):
                    return True
                return self.unknown(f"`{sf.code(node).strip()}` cannot be decided", maybe_state=maybe_state(left) or maybe_state(right))
            if is_and:
                return left if lt is False else self.eval(frame, node.right, sf)
            return left if lt is True else self.eval(frame, node.right, sf)
        if t is cst.Comparison:
            return self.compare(frame, node, sf)
        if t in (cst.Tuple, cst.List, cst.Set):
            items: List[Any] = []
            for e in node.elements:
                if isinstance(e, cst.StarredElement):
                    v = self.iterate(self.eval(frame, e.value, sf), sf)
                    if isinstance(v, Unknown):
                        items.append(Repeated(v, v, "?"))
                    elif isinstance(v, SymRange):
                        items.append(Repeated(self.unknown("element of a symbolic range", False), v.count, "?"))
                    else:
                        items.extend(v)
                else:
                    items.append(self.eval(frame, e.value, sf))
            if t is cst.Tuple:
                return tuple(items)
            if t is cst.Set:
                try:
                    return set(items)
                except TypeError:
                    return self.unknown("set of unhashable values", False)
            return items
        if t is cst.Dict:
            out: Dict[Any, Any] = {}
            for e in node.elements:
                if isinstance(e, cst.StarredDictElement):
                    v = self.eval(frame, e.value, sf)
                    if isinstance(v, dict):
                        out.update(v)
                    else:
                        return self.unknown("`**` of a value that is not a known dict")
                else:
                    k = self.eval(frame, e.key, sf)
                    out[_hashable_key(k)] = self.eval(frame, e.value, sf)
            return out
        if t in (cst.ConcatenatedString, cst.FormattedString):
            return self.eval_string(frame, node, sf)
        if t in (cst.ListComp, cst.GeneratorExp, cst.SetComp, cst.DictComp):
            return self.eval_comprehension(frame, node, sf)
        if t is cst.Subscript:
            obj = self.eval(frame, node.value, sf)
            key = self.eval_slice(frame, node.slice, sf)
            return self.getitem(obj, key)
        if t is cst.IfExp:
            c = self.truth(self.eval(frame, node.test, sf))
            if c is True:
                return self.eval(frame, node.body, sf)
            if c is False:
                return self.eval(frame, node.orelse, sf)
            a = self.eval(frame, node.body, sf)
            b = self.eval(frame, node.orelse, sf)

            return merge_values(self, a, b, f"{sf.code(node.test).strip()} (line {self.line})")
        if t is cst.Lambda:
            defaults = self._param_defaults(frame, node.params, sf)
            lam = FunctionValue(node, frame.scope, frame, "<lambda>", defaults)
            lam.sf = sf
            return lam
        if t is cst.Ellipsis:
            return Ellipsis
        if t is cst.Imaginary:
            return complex(node.value.replace("_", ""))
        if t is cst.NamedExpr:
            v = self.eval(frame, node.value, sf)
            self.assign(frame, node.target, v, sf)
            return v
        return self.unknown(f"unsupported expression `{sf.code(node).strip()[:60]}`")

    def eval_string(self, frame: Frame, node: Any, sf: SourceFile) -> Any:
        if isinstance(node, cst.SimpleString):
            return node.evaluated_value
        if isinstance(node, cst.ConcatenatedString):
            a = self.eval_string(frame, node.left, sf)
            b = self.eval_string(frame, node.right, sf)
            if isinstance(a, str) and isinstance(b, str):
                return a + b
            if isinstance(a, bytes) and isinstance(b, bytes):
                return a + b
            return self.unknown("string cannot be computed", False)
        parts: List[str] = []
        for p in node.parts:
            if isinstance(p, cst.FormattedStringText):
                parts.append(p.value.replace("{{", "{").replace("}}", "}"))
                continue
            v = self.eval(frame, p.expression, sf)
            if isinstance(v, Opaque):
                v = v.sym()
            if isinstance(v, Sym):
                if p.format_spec or p.conversion:
                    return self.unknown("formatted symbolic value", False)
                parts.append("{" + _placeholder_text(v) + "}")
                continue
            if isinstance(v, (Unknown,)) or not formattable(v):
                return Unknown(f"part `{sf.code(p.expression).strip()}` of a string cannot be computed",
                               self.line, self.path, False)
            spec = ""
            if p.format_spec:
                for fp in p.format_spec:
                    if isinstance(fp, cst.FormattedStringText):
                        spec += fp.value
                    else:
                        return self.unknown("nested format spec", False)
            conv = p.conversion
            try:
                if conv == "r":
                    v = repr(v)
                elif conv == "s":
                    v = str(v)
                parts.append(format(v, spec))
            except Exception:  # noqa: BLE001 - any failure of Python's formatting leaves the string unknown
                return self.unknown("string formatting failed", False)
        return "".join(parts)

    def eval_slice(self, frame: Frame, elems: Any, sf: SourceFile) -> Any:
        vals = []
        for e in elems:
            s = e.slice
            if isinstance(s, cst.Index):
                vals.append(self.eval(frame, s.value, sf))
            else:
                lo = None if s.lower is None else self.eval(frame, s.lower, sf)
                hi = None if s.upper is None else self.eval(frame, s.upper, sf)
                st = None if s.step is None else self.eval(frame, s.step, sf)
                if any(isinstance(x, (Unknown, Opaque, Sym)) for x in (lo, hi, st)):
                    vals.append(SymSlice(lo, hi, st))
                else:
                    vals.append(slice(lo, hi, st))
        return vals[0] if len(vals) == 1 else tuple(vals)

    def eval_comprehension(self, frame: Frame, node: Any, sf: SourceFile) -> Any:
        inner = Frame(frame.scope, frame, frame.func, frame.cls)
        inner.locals = {}
        results: List[Any] = []
        dict_mode = isinstance(node, cst.DictComp)
        out_dict: Dict[Any, Any] = {}

        def run(comp: cst.CompFor) -> Optional[Unknown]:
            it = self.iterate(self.eval(inner, comp.iter, sf), sf)
            if isinstance(it, Unknown):
                return it
            if isinstance(it, SymRange):
                if comp.ifs or comp.inner_for_in is not None or dict_mode:
                    return self.unknown("comprehension over a symbolic range with filters or nesting")
                placeholder = "ijklmnpq"[len(self.repeat)] if len(self.repeat) < 8 else f"i{len(self.repeat)}"
                idx = Sym.var(f"{{{placeholder}}}")
                if it.step != 1 or it.start != 0:
                    idx = it.start + idx * it.step
                self.assign(inner, comp.target, idx, sf)
                self.repeat.append((placeholder, it.count))
                try:
                    v = self.eval(inner, node.elt, sf)
                finally:
                    self.repeat.pop()
                results.append(Repeated(v, it.count, placeholder))
                return None
            for item in it:
                if isinstance(item, Repeated):
                    return self.unknown("comprehension over a list of symbolic length")
                self.assign(inner, comp.target, item, sf)
                ok = True
                for cond in comp.ifs:
                    c = self.truth(self.eval(inner, cond.test, sf))
                    if c is UNKNOWN_BOOL:
                        return self.unknown(f"comprehension filter `{sf.code(cond.test).strip()}` cannot be decided")
                    if not c:
                        ok = False
                        break
                if not ok:
                    continue
                if comp.inner_for_in is not None:
                    r = run(comp.inner_for_in)
                    if r is not None:
                        return r
                elif dict_mode:
                    out_dict[_hashable_key(self.eval(inner, node.key, sf))] = self.eval(inner, node.value, sf)
                else:
                    results.append(self.eval(inner, node.elt, sf))
            return None

        err = run(node.for_in)
        if err is not None:
            return err
        if dict_mode:
            return out_dict
        if isinstance(node, cst.SetComp):
            try:
                return set(results)
            except TypeError:
                return self.unknown("set of unhashable values", False)
        if isinstance(node, cst.GeneratorExp):
            return self.iterator(results)
        return results

    def compare(self, frame: Frame, node: cst.Comparison, sf: SourceFile) -> Any:
        left = self.eval(frame, node.left, sf)
        result: Any = True
        for ct in node.comparisons:
            right = self.eval(frame, ct.comparator, sf)
            r = self.cmp(_CMP_OPS[type(ct.operator)], left, right)
            if r is False:
                return False
            if r is not True:
                result = r
            left = right
        return result

    def cmp(self, op: str, a: Any, b: Any) -> Any:
        if op in ("is", "is not"):
            if isinstance(a, (Unknown, Opaque)) or isinstance(b, (Unknown, Opaque)):
                if (a is None or b is None) and (isinstance(a, Opaque) or isinstance(b, Opaque)):
                    return self.unknown("comparison with an unbound parameter", False)
                u = a if isinstance(a, Unknown) else b if isinstance(b, Unknown) else None
                return self.unknown(u.reason if u is not None else "identity of an unknown value", False)
            if isinstance(a, Sym) or isinstance(b, Sym):
                if a is None or b is None:
                    return op == "is not"
            res = a is b or (isinstance(a, (DtypeValue,)) and isinstance(b, DtypeValue) and a.name == b.name)
            return res if op == "is" else not res
        if op in ("in", "not in"):
            if isinstance(b, TorchDir):
                known = b.contains(a)
                if known is None:
                    return self.unknown(f"whether `{a}` is in dir({b.qualname})", False)
                return known if op == "in" else not known
            if isinstance(b, (Unknown, Opaque)) or isinstance(a, (Unknown, Opaque)):
                return self.unknown("membership of an unknown value", False)
            if isinstance(a, Sym):
                if isinstance(b, (list, tuple, set)) and all(is_int(x) for x in b) and not b:
                    return op == "not in"
                return self.unknown("membership of a symbolic value", False)
            if isinstance(b, ModuleValue):
                found, _ = b.lookup(a) if isinstance(a, str) else (False, None)
                return found if op == "in" else not found
            if isinstance(b, (list, tuple)) and any(isinstance(x, (Unknown, Opaque, Sym, Repeated)) for x in b):
                if any(_same_plain(a, x) for x in b if not isinstance(x, (Unknown, Opaque, Sym, Repeated))):
                    return op == "in"
                return self.unknown("membership in a list with unknown items", False)
            try:
                res = a in b
            except TypeError:
                return self.unknown("membership test cannot be evaluated", False)
            return res if op == "in" else not res
        for x in (a, b):
            if isinstance(x, Unknown):
                return self.unknown(x.reason, False)
        a = a.sym() if isinstance(a, Opaque) else a
        b = b.sym() if isinstance(b, Opaque) else b
        if isinstance(a, Sym) or isinstance(b, Sym):
            if op in ("==", "!=") and (a is None or isinstance(a, (str, tuple, list)) or b is None or isinstance(b, (str, tuple, list))):
                return self.unknown("comparison of a symbolic value", False)
            if is_intlike(a) and is_intlike(b):
                d = a - b
                if is_int(d):
                    return {"==": d == 0, "!=": d != 0, "<": d < 0, "<=": d <= 0, ">": d > 0, ">=": d >= 0}[op]
            return self.unknown("comparison of symbolic values cannot be decided", False)
        if isinstance(a, DtypeValue) and isinstance(b, DtypeValue):
            return (a.name == b.name) if op == "==" else (a.name != b.name) if op == "!=" else self.unknown("dtype order", False)
        if op in ("==", "!=") and (_has_instance(a) or _has_instance(b)):
            same = _objects_equal(a, b)
            if same is None:
                return self.unknown("comparison of objects whose __eq__ is not modelled", False)
            return same if op == "==" else not same
        if not _plain(a) or not _plain(b):
            if op == "==":
                return a is b if not isinstance(a, (TensorSpec, ModuleValue)) else self.unknown("comparison of tensors", False)
            if op == "!=":
                return a is not b if not isinstance(a, (TensorSpec, ModuleValue)) else self.unknown("comparison of tensors", False)
            return self.unknown("comparison cannot be evaluated", False)
        try:
            return {"==": lambda: a == b, "!=": lambda: a != b, "<": lambda: a < b, "<=": lambda: a <= b,
                    ">": lambda: a > b, ">=": lambda: a >= b}[op]()
        except TypeError:
            raise EvalRaise(f"cannot compare {type(a).__name__} and {type(b).__name__}", self.line, self.path)

    def truth(self, v: Any) -> Any:
        if isinstance(v, bool):
            return v
        if v is None:
            return False
        if isinstance(v, (int, float, str, bytes, complex)):
            return bool(v)
        if isinstance(v, (tuple, list, dict, set)):
            if any(isinstance(x, Repeated) for x in v) if not isinstance(v, dict) else False:
                return True if any(isinstance(x, Repeated) is False for x in v) else UNKNOWN_BOOL
            return bool(v)
        if isinstance(v, (Unknown, Opaque, Sym)):
            if isinstance(v, Opaque):
                v.used_as_value = True
            return UNKNOWN_BOOL
        if v is UNKNOWN_BOOL:
            return UNKNOWN_BOOL
        if isinstance(v, (TensorSpec, ParamValue)):
            return UNKNOWN_BOOL
        if isinstance(v, ModuleValue):
            if v.container:
                n = self.torch.container_len(v)
                return bool(n) if is_int(n) else UNKNOWN_BOOL
            return True
        return True

    def unaryop(self, op: Any, v: Any) -> Any:
        if isinstance(op, cst.Not):
            t = self.truth(v)
            if t is UNKNOWN_BOOL:  # a value, not the sentinel: it flows into int(), lists, calls...
                return self.unknown("`not` of a value that cannot be decided", False)
            return not t
        if isinstance(v, Opaque):
            v = v.sym()
        if isinstance(v, Unknown):
            return v.as_value()
        try:
            if isinstance(op, cst.Minus):
                return -v
            if isinstance(op, cst.Plus):
                return +v
            if isinstance(op, cst.BitInvert):
                return ~v
        except TypeError:
            return self.unknown("unary operation on an unsupported value", False)
        return self.unknown("unary operation", False)

    def binop(self, op: str, a: Any, b: Any) -> Any:
        if isinstance(a, ModuleValue) or isinstance(b, ModuleValue):
            return self._module_binop(op, a, b)
        if isinstance(a, Opaque):
            a = a.sym()
        if isinstance(b, Opaque):
            b = b.sym()
        for x in (a, b):
            if isinstance(x, Unknown):
                return x if (isinstance(a, list) or isinstance(b, list)) else x.as_value()
            if x is UNKNOWN_BOOL:
                return self.unknown("arithmetic on an undecidable boolean", False)
        if isinstance(a, (TensorSpec, ParamValue)) or isinstance(b, (TensorSpec, ParamValue)):
            return self.torch.tensor_binop(op, a, b)
        if isinstance(a, list) and isinstance(b, list) and op == "+":
            if len(a) + len(b) > MAX_SEQ_LEN:
                return self.too_large(f"a list of {len(a) + len(b)} items")
            return a + b
        if op == "*" and (isinstance(a, (list, tuple)) and is_intlike(b) or isinstance(b, (list, tuple)) and is_intlike(a)):
            seq, n = (a, b) if isinstance(a, (list, tuple)) else (b, a)
            if isinstance(n, Sym):
                placeholder = "ijklmnpq"[len(self.repeat)] if len(self.repeat) < 8 else f"i{len(self.repeat)}"
                out = [Repeated(x, n, placeholder) for x in seq] if len(seq) == 1 else \
                    [Repeated(self.unknown("repeated list", False), Unknown("?"), "?")]
                return out if isinstance(seq, list) else tuple(out)
            if n > 0 and len(seq) * n > MAX_SEQ_LEN:
                return self.too_large(f"a sequence of {len(seq)} x {n} items")
            return seq * n
        if op == "+" and type(a) is type(b) and isinstance(a, (list, tuple)):
            if len(a) + len(b) > MAX_SEQ_LEN:
                return self.too_large(f"a sequence of {len(a) + len(b)} items")
            return a + b
        if op == "%" and isinstance(a, str):
            return self._percent_format(a, b)
        if isinstance(a, Sym) or isinstance(b, Sym):
            if op == "/":
                return self.unknown("true division of a symbolic value", False)
            if op in ("+", "-", "*", "//", "%") and is_intlike(a) and is_intlike(b):
                try:
                    if op == "+":
                        return a + b
                    if op == "-":
                        return a - b
                    if op == "*":
                        return a * b
                    if op == "//":
                        return a // b
                    return a % b
                except TypeError:
                    return self.unknown("symbolic arithmetic", False)
            if op == "**" and isinstance(a, Sym) and is_int(b):
                r = a ** b
                return r if r is not NotImplemented else self.unknown("symbolic power", False)
            if isinstance(a, float) or isinstance(b, float):
                return self.unknown("float arithmetic with a symbolic value", False)
            return self.unknown(f"`{op}` on a symbolic value", False)
        if isinstance(a, Repeated) or isinstance(b, Repeated):
            return self.unknown("arithmetic on a repeated value")
        if not _plain(a) or not _plain(b):
            return self.unknown(f"`{op}` on values that are not plain numbers", maybe_state=False)
        big = _too_large(op, a, b)
        if big:
            return self.too_large(big)
        try:
            return _PY_OPS[op](a, b)
        except ZeroDivisionError:
            raise EvalRaise("division by zero", self.line, self.path)
        except (TypeError, ValueError, OverflowError) as exc:
            raise EvalRaise(f"`{op}` fails: {exc}", self.line, self.path)

    def _module_binop(self, op: str, a: Any, b: Any) -> Any:
        """``ModuleList + iterable`` and ``Sequential + Sequential`` build a new container, as torch does;
        anything else on modules is unknown and may hold state."""
        kind = a.container if isinstance(a, ModuleValue) else ""
        if op == "+" and kind in ("ModuleList", "Sequential"):
            base = next((c for c in a.cls.mro() if c.intrinsic == kind), None) if isinstance(a.cls, ClassValue) else None
            if base is not None:
                if kind == "Sequential" and not (isinstance(b, ModuleValue) and b.container == "Sequential"):
                    if isinstance(b, (Unknown, Opaque)):
                        return self.unknown("`+` of a Sequential and a value that cannot be known")
                    raise EvalRaise("add operator supports only objects of Sequential class", self.line, self.path)
                out = ModuleValue(base, base.qualname)
                out.container = kind
                self.torch.container_extend(out, a)
                self.torch.container_extend(out, b)
                return out
        return self.unknown(f"`{op}` on modules")

    def _percent_format(self, fmt: str, args: Any) -> Any:
        """``"layer%d" % (i + 1)`` with symbolic values: the placeholder text goes into the string."""
        items = list(args) if isinstance(args, tuple) else [args]
        marks: Dict[str, str] = {}
        concrete = []
        for k, v in enumerate(items):
            if isinstance(v, Opaque):
                v = v.sym()
            if isinstance(v, Sym):
                mark = 7_390_000_000_000 + k
                marks[str(mark)] = "{" + _placeholder_text(v) + "}"
                concrete.append(mark)
            elif isinstance(v, (str, int, float, bool, type(None))):
                concrete.append(v)
            else:
                return self.unknown("`%` formatting of values that are not known", False)
        try:
            text = fmt % (tuple(concrete) if isinstance(args, tuple) else concrete[0])
        except (TypeError, ValueError, KeyError) as exc:
            raise EvalRaise(f"string formatting fails: {exc}", self.line, self.path)
        for mark, rep in marks.items():
            text = text.replace(mark, rep)
        return text

    # -- names, attributes, items ------------------------------------------------------------
    def lookup(self, frame: Frame, name: str) -> Any:
        f: Optional[Frame] = frame
        if frame.globals is not None and name in frame.globals:
            f = None
        while f is not None:
            if name in f.locals:
                v = f.locals[name]
                if isinstance(v, Thunk):
                    _, v = f.scope.lookup(name)
                return v
            f = f.closure
        found, v = frame.scope.lookup(name)
        if found:
            return v
        if name in self.builtins:
            return self.builtins[name]
        return self.unknown(f"name `{name}` is not defined in this file")

    def getattr(self, obj: Any, name: str) -> Any:
        if isinstance(obj, Unknown):
            if isinstance(obj, TableView) and name in TABLE_MUTATORS:
                obj.forget()
            return obj
        if isinstance(obj, Opaque):
            return self._opaque_attr(obj, name)
        if isinstance(obj, NamespaceValue):
            return self.getattr_ns(obj, name, self.line, self.path)
        if isinstance(obj, ModuleValue):
            found, v = obj.lookup(name)
            if found:
                if isinstance(obj.cls, ClassValue) and name in obj.attrs:  # a property wins over the instance dict
                    prop, powner = obj.cls.find(name)
                    if isinstance(prop, FunctionValue) and _is_property(prop):
                        return self._bind(obj, prop, powner)
                return v
            if isinstance(obj.cls, ClassValue):
                attr, owner = obj.cls.find(name)
                if owner is not None:  # (a class attribute may be None)
                    getter = self._descriptor(obj.cls, name, "__get__")
                    if getter is not None:
                        return self.call_function(getter[1], [getter[0], obj, obj.cls], {}, owner=getter[2])
                    return self._bind(obj, attr, owner)
                if name == "__dict__":
                    self.note("`__dict__` of a module is not modelled: what is written through it cannot be known")
                    return self.unknown("`__dict__` of a module")
                if name == "__class__":
                    return obj.cls
                hook, howner = obj.cls.user_hook("__getattr__")
                if hook is not None and name not in MODULE_ATTRS:
                    if not isinstance(hook, FunctionValue):
                        return self.unknown(f"`{obj.cls.name}.__getattr__` cannot be evaluated")
                    return self.call_function(hook, [obj, name], {}, owner=howner)
            return self.torch.module_attr(obj, name)
        if isinstance(obj, InstanceValue):
            if obj.tainted is not None:
                return Unknown(obj.tainted.reason, obj.tainted.line, obj.tainted.path)
            if isinstance(obj.cls, ClassValue):
                hook, howner = obj.cls.user_hook("__getattribute__")
                if hook is not None:  # every attribute access goes through it, as in Python
                    if not isinstance(hook, FunctionValue):
                        return self.unknown(f"`{obj.cls.name}.__getattribute__` cannot be evaluated")
                    return self.call_function(hook, [obj, name], {}, owner=howner)
            return self.instance_attr(obj, name)
        if isinstance(obj, ClassValue):
            attr, owner = obj.find(name)
            taint = obj.tainted()
            if taint is not None and name != "__name__":
                return Unknown(taint.reason, taint.line, taint.path)
            if obj.intrinsic == "object" and owner is None:
                special = self._object_method(name)
                if special is not None:
                    return special
            if name == "__init__":
                generated = self._generated_init(obj.mro())
                if generated is not None:
                    return generated
            if name == "__dict__":
                return obj.attrs  # (Python gives a read-only view of the same mapping)
            if owner is not None and obj.is_enum() and not isinstance(attr, FunctionValue) and \
                    "property" not in getattr(attr, "decorators", ()):
                return self.enum_member(obj, name)
            if owner is not None:
                if isinstance(attr, FunctionValue) and "classmethod" in attr.decorators:
                    return BoundMethod(obj, attr, owner)
                return attr
            if name == "__name__":
                return obj.name
            return self.torch.class_attr(obj, name)
        if isinstance(obj, SuperValue):
            return self._super_attr(obj, name)
        if isinstance(obj, (TensorSpec, ParamValue, DtypeValue)):
            return self.torch.tensor_attr(obj, name)
        if isinstance(obj, Partial):
            if name == "func":
                return obj.func
            if name == "keywords":
                return dict(obj.kwargs)
            return self.unknown(f"attribute `{name}` of a partial")
        if isinstance(obj, FunctionValue):
            if name == "__name__":
                return obj.name
            return self.unknown(f"attribute `{name}` of function `{obj.name}`")
        if isinstance(obj, Intrinsic) and hasattr(obj, "attr"):  # (a wrapper with attributes of its own)
            return obj.attr(name)
        return self.pyvalues.python_attr(obj, name)

    def instance_attr(self, obj: InstanceValue, name: str) -> Any:
        """``object.__getattribute__`` (and ``__getattr__`` when it fails) for an instance of a plain class."""
        cls = obj.cls if isinstance(obj.cls, ClassValue) else None
        if cls is not None and name in obj.attrs:  # a property on the class wins over the instance dict
            prop, powner = cls.find(name)
            if isinstance(prop, FunctionValue) and _is_property(prop):
                return self._bind(obj, prop, powner)
        if cls is not None and name not in obj.attrs:
            getter = self._descriptor(cls, name, "__get__")
            if getter is not None:
                return self.call_function(getter[1], [getter[0], obj, cls], {}, owner=getter[2])
        elif cls is not None and self._descriptor(cls, name, "__set__") is not None:  # a data descriptor wins
            getter = self._descriptor(cls, name, "__get__")
            if getter is not None:
                return self.call_function(getter[1], [getter[0], obj, cls], {}, owner=getter[2])
        if name in obj.attrs:
            return obj.attrs[name]
        attr, owner = cls.find(name) if cls is not None else (None, None)
        if owner is not None:
            return self._bind(obj, attr, owner)
        if name == "__class__":
            return obj.cls
        if name == "__dict__":
            return obj.attrs  # the very dict: `self.__dict__.update(kwargs)` sets attributes
        if cls is not None:
            hook, howner = cls.user_hook("__getattr__")
            if hook is not None:
                if not isinstance(hook, FunctionValue):
                    return self.unknown(f"`{cls.name}.__getattr__` cannot be evaluated")
                return self.call_function(hook, [obj, name], {}, owner=howner)
        if obj.items is not None:
            return self.pyvalues.python_attr(obj.items, name)
        return self.unknown(f"object of class `{getattr(obj.cls, 'name', '?')}` has no attribute `{name}`")

    def _generated_init(self, mro: List[ClassValue]) -> Optional[Intrinsic]:
        """``cls.__init__`` when ``@dataclass`` wrote it (the first class of ``mro`` that has an __init__)."""
        for c in mro:
            if "__init__" in c.attrs:
                return None
            if c.is_dataclass and c.dc_options.get("init", True) is not False:
                dc = c
                return Intrinsic(f"{c.name}.__init__", lambda o, *a, **k: self._dataclass_init(
                    o.cls if isinstance(o, (ModuleValue, InstanceValue)) else dc, o, list(a), k, dc))
        return None

    def _object_method(self, name: str) -> Any:
        """``object.__setattr__(self, k, v)`` and friends, called explicitly (frozen dataclasses, hooks)."""
        if name == "__setattr__":
            def set_(o: Any, k: Any, v: Any) -> None:
                if isinstance(o, InstanceValue) and isinstance(k, str):
                    if o.frozen:  # a frozen dataclass's own __init__/__post_init__ writes through object.__setattr__
                        o.attrs[k] = v
                    else:
                        self.setattr(o, k, v, hook_ok=False)
                elif isinstance(o, ModuleValue) and isinstance(k, str):
                    prop, _ = o.cls.find(k) if isinstance(o.cls, ClassValue) else (None, None)
                    if (isinstance(prop, FunctionValue) and _is_property(prop)) or (
                            isinstance(o.cls, ClassValue) and self._descriptor(o.cls, k, "__set__") is not None):
                        self.setattr(o, k, v, hook_ok=False)  # a data descriptor applies, as in Python
                    else:
                        self.torch.object_setattr(o, k, v)  # the instance __dict__: never registered
                else:
                    raise GiveUp("object.__setattr__ on a value that is not known")
            return Intrinsic("object.__setattr__", set_)
        if name == "__getattribute__":
            return Intrinsic("object.__getattribute__", lambda o, k: self.instance_attr(o, k)
                             if isinstance(o, InstanceValue) and isinstance(k, str) else self.getattr(o, k))
        if name == "__new__":
            return Intrinsic("object.__new__", lambda c, *a, **k: self._object_new(c))
        if name == "__init__":
            return Intrinsic("object.__init__", lambda *a, **k: None)
        if name == "__init_subclass__":
            return Intrinsic("object.__init_subclass__", lambda *a, **k: None)
        return None

    def _object_new(self, cls: Any) -> Any:
        if not isinstance(cls, ClassValue):
            return self.unknown("object.__new__ of a value that is not a known class")
        if cls.is_module():
            return ModuleValue(cls, cls.qualname)
        return InstanceValue(cls)

    def _opaque_attr(self, obj: Opaque, name: str) -> Any:
        obj.used_as_value = True  # an object with attributes is not a plain int, nor (likely) state
        if name in obj.bound:
            return obj.bound[name]
        return Opaque(f"{obj.name}.{name}", "value", obj.line, obj.path)

    def _bind(self, obj: Any, attr: Any, owner: Any) -> Any:
        if isinstance(attr, FunctionValue):
            if "staticmethod" in attr.decorators:
                return attr
            if "classmethod" in attr.decorators:  # on an instance: binds the class, not the instance
                cls = obj.cls if isinstance(obj, (ModuleValue, InstanceValue)) else obj
                return BoundMethod(cls, attr, owner)
            if "property" in attr.decorators or "cached_property" in attr.decorators or \
                    "functools.cached_property" in attr.decorators:
                return self.call(BoundMethod(obj, attr, owner), [], {})
            return BoundMethod(obj, attr, owner)
        return attr

    def _super_attr(self, sup: SuperValue, name: str) -> Any:
        obj = sup.obj
        cls = obj.cls if isinstance(obj, (ModuleValue, InstanceValue)) else obj
        if not isinstance(cls, ClassValue):
            return self.unknown("super() outside a known class")
        mro = cls.mro()
        try:
            start = mro.index(sup.after) + 1
        except ValueError:
            start = 1
        for c in mro[start:]:
            if name == "__init__" and "__init__" not in c.attrs and c.is_dataclass:
                generated = self._generated_init([c])
                if generated is not None:
                    return Intrinsic(generated.name, lambda *a, **k: generated.fn(obj, *a, **k))
            if name in c.attrs:
                return self._bind(obj, c.attrs[name], c)
            if name == "__init__" and isinstance(obj, ModuleValue) and c.intrinsic in CONTAINERS:
                # `super().__init__(*layers)` in a subclass of nn.Sequential / ModuleList / ModuleDict / ...
                kind = c.intrinsic
                return Intrinsic(f"{kind}.__init__", lambda *a, **k: self.torch.container_init(obj, kind, list(a), k))
            if c.intrinsic == "stateless" and name == "__init__":  # a torch layer without state: any arguments
                return Intrinsic(f"{c.name}.__init__", lambda *a, **k: None)
            if c.intrinsic == "Module" and name == "__init__":
                return Intrinsic("Module.__init__", lambda *a, **k: self.torch.module_init(obj, *a, **k))
            if c.intrinsic == "Module" and name == "__setattr__" and isinstance(obj, ModuleValue):
                return Intrinsic("Module.__setattr__", lambda n, v: self.torch.module_setattr(obj, n, v))
            if c.intrinsic == "Module" and name == "__delattr__" and isinstance(obj, ModuleValue):
                return Intrinsic("Module.__delattr__", lambda n: self.delattr_named(obj, n))
            if c.intrinsic == "Module" and name == "__getattr__" and isinstance(obj, ModuleValue):
                def module_getattr(n: Any) -> Any:
                    found, v = obj.lookup(n) if isinstance(n, str) else (False, None)
                    if found:
                        return v
                    raise EvalRaise(f"AttributeError: '{obj.cls.name}' object has no attribute '{n}'",
                                    self.line, self.path)
                return Intrinsic("Module.__getattr__", module_getattr)
        if name in ("__init__", "__setattr__", "__getattribute__", "__init_subclass__", "__new__"):
            meth = self._object_method(name)
            if name in ("__setattr__", "__getattribute__"):
                return Intrinsic(f"object.{name}", lambda *a: meth.fn(obj, *a))
            if name == "__init_subclass__" or name == "__init__":
                return meth
            return meth
        if isinstance(obj, ModuleValue):
            return self.torch.module_attr(obj, name)
        return self.unknown(f"super().{name} cannot be resolved")

    def getitem(self, obj: Any, key: Any) -> Any:
        if isinstance(obj, Unknown):
            return obj
        if isinstance(key, Opaque):
            key = key.sym()
        if isinstance(obj, Opaque):
            obj.used_as_value = True
            if isinstance(key, str):
                return Opaque(f"{obj.name}[{key!r}]", "", obj.line, obj.path)
            if is_int(key):
                return Opaque(f"{obj.name}[{key}]", "", obj.line, obj.path)
            return self.unknown(f"item of unbound parameter `{obj.name}`")
        if isinstance(obj, dict):
            if isinstance(key, (Unknown, Sym)):
                return self.unknown("dict lookup with an unknown key", maybe_state=any(maybe_state(v) for v in obj.values()))
            try:
                found = obj[_hashable_key(key)]
                sk = [k for k in obj if isinstance(k, SymKey)]
                if sk:  # a key that cannot be known may be this one, written with another value
                    why = sk[0].key.reason if isinstance(sk[0].key, Unknown) else "a key set under an unknown name"
                    return self.unknown(f"dict lookup: the dict may hold this key with another value ({why})",
                                        maybe_state=any(maybe_state(v) for v in obj.values()))
                return found
            except KeyError:
                sk = [k for k in obj if isinstance(k, SymKey)]
                if sk:
                    why = sk[0].key.reason if isinstance(sk[0].key, Unknown) else "a key set under an unknown name"
                    return self.unknown(f"dict lookup: the dict may hold other keys ({why})")
                if isinstance(key, InstanceValue) and key.value_key() is None and (
                        getattr(key.cls, "is_dataclass", False)
                        or (isinstance(key.cls, ClassValue) and key.cls.find("__eq__")[0] is not None)):
                    # an object that may compare by value: equality the evaluator cannot reproduce
                    return self.unknown(f"dict lookup with a `{key.cls.name}` key, compared by an __eq__ that is "
                                        "not modelled", maybe_state=any(maybe_state(v) for v in obj.values()))
                raise EvalRaise(f"KeyError: {key!r}", self.line, self.path)
            except TypeError:
                return self.unknown("unhashable dict key", False)
        if isinstance(obj, (list, tuple, str)):
            return self._seq_getitem(obj, key)
        if isinstance(obj, InstanceValue) and obj.items is not None:
            return self._seq_getitem(obj.items, key)
        if isinstance(obj, ModuleValue):
            return self.torch.container_getitem(obj, key)
        if isinstance(obj, (TensorSpec, ParamValue)):
            return self.torch.tensor_getitem(obj, key)
        if isinstance(obj, SymRange):
            return self.unknown("item of a symbolic range", False)
        if isinstance(obj, ClassValue):
            return obj  # typing generics: List[int] etc.
        if isinstance(obj, NamespaceValue):
            return obj
        return self.unknown("subscript of an unsupported value")

    def _seq_getitem(self, obj: Any, key: Any) -> Any:
        has_rep = any(isinstance(x, Repeated) for x in obj) if not isinstance(obj, str) else False
        if isinstance(key, (Unknown, Sym, SymSlice)):
            if not isinstance(obj, str) and obj and all(_same_plain(obj[0], x) for x in obj[1:]) and not has_rep \
                    and not isinstance(key, SymSlice):
                return obj[0]
            return self.unknown("item at a symbolic index", maybe_state=any(maybe_state(x) for x in obj) if not isinstance(obj, str) else False)
        if has_rep:
            first = next(i for i, x in enumerate(obj) if isinstance(x, Repeated))
            if is_int(key) and 0 <= key < first:
                return obj[key]
            return self.unknown("item of a list of symbolic length")
        try:
            return obj[key]
        except IndexError:
            raise EvalRaise("index out of range", self.line, self.path)
        except TypeError:
            return self.unknown("unsupported index", False)

    # -- iteration ---------------------------------------------------------------------------
    def iterator(self, items: List[Any]) -> GeneratorValue:
        """A one-shot iterator over ``items``."""
        return GeneratorValue(items, len(self.conditions))

    def take(self, g: GeneratorValue, n: Optional[int] = None) -> Any:
        """Advance the iterator ``g`` by ``n`` items (None: to its end): the items taken, or Unknown."""
        ms = any(maybe_state(x) for x in g.items)
        if g.pos is None:
            return self.unknown("an iterator advanced by code whose effect on it cannot be known", maybe_state=ms)
        if len(self.conditions) > g.depth:
            # consumed in one branch of an undecidable condition only: where it stands afterwards is not known
            g.pos = None
            return self.unknown("an iterator consumed under an undecidable condition", maybe_state=ms)
        rest = g.items[g.pos:] if n is None else g.items[g.pos:g.pos + n]
        if n is not None and any(isinstance(x, Repeated) for x in rest):
            g.pos = None
            return self.unknown("next() on an iterator of symbolic length", maybe_state=ms)
        g.pos += len(rest)
        return list(rest)

    def iterate_unordered(self, v: Any) -> Any:
        """``iterate`` for callers whose result does not depend on the order of the items (sorted(), min(),
        sum(), any(), set()): a set's items in any order."""
        if isinstance(v, (set, frozenset)):
            return list(v)
        return self.iterate(v)

    def iterate(self, v: Any, sf: Optional[SourceFile] = None) -> Any:
        """A list of items, a SymRange, or Unknown."""
        if isinstance(v, (list, tuple)):
            return list(v)
        if isinstance(v, InstanceValue) and v.items is not None:
            return list(v.items)
        if isinstance(v, GeneratorValue):
            return self.take(v)
        if isinstance(v, (str, bytes)):
            return list(v)
        if isinstance(v, dict):
            if any(isinstance(k, SymKey) for k in v):
                return self.unknown("iteration over a dict holding keys that cannot be known",
                                    maybe_state=any(maybe_state(x) for x in v.values()))
            return list(v.keys())
        if isinstance(v, (set, frozenset)):
            if len(v) <= 1 or all(_seed_free_hash(x) for x in v):
                # numbers (and tuples of them) hash the same in every process: CPython's own order, which the
                # evaluator's real set, built by the same steps, has too
                return list(v)
            # str/bytes hashes change with PYTHONHASHSEED, objects hash by address: the order is not knowable
            # (callers that do not depend on it use iterate_unordered: sorted(), min(), sum(), ...)
            return self.unknown("the iteration order of a set of strings or objects differs from run to run "
                                "(PYTHONHASHSEED); sort it first", maybe_state=any(maybe_state(x) for x in v))
        if isinstance(v, range):
            n = _range_len(v)
            if n > MAX_UNROLL:
                return self.too_large(f"a loop of {n} iterations" if n < 10 ** 30 else "a loop over a huge range")
            return list(v)
        if isinstance(v, SymRange):
            return v
        if isinstance(v, DictView):
            if any(isinstance(k, SymKey) for k in v.d):
                return self.unknown("iteration over a dict holding keys that cannot be known",
                                    maybe_state=any(maybe_state(x) for x in v.d.values()))
            return v.items()
        if isinstance(v, ModuleValue):
            return self.torch.container_iter(v)
        if isinstance(v, Unknown):
            return v
        if isinstance(v, Opaque):
            v.used_as_value = True
            return self.unknown(f"iteration over unbound parameter `{v.name}`", False)
        if isinstance(v, (TensorSpec, ParamValue)):
            return self.unknown("iteration over a tensor", False)
        return self.unknown("iteration over an unsupported value")

    def _maybe_repeated(self, items: List[Any]) -> List[Any]:
        if not self.repeat:
            return items
        ph, count = self.repeat[-1]
        return [x if isinstance(x, Repeated) else Repeated(x, count, ph) for x in items]

    # -- calls -------------------------------------------------------------------------------
    def eval_call(self, frame: Frame, node: cst.Call, sf: SourceFile) -> Any:
        self.set_pos(sf, node)
        func = self.eval(frame, node.func, sf)
        if isinstance(func, Intrinsic) and func.name == "super" and isinstance(node.func, cst.Name):
            return self._make_super(frame, node, sf)
        args: List[Any] = []
        kwargs: Dict[str, Any] = {}
        for a in node.args:
            v = self.eval(frame, a.value, sf)
            if a.star == "*":
                items = self.iterate(v, sf)
                if isinstance(items, (Unknown, SymRange)):
                    args.append(StarUnknown(items if isinstance(items, Unknown) else self.unknown("symbolic range")))
                else:
                    args.extend(items)
            elif a.star == "**":
                if isinstance(v, dict):
                    for k, val in v.items():
                        if isinstance(k, SymKey):  # (entries that cannot be known: any parameter may be given)
                            why = k.key.reason if isinstance(k.key, Unknown) else "unknown keys"
                            return self.unknown(f"`**` of a mapping whose keys cannot be known: {why}")
                        if not isinstance(k, str):
                            return self.unknown("`**` with non-string keys")
                        kwargs[k] = val
                elif isinstance(v, Unknown):
                    kwargs["**"] = v
                else:
                    kwargs["**"] = self.unknown("`**` of a value that is not a known dict")
            elif a.keyword is not None:
                kwargs[a.keyword.value] = v
            else:
                args.append(v)
        self.set_pos(sf, node)
        result = self.call(func, args, kwargs, node=node, sf=sf)
        if isinstance(result, ModuleValue) and result.origin is None:
            result.origin = (node, sf)
            if not self.in_catalog(sf):
                result.origin_line = sf.line(node)
                result.origin_path = sf.path
        return result

    def _make_super(self, frame: Frame, node: cst.Call, sf: SourceFile) -> Any:
        if node.args:
            if len(node.args) != 2:
                return self.unknown("super() with unusual arguments")
            cls = self.eval(frame, node.args[0].value, sf)
            obj = self.eval(frame, node.args[1].value, sf)
            return SuperValue(obj, cls)
        fn = frame.func
        f: Optional[Frame] = frame
        while f is not None and (f.func is None or isinstance(f.func.node, cst.Lambda)):
            f = f.closure
        if f is None or f.cls is None or not isinstance(f.func, FunctionValue):
            return self.unknown("super() outside a method")
        params = f.func.node.params
        first = (list(params.posonly_params) + list(params.params))[:1]
        if not first:
            return self.unknown("super() in a method without self")
        del fn
        return SuperValue(f.locals.get(first[0].name.value), f.cls)

    def call(self, func: Any, args: List[Any], kwargs: Dict[str, Any], node: Any = None, sf: Any = None) -> Any:
        if isinstance(func, Unknown):
            self.unknown_calls += 1
            return func
        if isinstance(func, Opaque):
            self.unknown_calls += 1
            func.used_as_value = True
            return self.unknown(f"`{func.name}` is an unbound parameter; its result is unknown (bind it with --set {func.name}=...)")
        if isinstance(func, Intrinsic):
            star = next((a for a in args if isinstance(a, StarUnknown)), None)
            if star is not None:
                return Unknown(f"arguments of `{func.name}` come from `*` of an unknown value ({star.value.reason})",
                               self.line, self.path)
            return func.fn(*args, **kwargs)
        if isinstance(func, FunctionValue):
            return self.call_function(func, args, kwargs)
        if isinstance(func, BoundMethod):
            if isinstance(func.func, FunctionValue):
                return self.call_function(func.func, [func.obj] + args, kwargs, owner=func.cls)
            if isinstance(func.func, Intrinsic):
                return func.func.fn(func.obj, *args, **kwargs)
            return self.call(func.func, [func.obj] + args, kwargs)
        if isinstance(func, ClassValue):
            return self.instantiate(func, args, kwargs)
        if isinstance(func, Partial):
            merged = dict(func.kwargs)
            merged.update(kwargs)
            return self.call(func.func, list(func.args) + args, merged, node, sf)
        if isinstance(func, SuperValue):
            return self.unknown("calling super()")
        return self.unknown("call of a value that is not callable or not known")

    def bind_args(self, fn: FunctionValue, args: List[Any], kwargs: Dict[str, Any]) -> Dict[str, Any]:
        params = fn.node.params
        positional = list(params.posonly_params) + list(params.params)
        out: Dict[str, Any] = {}
        star_unknown = next((a for a in args if isinstance(a, StarUnknown)), None)
        if star_unknown is not None:
            idx = args.index(star_unknown)
            args = args[:idx]
        i = 0
        for p in positional:
            name = p.name.value
            if i < len(args):
                out[name] = args[i]
                i += 1
        extra = args[i:]
        if extra:
            if isinstance(params.star_arg, cst.Param):
                out[params.star_arg.name.value] = tuple(extra)
            else:
                raise EvalRaise(f"`{fn.name}` takes {len(positional)} positional arguments but {len(args)} were given",
                                self.line, self.path)
        elif isinstance(params.star_arg, cst.Param):
            out[params.star_arg.name.value] = (StarUnknownTuple(star_unknown.value),) if star_unknown else ()
        kw_names = {p.name.value for p in positional + list(params.kwonly_params)} - {p.name.value for p in params.posonly_params}
        rest: Dict[str, Any] = {}
        for k, v in kwargs.items():
            if k == "**":
                continue
            if k in kw_names:
                if k in out:
                    raise EvalRaise(f"`{fn.name}` got multiple values for argument `{k}`", self.line, self.path)
                out[k] = v
            elif params.star_kwarg is not None:
                rest[k] = v
            else:
                raise EvalRaise(f"`{fn.name}` got an unexpected keyword argument `{k}`", self.line, self.path)
        unknown_kw = kwargs.get("**")
        for p in positional + list(params.kwonly_params):
            name = p.name.value
            if name in out:
                continue
            if star_unknown is not None or unknown_kw is not None:
                src = star_unknown.value if star_unknown is not None else unknown_kw
                if name in fn.defaults:
                    out[name] = Unknown(f"`{name}` may come from `*args`/`**kwargs` ({src.reason})", self.line, self.path,
                                        maybe_state=maybe_state(fn.defaults[name]))
                else:
                    out[name] = Unknown(f"`{name}` comes from `*args`/`**kwargs` ({src.reason})", self.line, self.path)
            elif name in fn.defaults:
                out[name] = fn.defaults[name]
            else:
                raise EvalRaise(f"`{fn.name}` missing required argument `{name}`", self.line, self.path)
        if isinstance(params.star_kwarg, cst.Param):
            if unknown_kw is not None:
                rest["**"] = unknown_kw
            out[params.star_kwarg.name.value] = rest
        return out

    def call_function(self, fn: FunctionValue, args: List[Any], kwargs: Dict[str, Any], owner: Any = None) -> Any:
        if self.depth > MAX_DEPTH:
            raise GiveUp("recursion too deep")
        if self.depth >= 1 and id(fn.node) in self.over_budget:
            # abandoned once already: the same code again would only burn the same budget
            self.note(f"call of `{fn.name}` cannot be evaluated: the call took too many steps to evaluate")
            return Unknown(f"`{fn.name}(...)` cannot be evaluated: too many steps", self.line, self.path)
        frame = Frame(fn.scope, fn.closure, fn, owner if owner is not None else fn.owner)
        frame.locals = self.bind_args(fn, args, kwargs)
        sf = fn.sf
        self.depth += 1
        saved_forks = self.forks
        # constructors build the state itself and are never cut short; helpers are
        self.call_starts.append(self.steps if fn.name != "__init__" else BIG)
        try:
            if isinstance(fn.node, cst.Lambda):
                return self.eval(frame, fn.node.body, sf)
            try:
                self.exec_block(frame, fn.node.body, sf, top=True)
            except Return as r:
                return r.value
            except (Break, Continue):
                raise GiveUp("break outside a loop")
            except GiveUp as exc:
                if self.depth <= 1:
                    raise
                if isinstance(exc, CallBudget):
                    # the callers are not charged for the abandoned call (up to a bound on such calls)
                    self.over_budget.add(id(fn.node))
                    self.call_aborts += 1
                    if self.call_aborts <= MAX_CALL_ABORTS:
                        spent = self.steps - self.call_starts[-1]
                        self.steps -= spent
                # this call cannot be evaluated soundly: its result (and what it built) is unknown
                self.note(f"call of `{fn.name}` cannot be evaluated: {exc.reason}")
                if self.loading:  # at import: the tables its module keeps may miss what it would have added
                    self.taint_module_state(fn.scope, f"`{fn.name}` (called at import) cannot be evaluated")
                return Unknown(f"`{fn.name}(...)` cannot be evaluated: {exc.reason}", self.line, self.path)
            return None
        finally:
            self.call_starts.pop()
            self.depth -= 1
            self.forks = saved_forks if self.depth == 0 else self.forks

    def instantiate(self, cls: ClassValue, args: List[Any], kwargs: Dict[str, Any]) -> Any:
        taint = cls.tainted()
        if taint is not None:  # a decorator, metaclass or hook the evaluation does not model made this class
            return Unknown(taint.reason, taint.line, taint.path)
        special = self.torch.instantiate_special(cls, args, kwargs)
        if special is not None:
            return special
        modelled = self.libs.instantiate(cls, args, kwargs)  # classes built on library bases (NamedTuple, ...)
        if modelled is not NOT_MINE:
            return modelled
        unknown_base = cls.has_unknown_base()
        if cls.is_enum():
            return self.enum_call(cls, args, kwargs)
        new, nowner = cls.user_hook("__new__")
        if new is not None:
            if not isinstance(new, FunctionValue):
                return Unknown(f"`{cls.name}.__new__` cannot be evaluated", self.line, self.path)
            obj = self.call_function(new, [cls] + args, kwargs, owner=nowner)
            if not (isinstance(obj, (ModuleValue, InstanceValue)) and isinstance(obj.cls, ClassValue)
                    and cls in obj.cls.mro()):
                return obj  # __new__ returned something else: __init__ does not run
        elif cls.is_module():
            obj = ModuleValue(cls, cls.qualname)
            if unknown_base is not None:
                obj.unknown_attrs["<base>"] = Entry(Unknown(f"base class of `{cls.name}` is unknown: {unknown_base.reason}",
                                                            unknown_base.line, unknown_base.path), self.line, self.path)
        else:
            if unknown_base is not None:
                return Unknown(f"class `{cls.name}` has an unknown base: {unknown_base.reason}", self.line, self.path)
            obj = InstanceValue(cls)
        init, owner, dc = None, None, None
        for c in cls.mro():  # the __init__ Python finds: written in a class body, or made by @dataclass
            if "__init__" in c.attrs:
                init, owner = c.attrs["__init__"], c
                break
            if c.is_dataclass and c.dc_options.get("init", True) is not False:
                dc = c
                break
        if isinstance(init, FunctionValue):
            self.call_function(init, [obj] + args, kwargs, owner=owner)
        elif dc is not None:
            self._dataclass_init(cls, obj, args, kwargs, dc)
        elif init is not None and not isinstance(init, Unknown):
            return Unknown(f"`{cls.name}.__init__` cannot be evaluated", self.line, self.path)
        elif isinstance(init, Unknown):
            return init
        elif init is None and not isinstance(obj, ModuleValue) and new is None and (args or kwargs):
            if all(isinstance(b, ClassValue) for c in cls.mro() for b in c.bases):
                # object.__init__ takes no arguments: Python raises TypeError (nothing made an __init__ we miss:
                # decorators and metaclasses that are not modelled taint the class above)
                raise EvalRaise(f"{cls.name}() takes no arguments", self.line, self.path)
            return Unknown(f"class `{cls.name}` is built on a base that is not modelled", self.line, self.path)
        if isinstance(obj, ModuleValue):
            extra, _ = cls.find("get_extra_state")
            if extra is not None:
                obj.extra_state = True
        return obj

    def enum_call(self, cls: ClassValue, args: List[Any], kwargs: Dict[str, Any]) -> Any:
        """``Format(value)``: the member with that value, when it is known; otherwise an unknown value."""
        if len(args) == 1 and not kwargs and _plain(args[0]):
            for name in list(cls.attrs):
                m = self.enum_member(cls, name)
                if isinstance(m, InstanceValue) and _same_plain(m.attrs.get("value"), args[0]):
                    return m
        return Unknown(f"a member of enum `{cls.name}`", self.line, self.path, False)

    def enum_member(self, cls: ClassValue, name: str) -> Any:
        """``Color.RED``: one object per member (so ``is`` works), with ``name`` and ``value``; methods and
        properties of the enum class apply to it. Members of enums with a custom ``__new__``/``__init__`` or
        ``auto()`` values are unknown values."""
        members = getattr(cls, "enum_members", None)
        if members is None:
            members = cls.enum_members = {}  # type: ignore[attr-defined]
        if name in members:
            return members[name]
        raw = cls.attrs.get(name)
        # members that are also ints or strings (IntEnum, StrEnum, `class Fmt(str, Enum)`) compare equal to
        # plain values: those stay unknown values
        plain_enum = all(isinstance(b, ClassValue) and (b.intrinsic == "enum" and b.qualname == "enum.Enum"
                                                        or not b.intrinsic) for c in cls.mro() for b in c.bases)
        ok = (plain_enum and not name.startswith("_")
              and not isinstance(raw, (FunctionValue, ClassValue, Unknown, Intrinsic))
              and _plain(raw) and cls.user_hook("__new__")[0] is None)
        init, init_owner = cls.user_hook("__init__")
        if ok and init is not None and not isinstance(init, FunctionValue):
            ok = False
        if not ok:
            return Unknown(f"enum member `{cls.name}.{name}`", self.line, self.path, False)
        m = InstanceValue(cls)
        m.attrs["name"] = name
        m.attrs["value"] = raw
        m.attrs["_value_"] = raw
        m.attrs["_name_"] = name
        members[name] = m
        if init is not None:
            # Enum runs the class's __init__ on each member with the value unpacked when it is a tuple
            args = list(raw) if isinstance(raw, tuple) else [raw]
            try:
                self.call_function(init, [m] + args, {}, owner=init_owner)
            except (EvalRaise, GiveUp):
                del members[name]
                return Unknown(f"enum member `{cls.name}.{name}`: its __init__ cannot be evaluated",
                               self.line, self.path, False)
        return m

    def dataclass_fields(self, cls: ClassValue) -> List[Dict[str, Any]]:
        """The fields of a dataclass as ``dataclasses`` collects them: base classes first, a redefinition
        keeps its place; ``ClassVar`` is no field, ``InitVar`` is an argument of __init__/__post_init__ only,
        ``KW_ONLY`` and ``kw_only=`` make keyword-only fields, ``field(init=False)`` is set but no argument."""
        out: List[Dict[str, Any]] = []
        seen: Dict[str, int] = {}
        for c in reversed(cls.mro()):
            if not c.is_dataclass:
                continue
            kw_only = c.dc_options.get("kw_only", False) is True
            for name, default, ann in c.fields:
                if _is_classvar(ann):
                    continue
                ann_name = _dotted(ann.value if isinstance(ann, cst.Subscript) else ann)
                if ann_name.split(".")[-1] == "KW_ONLY":
                    kw_only = True
                    continue
                f: Dict[str, Any] = {"name": name, "default": None, "factory": None, "init": True,
                                     "kw_only": kw_only, "initvar": ann_name.split(".")[-1] == "InitVar",
                                     "owner": c, "has_default": default is not None}
                if default is not None:
                    self._dataclass_field_spec(c, default, f)
                if name in seen:
                    out[seen[name]] = f
                else:
                    seen[name] = len(out)
                    out.append(f)
        return out

    def _dataclass_hashes_by_value(self, cls: ClassValue, dc: ClassValue, fields: List[Dict[str, Any]]) -> bool:
        """Whether instances of ``cls`` (frozen; ``dc`` wrote its __init__) hash and compare as the __eq__ and
        __hash__ @dataclass writes (eq=True, frozen=True): by exact class and the tuple of every field."""
        for c in cls.mro():
            if c.is_dataclass and (c.dc_options.get("eq", True) is not True
                                   or c.dc_options.get("unsafe_hash", False) is not False):
                return False
            if c.node is not None and ("__eq__" in c.attrs or "__hash__" in c.attrs):
                return False  # written by the user (or an unmodelled way): not the generated ones
        return not any(f.get("key_opts") for f in fields)

    def _dataclass_field_spec(self, c: ClassValue, node: Any, f: Dict[str, Any]) -> None:
        frame = Frame(c.scope, None)
        frame.locals = dict()
        sf = c.sf or c.scope.sf
        if isinstance(node, cst.Call):
            fn = self.eval(frame, node.func, sf)
            if isinstance(fn, Intrinsic) and fn.name == "dataclasses.field":
                f["has_default"] = False
                for a in node.args:
                    if a.keyword is None:
                        f["default"] = Unknown("dataclasses.field with positional arguments", self.line, self.path)
                        f["has_default"] = True
                        continue
                    k = a.keyword.value
                    if k == "default":
                        f["default_node"] = (frame, a.value, sf)
                        f["has_default"] = True
                    elif k == "default_factory":
                        f["factory"] = (frame, a.value, sf)
                        f["has_default"] = True
                    elif k in ("compare", "hash"):
                        f["key_opts"] = True  # fields left out of __eq__/__hash__: not modelled
                    elif k in ("init", "kw_only"):
                        v = self.eval(frame, a.value, sf)
                        if isinstance(v, bool):
                            f[k] = v
                        else:
                            f["default"] = Unknown(f"field option `{k}` cannot be known", self.line, self.path)
                return
        f["default_node"] = (frame, node, sf)

    def dataclass_default(self, f: Dict[str, Any]) -> Any:
        """A field's ``default`` value (evaluated where the class body wrote it)."""
        if f.get("default_node") is not None:
            frame, node, sf = f["default_node"]
            return self.eval(frame, node, sf)
        return f["default"]

    def dataclass_factory(self, f: Dict[str, Any]) -> Any:
        frame, node, sf = f["factory"]
        return self.eval(frame, node, sf)

    def _dataclass_value(self, f: Dict[str, Any]) -> Any:
        if f.get("factory") is not None:
            frame, node, sf = f["factory"]
            return self.call(self.eval(frame, node, sf), [], {})
        if f.get("default_node") is not None:
            frame, node, sf = f["default_node"]
            return self.eval(frame, node, sf)
        return f["default"]

    def _dataclass_init(self, cls: ClassValue, obj: Any, args: List[Any], kwargs: Dict[str, Any],
                        dc: ClassValue) -> None:
        """The ``__init__`` that ``@dataclass`` wrote for class ``dc``, bound like Python binds it (TypeError for
        a missing, repeated or unexpected argument), then ``__post_init__`` with the InitVar values."""
        fields = self.dataclass_fields(dc)
        frozen = any(c.is_dataclass and c.dc_options.get("frozen") is True for c in cls.mro())
        star = next((a for a in args if isinstance(a, StarUnknown)), None)
        if star is not None:
            args = args[:args.index(star)]
        unknown_kw = kwargs.get("**")
        positional = [f for f in fields if f["init"] and not f["kw_only"]]
        if len(args) > len(positional):
            raise EvalRaise(f"{cls.name}.__init__() takes {len(positional) + 1} positional arguments but "
                            f"{len(args) + 1} were given", self.line, self.path)
        given: Dict[str, Any] = {f["name"]: a for f, a in zip(positional, args)}
        init_names = {f["name"] for f in fields if f["init"]}
        for k, v in kwargs.items():
            if k == "**":
                continue
            if k not in init_names:
                raise EvalRaise(f"{cls.name}.__init__() got an unexpected keyword argument '{k}'", self.line, self.path)
            if k in given:
                raise EvalRaise(f"{cls.name}.__init__() got multiple values for argument '{k}'", self.line, self.path)
            given[k] = v
        initvars: List[Any] = []
        for f in fields:
            name = f["name"]
            if f["init"] and name in given:
                v = given[name]
            elif f["init"] and (star is not None or unknown_kw is not None):
                v = Unknown(f"`{name}` may come from `*args`/`**kwargs`", self.line, self.path)
            elif f["has_default"] or not f["init"]:
                if not f["has_default"]:
                    continue  # field(init=False) without a default: not set by __init__
                v = self._dataclass_value(f)
            else:
                raise EvalRaise(f"{cls.name}.__init__() missing required argument: '{name}'", self.line, self.path)
            if f["initvar"]:
                initvars.append(v)
                continue
            if isinstance(obj, InstanceValue) and frozen:
                obj.attrs[name] = v  # a frozen dataclass's __init__ uses object.__setattr__
            else:
                self.setattr(obj, name, v)
        if isinstance(obj, InstanceValue) and frozen:
            obj.frozen = True
            if cls.dc_key_fields is None and self._dataclass_hashes_by_value(cls, dc, fields):
                cls.dc_key_fields = tuple(f["name"] for f in fields if not f["initvar"])
        post, powner = cls.find("__post_init__")
        if isinstance(post, FunctionValue):
            self.call_function(post, [obj] + initvars, {}, owner=powner)
        elif post is not None:
            raise GiveUp(f"`{cls.name}.__post_init__` cannot be evaluated")


# -- helpers ------------------------------------------------------------------------------------

def _range_len(r: range) -> int:
    try:
        return len(r)
    except OverflowError:
        return 1 << 64


def _bits(x: Any) -> int:
    if isinstance(x, bool) or not isinstance(x, int):
        return 64
    return x.bit_length()


def _too_large(op: str, a: Any, b: Any) -> str:
    """What Python would build for ``a op b`` when it is beyond the evaluator's bounds ("" when it is not)."""
    if isinstance(a, (str, bytes)) and isinstance(b, int) or isinstance(b, (str, bytes)) and isinstance(a, int):
        if op == "*":
            seq, n = (a, b) if isinstance(a, (str, bytes)) else (b, a)
            if n > 0 and len(seq) * n > MAX_SEQ_LEN:
                return f"a string of {len(seq)} x {n} characters"
        return ""
    if isinstance(a, (str, bytes)) and isinstance(b, (str, bytes)) and op == "+":
        return f"a string of {len(a) + len(b)} characters" if len(a) + len(b) > MAX_SEQ_LEN else ""
    if not isinstance(a, int) or not isinstance(b, int) or isinstance(a, bool) or isinstance(b, bool):
        if op == "**" and isinstance(a, int) and isinstance(b, int):
            pass
        else:
            return ""
    if op == "**":
        if b < 0 or abs(a) <= 1:
            return ""
        if b > MAX_INT_BITS or _bits(a) * b > MAX_INT_BITS:
            return "a power beyond 4096 bits"
    elif op == "<<":
        if b > MAX_INT_BITS or _bits(a) + b > MAX_INT_BITS:
            return "a shift beyond 4096 bits"
    elif op == "*":
        if _bits(a) + _bits(b) > MAX_INT_BITS:
            return "a product beyond 4096 bits"
    elif op in ("+", "-"):
        if max(_bits(a), _bits(b)) >= MAX_INT_BITS:
            return "a sum beyond 4096 bits"
    return ""


_PY_OPS: Dict[str, Callable[[Any, Any], Any]] = {
    "+": lambda a, b: a + b, "-": lambda a, b: a - b, "*": lambda a, b: a * b, "/": lambda a, b: a / b,
    "//": lambda a, b: a // b, "%": lambda a, b: a % b, "**": lambda a, b: a ** b, "<<": lambda a, b: a << b,
    ">>": lambda a, b: a >> b, "|": lambda a, b: a | b, "&": lambda a, b: a & b, "^": lambda a, b: a ^ b,
    "@": lambda a, b: a @ b,
}


def _has_instance(v: Any) -> bool:
    if isinstance(v, InstanceValue):
        return True
    return isinstance(v, (tuple, list)) and any(_has_instance(x) for x in v)


def _compares_unknown(v: Any) -> bool:
    """An object (or a tuple holding one) whose equality with another cannot be decided."""
    if isinstance(v, (tuple, list)):
        return any(_compares_unknown(x) for x in v)
    return isinstance(v, InstanceValue) and v.value_key() is None and (
        getattr(v.cls, "is_dataclass", False)
        or (isinstance(v.cls, ClassValue) and v.cls.find("__eq__")[0] is not None))


def _objects_equal(a: Any, b: Any) -> Optional[bool]:
    """``a == b`` where an InstanceValue takes part: by value for frozen dataclasses (their generated __eq__), by
    identity for classes without an __eq__, None (not known) for any other __eq__ (a user's, a non-frozen
    dataclass's over fields that may change)."""
    if a is b:
        return True
    if isinstance(a, (tuple, list)) and isinstance(b, (tuple, list)):
        if type(a) is not type(b) or len(a) != len(b):
            return False
        results = [_objects_equal(x, y) for x, y in zip(a, b)]
        if False in results:
            return False
        return None if None in results else True
    ka = a.value_key() if isinstance(a, InstanceValue) else None
    kb = b.value_key() if isinstance(b, InstanceValue) else None
    if ka is not None and kb is not None:
        return ka == kb
    for x in (a, b):
        if isinstance(x, InstanceValue) and (getattr(x.cls, "is_dataclass", False) or (
                isinstance(x.cls, ClassValue) and x.cls.find("__eq__")[0] is not None)):
            if x.value_key() is None or not isinstance(a if x is b else b, InstanceValue):
                return None
    if isinstance(a, InstanceValue) or isinstance(b, InstanceValue):
        if isinstance(a, (InstanceValue, int, float, str, bool, type(None), tuple, list, dict)) and \
                isinstance(b, (InstanceValue, int, float, str, bool, type(None), tuple, list, dict)):
            return False  # distinct objects of classes comparing by identity
        return None
    if _plain(a) and _plain(b):
        return a == b
    return None


def _seed_free_hash(v: Any) -> bool:
    """Values whose hash (so their place in a set) is the same in every Python process."""
    if isinstance(v, (int, float, bool, complex, type(None))):
        return True
    return isinstance(v, tuple) and all(_seed_free_hash(x) for x in v)


def _plain(v: Any) -> bool:
    if isinstance(v, (int, float, str, bytes, bool, type(None), complex)):
        return True
    if isinstance(v, (tuple, list)):
        return all(_plain(x) for x in v)
    if isinstance(v, (set, frozenset)):
        return True
    if isinstance(v, dict):
        return True
    return False


def _same_plain(a: Any, b: Any) -> bool:
    if _plain(a) and _plain(b):
        try:
            return type(a) is type(b) and bool(a == b)
        except Exception:  # noqa: BLE001 - comparison of odd values
            return False
    if isinstance(a, Sym) and isinstance(b, Sym):
        return a == b
    return a is b


def _same_value(orig: Any, copied: Any, memo: Dict[int, Any]) -> bool:
    if memo.get(id(orig)) is copied:
        return True
    if orig is copied:
        return True
    return _same_plain(orig, copied)


def _hashable_key(k: Any) -> Any:
    if isinstance(k, (Unknown, Opaque)):
        return SymKey(k)
    if _has_instance(k) and _compares_unknown(k):
        # an object compared by an __eq__ the evaluator cannot run (a frozen dataclass with an unknown field):
        # it may be equal to another key
        return SymKey(Unknown("a dict key compared by an __eq__ that is not modelled", 0, "", False))
    return k


def _placeholder_text(v: Sym) -> str:
    text = v.render()
    return text.replace("{", "").replace("}", "")


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


# decorators whose effect the evaluator models through FunctionValue.decorators (or that change nothing
# construction code can observe): the function itself is kept
_TRANSPARENT_DECORATORS = frozenset((
    "property", "staticmethod", "classmethod", "torch.no_grad", "torch.jit.ignore", "torch.jit.unused",
    "torch.jit.export", "abstractmethod", "abc.abstractmethod", "functools.wraps", "wraps", "torch.compile",
    "overload", "typing.overload",
    "torch.jit.script", "torch.fx.wrap", "override", "typing.override", "typing_extensions.override",
    "final", "typing.final", "cached_property", "functools.cached_property",
))
_CACHE_DECORATORS = frozenset(("lru_cache", "functools.lru_cache", "cache", "functools.cache"))
# metaclasses that do not change how a class is called or what its instances hold
_PLAIN_METACLASSES = frozenset(("abc.ABCMeta", "enum.EnumMeta", "enum.EnumType", "typing.Protocol"))


_LITERALS = (cst.Integer, cst.Float, cst.SimpleString, cst.Imaginary, cst.Ellipsis)


_NAMES: Dict[int, Tuple[Any, frozenset]] = {}


def _names_of(node: Any) -> frozenset:
    """Every Name mentioned in a node (cached per node)."""
    hit = _NAMES.get(id(node))
    if hit is not None and hit[0] is node:
        return hit[1]
    found: set = set()

    class V(cst.CSTVisitor):
        def visit_Name(self, n: cst.Name) -> None:
            found.add(n.value)

    node.visit(V())
    out = frozenset(found)
    if len(_NAMES) > 200_000:
        _NAMES.clear()
    _NAMES[id(node)] = (node, out)
    return out


def _reachable_names(scope: Any, stmt: Any) -> set:
    """The names a module-level statement mentions, and (transitively) those mentioned by the functions and
    classes of the same module among them: what running it may read or change."""
    reach: set = set()
    todo = list(_names_of(stmt))
    while todo:
        n = todo.pop()
        if n in reach:
            continue
        reach.add(n)
        v = scope.values.get(n)
        node = v.node if isinstance(v, (FunctionValue, ClassValue)) and v.scope is scope else None
        if isinstance(node, (cst.FunctionDef, cst.ClassDef)):
            todo.extend(x for x in _names_of(node) if x not in reach)
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


def _is_property(fn: FunctionValue) -> bool:
    """A ``@property`` (a data descriptor: it wins over the instance dict, and setting needs its setter);
    ``cached_property`` is not one (the instance dict wins, setting stores there)."""
    return "property" in fn.decorators


def _decorator_line(sf: SourceFile, node: Any, d: cst.Decorator) -> int:
    """The line of a decorator without a call (only statements and calls carry lines): one line per decorator
    above the ``def``/``class`` line."""
    line = sf.line(node)
    if not line:
        return 0
    return max(1, line - (len(node.decorators) - list(node.decorators).index(d)))


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


def _dotted(node: Any) -> str:
    if isinstance(node, cst.Name):
        return node.value
    if isinstance(node, cst.Attribute):
        return f"{_dotted(node.value)}.{node.attr.value}"
    return ""


def _decorator_name(node: Any) -> str:
    if isinstance(node, cst.Call):
        return _dotted(node.func)
    return _dotted(node)


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
                    found.update(a.keyword.value for a in node.args)  # type: ignore[union-attr]
                elif f.attr.value == "update" and len(node.args) == 1 and isinstance(node.args[0].value, cst.Dict) \
                        and all(isinstance(e, cst.DictElement) and _literal_str(e.key) is not None
                                for e in node.args[0].value.elements):
                    found.update(_literal_str(e.key) for e in node.args[0].value.elements)  # type: ignore
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


def _is_classvar(ann: Any) -> bool:
    name = _dotted(ann.value if isinstance(ann, cst.Subscript) else ann)
    return name.split(".")[-1] == "ClassVar"


def _target_names(t: Any) -> List[str]:
    if isinstance(t, cst.Name):
        return [t.value]
    if isinstance(t, (cst.Tuple, cst.List)):
        out: List[str] = []
        for e in t.elements:
            out += _target_names(e.value)
        return out
    if isinstance(t, cst.StarredElement):
        return _target_names(t.value)
    return []


def _walk_stmts(body: Any) -> Iterator[Any]:
    for stmt in body:
        if isinstance(stmt, cst.SimpleStatementLine):
            yield from stmt.body
        elif isinstance(stmt, (cst.If, cst.Try, cst.With, cst.For, cst.While)):
            yield stmt
            for attr in ("body", "orelse", "finalbody"):
                sub = getattr(stmt, attr, None)
                if sub is None:
                    continue
                if isinstance(sub, cst.If):
                    yield from _walk_stmts([sub])
                else:
                    yield from _walk_stmts(sub.body.body if isinstance(sub, (cst.Else, cst.Finally)) else sub.body)
            for h in getattr(stmt, "handlers", ()):
                yield from _walk_stmts(h.body.body)


def _bound_names(stmt: Any) -> List[str]:
    out: List[str] = []
    nodes = list(_walk_stmts([stmt])) if not isinstance(stmt, cst.BaseSmallStatement) else [stmt]
    for n in nodes:
        if isinstance(n, cst.Assign):
            for t in n.targets:
                out += _target_names(t.target)
        elif isinstance(n, (cst.AnnAssign, cst.AugAssign)):
            out += _target_names(n.target)
        elif isinstance(n, (cst.FunctionDef, cst.ClassDef)):
            out.append(n.name.value)
        elif isinstance(n, cst.For):
            out += _target_names(n.target)
        elif isinstance(n, cst.Import):
            for a in n.names:
                out.append(a.asname.name.value if a.asname else _dotted(a.name).split(".")[0])  # type: ignore[union-attr]
        elif isinstance(n, cst.ImportFrom) and not isinstance(n.names, cst.ImportStar):
            for a in n.names:
                out.append(a.asname.name.value if a.asname else _dotted(a.name))  # type: ignore[union-attr]
    if isinstance(stmt, (cst.FunctionDef, cst.ClassDef)):
        out.append(stmt.name.value)
    return out


_JUMP_CACHE: Dict[int, Tuple[Any, bool]] = {}


def _has_jump(stmt: Any) -> bool:
    """Does an if-statement contain return/break/continue (outside nested functions/loops for break)?"""
    hit = _JUMP_CACHE.get(id(stmt))
    if hit is not None and hit[0] is stmt:
        return hit[1]
    result = _has_jump_uncached(stmt)
    _JUMP_CACHE[id(stmt)] = (stmt, result)
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
