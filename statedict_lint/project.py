"""A set of project files: module names, imports, nn.Module classes and the containment graph.

Everything here uses ``ast`` only (cheap): it decides *which* classes to predict and explains how a change
propagates (``Block`` changed, ``GPT`` contains ``Block``). The keys themselves always come from the
predictor.

* ``imports``: file -> project files it imports (``import a.b``, ``from .x import Y``, ``from a import b``).
* ``classes``: (file, class name) -> line, base names and the names its body refers to.
* ``contains``: class -> project classes referenced inside its body (constructor calls, ``block=Block``
  defaults, ``nn.ModuleList([Block(...) ...])``), resolved through each file's imports, across files.
  This over-approximates containment on purpose: it only selects what to re-predict.
"""

from __future__ import annotations

import ast
import os
from dataclasses import dataclass, field
from typing import Dict, Iterable, List, Optional, Set, Tuple

ClassId = Tuple[str, str]  # (repo-relative path, class name)

_MODULE_BASES = {"Module", "nn.Module", "torch.nn.Module", "torch.nn.modules.module.Module"}


def module_name(relpath: str) -> str:
    parts = relpath[:-3].replace(os.sep, "/").split("/") if relpath.endswith(".py") else relpath.split("/")
    if parts and parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def _dotted(node: ast.AST) -> str:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        head = _dotted(node.value)
        return f"{head}.{node.attr}" if head else ""
    if isinstance(node, ast.Call):
        return _dotted(node.func)
    if isinstance(node, ast.Subscript):
        return _dotted(node.value)
    return ""


@dataclass
class ClassInfo:
    path: str
    name: str
    line: int
    bases: List[str]
    refs: Set[str] = field(default_factory=set)  # dotted names loaded in the class body


@dataclass
class FileInfo:
    path: str
    module: str
    is_package: bool
    names: Dict[str, str] = field(default_factory=dict)  # local name -> fully qualified dotted name
    imported_modules: Set[str] = field(default_factory=set)
    classes: Dict[str, ClassInfo] = field(default_factory=dict)
    syntax_error: Optional[str] = None


def _resolve_relative(fi: FileInfo, level: int, mod: Optional[str]) -> str:
    if level == 0:
        return mod or ""
    base = fi.module.split(".") if fi.module else []
    if not fi.is_package:
        base = base[:-1]
    if level > 1:
        base = base[: len(base) - (level - 1)] if level - 1 <= len(base) else []
    return ".".join([*base, *(mod.split(".") if mod else [])])


def parse_file(relpath: str, source: str) -> FileInfo:
    fi = FileInfo(relpath, module_name(relpath), relpath.endswith("__init__.py"))
    try:
        tree = ast.parse(source)
    except (SyntaxError, ValueError, RecursionError, MemoryError) as exc:
        fi.syntax_error = str(exc)
        return fi
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for a in node.names:
                fi.imported_modules.add(a.name)
                if a.asname:
                    fi.names[a.asname] = a.name
                else:
                    fi.names.setdefault(a.name.split(".")[0], a.name.split(".")[0])
        elif isinstance(node, ast.ImportFrom):
            mod = _resolve_relative(fi, node.level, node.module)
            fi.imported_modules.add(mod)
            for a in node.names:
                if a.name == "*":
                    fi.names.setdefault(f"*{mod}", mod)
                    continue
                fi.names[a.asname or a.name] = f"{mod}.{a.name}" if mod else a.name
                fi.imported_modules.add(f"{mod}.{a.name}" if mod else a.name)  # may be a submodule
    for node in tree.body:
        if isinstance(node, ast.ClassDef):
            ci = ClassInfo(relpath, node.name, node.lineno, [_dotted(b) for b in node.bases])
            for sub in ast.walk(node):
                if isinstance(sub, (ast.Name, ast.Attribute)) and isinstance(getattr(sub, "ctx", None), ast.Load):
                    d = _dotted(sub)
                    if d:
                        ci.refs.add(d)
            fi.classes[node.name] = ci
    return fi


