"""Helpers shared by several parts of the engine: syntax queries over libcst nodes and comparisons of values."""

from __future__ import annotations

from typing import Any, Iterator, List, Optional

import libcst as cst

from statedict_lint.predict.symbolic import Sym
from statedict_lint.predict.values import ClassValue, FunctionValue, InstanceValue, Opaque, SymKey, Unknown


def alias_name(a: cst.ImportAlias) -> Optional[str]:
    """``y`` of ``import x as y`` / ``from m import x as y``; None without ``as``."""
    target = a.asname.name if a.asname is not None else None
    return target.value if isinstance(target, cst.Name) else None


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


def _hashable_key(k: Any) -> Any:
    if isinstance(k, (Unknown, Opaque)):
        return SymKey(k)
    if _has_instance(k) and _compares_unknown(k):
        # an object compared by an __eq__ the evaluator cannot run (a frozen dataclass with an unknown field):
        # it may be equal to another key
        return SymKey(Unknown("a dict key compared by an __eq__ that is not modelled", 0, "", False))
    return k


def _is_property(fn: FunctionValue) -> bool:
    """A ``@property`` (a data descriptor: it wins over the instance dict, and setting needs its setter);
    ``cached_property`` is not one (the instance dict wins, setting stores there)."""
    return "property" in fn.decorators


def _dotted(node: Any) -> str:
    if isinstance(node, cst.Name):
        return node.value
    if isinstance(node, cst.Attribute):
        return f"{_dotted(node.value)}.{node.attr.value}"
    return ""


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
                out.append(alias_name(a) or _dotted(a.name).split(".")[0])
        elif isinstance(n, cst.ImportFrom) and not isinstance(n.names, cst.ImportStar):
            for a in n.names:
                out.append(alias_name(a) or _dotted(a.name))
    if isinstance(stmt, (cst.FunctionDef, cst.ClassDef)):
        out.append(stmt.name.value)
    return out
