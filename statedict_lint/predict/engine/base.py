"""The engine as its concern mixins see it: ``EngineBase``, the base of every mixin of ``predict/engine/``.

It declares the state of one evaluation (set by ``Evaluator.__init__``) and, for the type checker only, the
methods one part of the engine (and the module scopes of ``scopes.py``) calls on another, with the signature of their implementation (mypy checks each
implementation against it). At run time it holds nothing: ``Evaluator`` composes the mixins that implement them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable, Dict, List, Optional, Set, Tuple

if TYPE_CHECKING:
    import libcst as cst

    from statedict_lint.predict.engine.budget import Budget
    from statedict_lint.predict.engine.scopes import Frame, ModuleScope, Thunk
    from statedict_lint.predict.libs import Libraries
    from statedict_lint.predict.libs.pymethods import PythonValues
    from statedict_lint.predict.libs.torch import TorchLib
    from statedict_lint.predict.session import Session
    from statedict_lint.predict.values import ClassValue, FunctionValue, GeneratorValue, NamespaceValue, Opaque, Unknown
    from statedict_lint.source.loader import Locator, SourceFile


class EngineBase:
    # -- the state of one evaluation (see Evaluator.__init__) ------------------------------------------------
    locator: "Locator"
    catalog_path: str
    modules: Dict[str, Any]  # qualname -> ModuleScope | Unknown
    path_modules: Dict[str, "ModuleScope"]
    line: int  # current line and file in user-visible code
    path: str
    budget: "Budget"
    session: "Session"
    lost_writes: List[Tuple[int, str]]
    conditions: List[str]
    switch_conditions: Set[str]  # condition texts made from an unbound constructor value (render: a "switch")
    repeat: List[Tuple[str, Any]]
    notes: List[Tuple[int, str, str]]
    _note_keys: Set[Tuple[int, str, str]]
    opaques: List[Tuple["Opaque", str, int, str]]
    gaps: List[Tuple[int, str, str]]
    loading: int
    constructing: bool
    unknown_calls: int
    default_dtype: Optional[str]
    late_default_dtype: Any
    libs: "Libraries"
    torch: "TorchLib"
    pyvalues: "PythonValues"
    builtins: Dict[str, Any]
    _catalog: Optional["ModuleScope"]
    _last_test: Any  # the value of the last if-test (for the condition's text when it is forked on)
    eval_handlers: Dict[type, Callable[..., Any]]
    statement_handlers: Dict[type, Callable[..., None]]
    small_handlers: Dict[type, Callable[..., None]]

    # -- what one part of the engine calls on another (implemented by the class named above each group) --------
    if TYPE_CHECKING:
        # Evaluator
        def gap(self, reason: str, line: int, path: str) -> None: ...

        def in_catalog(self, sf: SourceFile) -> bool: ...

        def note(self, message: str, line: Optional[int] = None, path: Optional[str] = None,
                 whole_prediction: bool = False) -> None: ...

        def set_pos(self, sf: SourceFile, node: cst.CSTNode) -> None: ...

        def too_large(self, what: str) -> Unknown: ...

        def unknown(self, reason: str, maybe_state: bool = True) -> Unknown: ...

        # AttributesMixin
        def delattr(self, obj: Any, name: str) -> None: ...

        def getattr(self, obj: Any, name: str) -> Any: ...

        def setattr(self, obj: Any, name: str, value: Any, hook_ok: bool = True) -> None: ...

        # CallsMixin
        def bind_args(self, fn: FunctionValue, args: List[Any], kwargs: Dict[str, Any]) -> Dict[str, Any]: ...

        def call(self, func: Any, args: List[Any], kwargs: Dict[str, Any], node: Any = None, sf: Any = None) -> Any: ...

        def call_function(self, fn: FunctionValue, args: List[Any], kwargs: Dict[str, Any], owner: Any = None) -> Any: ...

        # ClassesMixin
        def _dataclass_init(self, cls: ClassValue, obj: Any, args: List[Any], kwargs: Dict[str, Any],
                            dc: ClassValue) -> None: ...

        def _param_defaults(self, frame: Frame, params: cst.Parameters, sf: SourceFile) -> Dict[str, Any]: ...

        def enum_call(self, cls: ClassValue, args: List[Any], kwargs: Dict[str, Any]) -> Any: ...

        def enum_member(self, cls: ClassValue, name: str) -> Any: ...

        # ExpressionsMixin
        def binop(self, op: str, a: Any, b: Any) -> Any: ...

        def eval(self, frame: Frame, node: Any, sf: SourceFile) -> Any: ...

        def eval_slice(self, frame: Frame, elems: Any, sf: SourceFile) -> Any: ...

        def truth(self, v: Any) -> Any: ...

        # FlowMixin
        def _cond_text(self, sf: SourceFile, node: Any, value: Any, frame: Optional[Frame] = None) -> str: ...

        def _fork_if_with_rest(self, frame: Frame, stmt: cst.If, rest: List[Any], sf: SourceFile, top: bool = False) -> None: ...

        def _if_truth(self, frame: Frame, stmt: cst.If, sf: SourceFile) -> Any: ...

        def fork(self, frame: Frame, branches: List[Tuple[str, Callable[[Frame], None]]], top: bool = False) -> None: ...

        # ItemsMixin
        def _maybe_repeated(self, items: List[Any]) -> List[Any]: ...

        def getitem(self, obj: Any, key: Any) -> Any: ...

        def iterate(self, v: Any, sf: Optional[SourceFile] = None) -> Any: ...

        def iterator(self, items: List[Any]) -> GeneratorValue: ...

        def setitem(self, obj: Any, key: Any, value: Any) -> None: ...

        # ModulesMixin (import_module and force_thunk: for the module scopes of scopes.py)
        def _force_pending(self, scope: ModuleScope, stmt: Any) -> None: ...

        def import_module(self, dotted: str, line: int, path: str) -> Any: ...

        def force_thunk(self, scope: ModuleScope, name: str, thunk: Thunk) -> Any: ...

        def _taint_given(self, v: Any, reason: str, line: int, path: str) -> None: ...

        def _unfound_import(self, scope: ModuleScope, stmt: cst.Try, sf: SourceFile) -> str: ...

        def exec_import(self, frame: Frame, node: Any, sf: SourceFile, lazy: bool) -> None: ...

        def getattr_ns(self, ns: NamespaceValue, attr: str, line: int, path: str) -> Any: ...

        def taint_module_state(self, scope: Any, reason: str) -> None: ...

        # StatementsMixin
        def assign(self, frame: Frame, target: Any, value: Any, sf: SourceFile) -> None: ...

        def exec_block(self, frame: Frame, body: Any, sf: SourceFile, top: bool = False) -> None: ...

        def exec_small(self, frame: Frame, small: Any, sf: SourceFile) -> None: ...

        def exec_stmt(self, frame: Frame, stmt: Any, sf: Optional[SourceFile] = None) -> None: ...
