"""What library models may ask of the evaluator: the ``Engine`` protocol.

Library models (``predict/libs``) receive the running evaluator as an ``Engine`` and use only what is
listed here; they never import ``predict/evaluator.py``. The evaluator satisfies this protocol.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Dict, List, Optional, Protocol, Tuple

from statedict_lint.predict.values import Opaque, Unknown

if TYPE_CHECKING:
    from statedict_lint.predict.libs.torch import TorchLib


class Engine(Protocol):
    line: int  # current line and file of user-visible code (for Unknown values and notes)
    path: str
    repeat: List[Tuple[str, Any]]  # (placeholder, count) of the enclosing symbolic loops
    opaques: List[Tuple[Opaque, str, int, str]]
    torch: "TorchLib"  # nn.Module semantics, shared by the other library models
    default_dtype: Optional[str]  # torch's default floating dtype so far (torch.set_default_dtype); None: unknown
    depth: int  # calls being evaluated (0: module level, import time)
    loading: int  # modules being executed (import-time code runs while > 0)
    constructing: bool  # the target class is being built (import-time code reached now ran earlier in Python)
    late_default_dtype: Any

    def gap(self, reason: str, line: int, path: str) -> None: ...

    def import_module(self, dotted: str, line: int, path: str) -> Any: ...

    def dataclass_fields(self, cls: Any) -> List[Dict[str, Any]]: ...

    def dataclass_default(self, f: Dict[str, Any]) -> Any: ...

    def dataclass_factory(self, f: Dict[str, Any]) -> Any: ...

    def unknown(self, reason: str, maybe_state: bool = True) -> Unknown: ...

    def note(self, message: str, line: Optional[int] = None, path: Optional[str] = None,
             whole_prediction: bool = False) -> None: ...

    def catalog(self) -> Any: ...

    def iterate(self, v: Any, sf: Any = None) -> Any: ...

    def iterate_unordered(self, v: Any) -> Any: ...

    def truth(self, v: Any) -> Any: ...

    def binop(self, op: str, a: Any, b: Any) -> Any: ...

    def getattr(self, obj: Any, name: str) -> Any: ...

    def setattr(self, obj: Any, name: str, value: Any) -> None: ...

    def call(self, func: Any, args: List[Any], kwargs: Dict[str, Any], node: Any = None, sf: Any = None) -> Any: ...

    def call_function(self, fn: Any, args: List[Any], kwargs: Dict[str, Any], owner: Any = None) -> Any: ...

    def instantiate(self, cls: Any, args: List[Any], kwargs: Dict[str, Any]) -> Any: ...

    def getitem(self, obj: Any, key: Any) -> Any: ...

    def import_module(self, dotted: str, line: int, path: str) -> Any: ...

    def load_library_source(self, path: str, qualname: str) -> Any: ...

    def search_roots(self) -> List[str]: ...
