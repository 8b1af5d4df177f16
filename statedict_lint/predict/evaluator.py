"""A symbolic interpreter for nn.Module construction code (``__init__`` and everything it calls).

It runs user code over the value domain of ``values.py``: concrete Python values, symbolic integers,
tensor specs, module values and ``Unknown``. It never imports the user's code or torch; torch.nn layers
come from the catalog (``catalog/torch_nn.py``, interpreted like user code) and the library models of
``libs/`` (torch, the standard library, einops, ...), found by full dotted name.

Unknown conditions run both branches on forked copies of the state and merge the results: what differs
becomes conditional (for module entries) or Unknown (for plain values). Loops with a symbolic trip count
run their body once with a placeholder index and mark the list items they add as ``Repeated``.

The engine is split by concern into ``predict/engine/``: ``modules`` (module scopes and imports),
``statements``, ``flow`` (fork/merge of undecidable branches, loops), ``classes`` (def/class, decorators,
enums, dataclasses), ``expressions``, ``attributes``, ``items`` (subscripts, iteration), ``calls`` (calls and
argument binding), with ``scopes`` (module scopes, thunks, frames), ``budget`` (the bounds) and ``common``
(shared helpers). ``Evaluator`` composes them.
"""

from __future__ import annotations

import os
from typing import Any, Callable, Dict, List, Optional, Set, Tuple

import libcst as cst

from statedict_lint.predict.engine.attributes import AttributesMixin
from statedict_lint.predict.engine.budget import (
    BIG,
    CALL_STEPS,
    DECORATOR_STEPS,
    IMPORT_STEPS,
    MAX_CALL_ABORTS,
    MAX_DEPTH,
    MAX_FORKS,
    MAX_INT_BITS,
    MAX_SEQ_LEN,
    MAX_STEPS,
    MAX_UNROLL,
    Budget,
)
from statedict_lint.predict.engine.calls import CallsMixin
from statedict_lint.predict.engine.classes import ClassesMixin
from statedict_lint.predict.engine.expressions import ExpressionsMixin
from statedict_lint.predict.engine.flow import FlowMixin
from statedict_lint.predict.engine.items import ItemsMixin
from statedict_lint.predict.engine.modules import ModulesMixin
from statedict_lint.predict.engine.scopes import Frame, ModuleScope, Thunk
from statedict_lint.predict.engine.statements import StatementsMixin
from statedict_lint.predict.libs import Libraries
from statedict_lint.predict.libs.builtins import python_builtins
from statedict_lint.predict.libs.pymethods import PythonValues
from statedict_lint.predict.libs.torch import TorchLib
from statedict_lint.predict.session import Session, default_session
from statedict_lint.predict.values import Opaque, Unknown
from statedict_lint.source.loader import Locator, SourceFile

# (the bounds, scopes and frames are re-exported: callers name them from here)
__all__ = ["Evaluator", "Budget", "Frame", "ModuleScope", "Thunk", "BIG", "CALL_STEPS", "DECORATOR_STEPS",
           "IMPORT_STEPS", "MAX_CALL_ABORTS", "MAX_DEPTH", "MAX_FORKS", "MAX_INT_BITS", "MAX_SEQ_LEN", "MAX_STEPS",
           "MAX_UNROLL"]


class Evaluator(ModulesMixin, StatementsMixin, FlowMixin, ClassesMixin, ExpressionsMixin, AttributesMixin, ItemsMixin,
                CallsMixin):
    """The engine: the state of one evaluation (modules read, position, budgets, notes) and the concerns of
    ``predict/engine/`` as mixins."""

    def __init__(self, roots: List[str], catalog_path: str, budget: Optional[Budget] = None,
                 session: Optional[Session] = None) -> None:
        self.locator = Locator(roots)
        self.catalog_path = os.path.abspath(catalog_path)
        self.modules: Dict[str, Any] = {}  # qualname -> ModuleScope | Unknown
        self.path_modules: Dict[str, ModuleScope] = {}
        self.line = 0  # current line in user-visible code
        self.path = ""
        self.budget = budget if budget is not None else Budget()  # steps, depth, forks: spent and bounds
        self.session = session if session is not None else default_session()  # parsed files, per-node caches
        self.lost_writes: List[Tuple[int, str]] = []  # item writes into values that could not be known
        self.conditions: List[str] = []  # path conditions of the running branch
        self.switch_conditions: Set[str] = set()  # condition texts made from an unbound constructor value
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
        self.default_dtype: Optional[str] = "float32"  # torch.set_default_dtype, as executed so far
        self.late_default_dtype: Any = None  # set_default_dtype run by an import evaluated during construction
        self.libs = Libraries(self)  # library models (predict/libs), by full dotted name
        torch = self.libs["torch"]
        assert isinstance(torch, TorchLib)  # (the library model registered as "torch")
        self.torch = torch
        self.pyvalues = PythonValues(self)
        self.builtins = python_builtins(self)
        self._catalog: Optional[ModuleScope] = None
        self._last_test: Any = None  # the value of the last if-test (engine/flow.py)
        # per-node-type dispatch tables: node type -> bound handler (the tables of the concern mixins)
        self.eval_handlers: Dict[type, Callable[[Frame, Any, SourceFile], Any]] = {
            t: getattr(self, name) for t, name in self.EXPRESSION_HANDLERS.items()}
        self.statement_handlers: Dict[type, Callable[[Frame, Any, SourceFile], None]] = {
            t: getattr(self, name) for t, name in self.STATEMENT_HANDLERS.items()}
        self.small_handlers: Dict[type, Callable[[Frame, Any, SourceFile], None]] = {
            t: getattr(self, name) for t, name in self.SMALL_HANDLERS.items()}

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

    def gap(self, reason: str, line: int, path: str) -> None:
        self.gaps.append((line, path, reason))
