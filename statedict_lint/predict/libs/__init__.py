"""Library models: what the evaluator knows about libraries whose source it does not interpret.

The evaluator reads user code and installed packages from source. Some libraries it does not read: torch
(its layers come from the catalog, ``catalog/torch_nn.py``, everything else from ``libs/torch.py``), the
Python standard library, einops, numpy. Each is a *library model*: a subclass of ``LibraryModel`` in its own
module here, registered with ``@register`` and found by full dotted name, the way astroid's brain plugins
and mypy's plugins are.

A library model declares
- ``roots``: the top-level modules it owns; attribute look-ups under them come to it;
- ``provides(dotted)``: whether ``import dotted`` yields its namespace instead of reading source
  (default: every module under ``roots``);
- ``functions``: full name -> ``f(model, *args, **kwargs)``, the functions it models exactly;
- ``attribute(full)``: any other attribute under its roots (classes, constants, namespaces), or
  ``NOT_MINE`` to say "not modelled" (the engine then makes it Unknown with the line);
- ``overrides``: full names it models even inside a package whose source the engine reads (e.g. a
  library's base class whose machinery holds no state): ``override(full)`` answers for them first.

Library models never import the engine (``evaluator.py``): they use the value domain (``values.py``), the
signals (``signals.py``), symbolic integers, and ask the running evaluator only what ``engine_api.Engine``
lists. To add one: write ``libs/<library>.py`` with a registered ``LibraryModel`` subclass and add the
module to ``MODULES`` below; test its claims against the real library (see tests/test_catalog.py).
"""

from __future__ import annotations

import importlib
from typing import Any, Callable, ClassVar, Dict, List, Optional, Tuple, Type

from statedict_lint.predict.engine_api import Engine
from statedict_lint.predict.values import Intrinsic, NamespaceValue, Unknown

NOT_MINE = object()  # "this library model does not model that name"

# The modules holding library models, imported once when the first evaluator is built.
MODULES = ("torch", "stdlib", "einops", "numpy", "transformers")

_REGISTRY: List[Type["LibraryModel"]] = []


def register(cls: Type["LibraryModel"]) -> Type["LibraryModel"]:
    _REGISTRY.append(cls)
    return cls


class LibraryModel:
    name: ClassVar[str] = ""
    roots: ClassVar[Tuple[str, ...]] = ()
    functions: ClassVar[Dict[str, Callable[..., Any]]] = {}
    overrides: ClassVar[Tuple[str, ...]] = ()
    # packages whose top-level names (``pkg.Name``) this model may answer by rule in ``override``
    top_level_overrides: ClassVar[Tuple[str, ...]] = ()
    # may an unmodelled name of this library be (or hold) a module, parameter or tensor?
    maybe_state: ClassVar[bool] = False

    def __init__(self, ev: Engine) -> None:
        self.ev = ev

    def _where(self) -> Tuple[int, str]:
        return self.ev.line, self.ev.path

    def owns(self, full: str) -> bool:
        return full.split(".")[0] in self.roots

    def provides(self, dotted: str) -> bool:
        return self.owns(dotted)

    def canonical(self, dotted: str) -> str:
        return dotted

    def attribute(self, full: str) -> Any:
        return NOT_MINE

    def override(self, full: str) -> Any:
        return NOT_MINE

    def instantiate(self, cls: Any, args: List[Any], kwargs: Dict[str, Any]) -> Any:
        """Calling a class built on one of this library's classes (``class Dims(NamedTuple)``), or NOT_MINE."""
        return NOT_MINE


class Libraries:
    """The library models of one evaluator, looked up by full name."""

    def __init__(self, ev: Engine) -> None:
        for mod in MODULES:  # registers each module's models on first import
            importlib.import_module(f"{__name__}.{mod}")
        self.models: List[LibraryModel] = [cls(ev) for cls in _REGISTRY]
        self.by_name: Dict[str, LibraryModel] = {m.name: m for m in self.models}
        self._overrides: Dict[str, LibraryModel] = {full: m for m in self.models for full in m.overrides}
        self._top_level: Dict[str, LibraryModel] = {p: m for m in self.models for p in m.top_level_overrides}
        self.ev = ev

    def __getitem__(self, name: str) -> LibraryModel:
        return self.by_name[name]

    def owner(self, full: str) -> Optional[LibraryModel]:
        for m in self.models:
            if m.owns(full):
                return m
        return None

    def namespace(self, dotted: str) -> Optional[NamespaceValue]:
        """``import dotted``: the library model's namespace, or None to read the module's source."""
        for m in self.models:
            if m.provides(dotted):
                return NamespaceValue(m.canonical(dotted))
        return None

    def attribute(self, ns: NamespaceValue, attr: str) -> Any:
        """An attribute of a namespace a library model provides."""
        full = f"{ns.qualname}.{attr}"
        m = self.owner(full)
        if m is None:
            return Unknown(f"`{full}` is not modelled by statedict-lint", self.ev.line, self.ev.path, False)
        full = m.canonical(full)
        fn = m.functions.get(full)
        if fn is not None:
            return Intrinsic(full, lambda *a, **k: fn(m, *a, **k))
        v = m.attribute(full)
        if v is NOT_MINE:
            return Unknown(f"`{full}` is not modelled by statedict-lint", self.ev.line, self.ev.path, m.maybe_state)
        return v

    def instantiate(self, cls: Any, args: List[Any], kwargs: Dict[str, Any]) -> Any:
        for m in self.models:
            out = m.instantiate(cls, args, kwargs)
            if out is not NOT_MINE:
                return out
        return NOT_MINE

    def override(self, full: str) -> Any:
        """A name inside a source-read module that a library model answers for instead (or ``NOT_MINE``)."""
        m = self._overrides.get(full)
        if m is None:
            # a top-level name of a package (``transformers.UdopConfig``), which a model may answer by rule
            pkg, dot, name = full.partition(".")
            m = self._top_level.get(pkg) if dot and "." not in name else None
        return NOT_MINE if m is None else m.override(full)