class Project:
    """The .py files of one revision (repo-relative paths -> source text)."""

    def __init__(self, sources: Dict[str, str]) -> None:
        self.files: Dict[str, FileInfo] = {p: parse_file(p, s) for p, s in sorted(sources.items())}
        self.by_module: Dict[str, str] = {}
        for p, fi in self.files.items():
            self.by_module.setdefault(fi.module, p)
            # also reachable by its dotted path from the repo root when the module name is shorter
            self.by_module.setdefault(module_name(p), p)
        self._suffix_index: Dict[str, List[str]] = {}
        for mod, p in self.by_module.items():
            parts = mod.split(".")
            for i in range(len(parts)):
                self._suffix_index.setdefault(".".join(parts[i:]), []).append(p)
        self.imports: Dict[str, Set[str]] = {p: self._file_imports(fi) for p, fi in self.files.items()}
        self._module_cache: Dict[ClassId, bool] = {}
        self.contains: Dict[ClassId, Set[ClassId]] = {}
        for p, fi in self.files.items():
            for c in fi.classes.values():
                self.contains[(p, c.name)] = {t for t in (self.resolve_class(p, r) for r in c.refs)
                                              if t is not None and t != (p, c.name)}

    # -- resolution ------------------------------------------------------------------------------
    def _module_file(self, dotted: str) -> Optional[str]:
        if dotted in self.by_module:
            return self.by_module[dotted]
        # projects often import by a name rooted below the repository root (src/ layouts, scripts)
        hits = self._suffix_index.get(dotted, [])
        return hits[0] if len(hits) == 1 else None

    def _file_imports(self, fi: FileInfo) -> Set[str]:
        out: Set[str] = set()
        for mod in fi.imported_modules:
            p = self._module_file(mod)
            if p is not None and p != fi.path:
                out.add(p)
            parts = mod.split(".")
            for i in range(1, len(parts)):  # importing a.b.c runs a/__init__ and a/b/__init__
                q = self.by_module.get(".".join(parts[:i]))
                if q is not None and q != fi.path and q.endswith("__init__.py"):
                    out.add(q)
        return out

    def resolve_class(self, path: str, dotted: str, depth: int = 0) -> Optional[ClassId]:
        """The project class a dotted name used in ``path`` refers to, or None."""
        fi = self.files.get(path)
        if fi is None or depth > 8:
            return None
        head, _, rest = dotted.partition(".")
        if not rest and head in fi.classes:
            return (path, head)
        target = fi.names.get(head)
        if target is None:
            for k, mod in fi.names.items():  # star imports
                if k.startswith("*"):
                    p = self._module_file(mod)
                    if p is not None and p != path and head in self.files[p].classes and not rest:
                        return (p, head)
            return None
        full = f"{target}.{rest}" if rest else target
        mod, _, name = full.rpartition(".")
        p = self._module_file(mod) if mod else None
        if p is not None and p != path:
            q = self.files[p]
            if name in q.classes:
                return (p, name)
            if name in q.names:  # re-exported through an __init__ or another module
                return self.resolve_class(p, name, depth + 1)
        return None

    def is_module_class(self, cid: ClassId, _seen: Optional[Set[ClassId]] = None) -> bool:
        """True when the class derives (through project classes) from a torch.nn.Module-like base."""
        if cid in self._module_cache:
            return self._module_cache[cid]
        seen = _seen or set()
        if cid in seen:
            return False
        seen.add(cid)
        fi = self.files.get(cid[0])
        ci = fi.classes.get(cid[1]) if fi else None
        result = False
        if ci is not None and fi is not None:
            for b in ci.bases:
                head = b.split(".")[0]
                full = fi.names.get(head, head) + b[len(head):]
                if b in _MODULE_BASES or full.startswith("torch.nn.") or full in _MODULE_BASES:
                    result = True
                    break
                t = self.resolve_class(cid[0], b)
                if t is not None and self.is_module_class(t, seen):
                    result = True
                    break
        self._module_cache[cid] = result
        return result

    # -- graphs ----------------------------------------------------------------------------------
    def importers_closure(self, paths: Iterable[str]) -> Set[str]:
        """``paths`` plus every file that imports one of them, transitively."""
        rev: Dict[str, Set[str]] = {}
        for a, deps in self.imports.items():
            for b in deps:
                rev.setdefault(b, set()).add(a)
        out: Set[str] = set()
        todo = [p for p in paths if p in self.files]
        while todo:
            p = todo.pop()
            if p in out:
                continue
            out.add(p)
            todo.extend(rev.get(p, ()))
        return out

    def deps_closure(self, path: str) -> Set[str]:
        """Every project file ``path`` imports, transitively (without ``path`` itself)."""
        out: Set[str] = set()
        todo = list(self.imports.get(path, ()))
        while todo:
            p = todo.pop()
            if p in out or p == path:
                continue
            out.add(p)
            todo.extend(self.imports.get(p, ()))
        return out

    def containers(self, cid: ClassId) -> Set[ClassId]:
        """Every class that contains ``cid``, transitively (across files)."""
        rev: Dict[ClassId, Set[ClassId]] = {}
        for a, kids in self.contains.items():
            for b in kids:
                rev.setdefault(b, set()).add(a)
        out: Set[ClassId] = set()
        todo = list(rev.get(cid, ()))
        while todo:
            c = todo.pop()
            if c in out or c == cid:
                continue
            out.add(c)
            todo.extend(rev.get(c, ()))
        return out

    def contained(self, cid: ClassId) -> Set[ClassId]:
        """Every class ``cid`` contains, transitively."""
        out: Set[ClassId] = set()
        todo = list(self.contains.get(cid, ()))
        while todo:
            c = todo.pop()
            if c in out or c == cid:
                continue
            out.add(c)
            todo.extend(self.contains.get(c, ()))
        return out

    def module_classes(self) -> List[ClassId]:
        return [(p, c) for p, fi in self.files.items() for c in fi.classes if self.is_module_class((p, c))]
