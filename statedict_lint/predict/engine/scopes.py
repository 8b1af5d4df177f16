"""Module scopes, lazily evaluated module-level bindings (thunks) and call frames."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Dict, List, Optional, Tuple

from statedict_lint.predict.values import NamespaceValue, Unknown
from statedict_lint.source.loader import SourceFile

if TYPE_CHECKING:
    from statedict_lint.predict.engine.base import EngineBase


class Thunk:
    """A module-level binding evaluated on first use."""

    def __init__(self, kind: str, node: Any, extra: Any = None) -> None:
        self.kind = kind  # "assign" | "import" | "importfrom" | "unknown"
        self.node = node
        self.extra = extra
        self.busy = False


class ModuleScope:
    def __init__(self, ev: "EngineBase", sf: SourceFile, qualname: str, is_package: bool) -> None:
        self.ev = ev
        self.sf = sf
        self.qualname = qualname
        self.is_package = is_package
        self.values: Dict[str, Any] = {"__name__": qualname}
        self.state_tainted = False  # its tables of state were handed to code that is not followed (modules.py)
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
