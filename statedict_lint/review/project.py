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

    @property
    def calls_super_init(self) -> bool:
        return "super" in self.refs or any(r.endswith(".__init__") for r in self.refs)


@dataclass
class FileInfo:
    path: str
    module: str
    is_package: bool
    names: Dict[str, str] = field(default_factory=dict)  # local name -> fully qualified dotted name
    imported_modules: Set[str] = field(default_factory=set)
    classes: Dict[str, ClassInfo] = field(default_factory=dict)
    defined: Set[str] = field(default_factory=set)  # names bound at top level by def/class/assignment
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
    from statedict_lint.limits import MAX_SOURCE_BYTES

    if len(source) > MAX_SOURCE_BYTES:  # parsing 50 MB of source costs gigabytes: refused, and said so
        fi.syntax_error = f"larger than the {MAX_SOURCE_BYTES >> 20} MiB limit for one source file"
        return fi
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
    _collect_defined(tree.body, fi.defined)

    def loads(node: ast.AST) -> Set[str]:
        out: Set[str] = set()
        for sub in ast.walk(node):
            if isinstance(sub, (ast.Name, ast.Attribute)) and isinstance(getattr(sub, "ctx", None), ast.Load):
                d = _dotted(sub)
                if d:
                    out.add(d)
        return out

    # module-level helpers a class calls (timm's `_create_attn`, `get_block_fn(cfg)`): what they refer to
    # counts as referred to by the class, so `NaFlexVit` contains the `Block` its helper returns
    funcs = {n.name: n for n in tree.body if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))}
    func_refs: Dict[str, Set[str]] = {}
    for node in tree.body:
        if isinstance(node, ast.ClassDef):
            ci = ClassInfo(relpath, node.name, node.lineno, [_dotted(b) for b in node.bases])
            ci.refs = loads(node)
            todo = [r for r in ci.refs if r in funcs]
            seen: Set[str] = set()
            while todo:
                f = todo.pop()
                if f in seen:
                    continue
                seen.add(f)
                if f not in func_refs:
                    func_refs[f] = loads(funcs[f])
                ci.refs |= func_refs[f]
                todo.extend(r for r in func_refs[f] if r in funcs and r not in seen)
            fi.classes[node.name] = ci
    return fi


def _collect_defined(body: List[ast.stmt], out: Set[str]) -> None:
    for node in body:
        if isinstance(node, (ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
            out.add(node.name)
        elif isinstance(node, (ast.Assign, ast.AnnAssign, ast.AugAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            for t in targets:
                for n in ast.walk(t):
                    if isinstance(n, ast.Name):
                        out.add(n.id)
        elif isinstance(node, (ast.If, ast.Try, ast.With, ast.For, ast.While)):
            for field_name in ("body", "orelse", "finalbody"):
                _collect_defined(getattr(node, field_name, []) or [], out)
            for h in getattr(node, "handlers", []) or []:
                _collect_defined(h.body, out)


def _info_to_json(fi: FileInfo) -> Dict[str, object]:
    return {"module": fi.module, "is_package": fi.is_package, "names": fi.names,
            "imported_modules": sorted(fi.imported_modules), "defined": sorted(fi.defined),
            "syntax_error": fi.syntax_error,
            "classes": [[c.name, c.line, c.bases, sorted(c.refs)] for c in fi.classes.values()]}


def _strs(v: object) -> List[str]:
    if not isinstance(v, list) or not all(isinstance(x, str) for x in v):
        raise ValueError("not a list of strings")
    return list(v)


def _info_from_json(path: str, d: Dict[str, object]) -> FileInfo:
    """The FileInfo ``_info_to_json`` wrote; ValueError/KeyError when the entry does not have its shape."""
    names, err, classes = d["names"], d.get("syntax_error"), d["classes"]
    if not isinstance(names, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in names.items()) \
            or not (err is None or isinstance(err, str)) or not isinstance(classes, list):
        raise ValueError("malformed index entry")
    fi = FileInfo(path, str(d["module"]), bool(d["is_package"]), dict(names), set(_strs(d["imported_modules"])), {},
                  set(_strs(d["defined"])), err)
    for c in classes:
        if not isinstance(c, list) or len(c) != 4 or not isinstance(c[0], str) or type(c[1]) is not int:
            raise ValueError("malformed class entry")
        fi.classes[c[0]] = ClassInfo(path, c[0], c[1], _strs(c[2]), set(_strs(c[3])))
    return fi


class IndexCache:
    """FileInfo per (path, content hash), stored in one signed entry of the user cache (``folder``: from
    ``snapshot.cache_folder``), so an unchanged re-run parses nothing."""

    NAME = "project-index-v2.json"  # v2: class refs include those of module-level helpers it calls

    def __init__(self, folder: Optional[str]) -> None:
        self.path = os.path.join(folder, self.NAME) if folder else None
        self.data: Dict[str, Dict[str, object]] = {}
        self.dirty = False
        if self.path:
            from statedict_lint import usercache

            data = usercache.read_json_dict(self.path)
            if data is not None:
                self.data = {k: v for k, v in data.items() if isinstance(k, str) and isinstance(v, dict)}

    def get(self, path: str, source: str) -> FileInfo:
        import hashlib

        key = path + "\0" + hashlib.sha1(source.encode("utf-8", "surrogatepass")).hexdigest()
        hit = self.data.get(key)
        if hit is not None:
            try:
                return _info_from_json(path, hit)
            except Exception:  # noqa: BLE001 - a malformed entry is parsed again, whatever its shape
                pass
        fi = parse_file(path, source)
        self.data[key] = _info_to_json(fi)
        self.dirty = True
        return fi

    def save(self, keep: Iterable[str] = ()) -> None:
        if not self.path or not self.dirty:
            return
        import json

        from statedict_lint import usercache

        live = set(keep)
        if live:  # drop entries of files that no longer exist in this tree (bounded growth)
            self.data = {k: v for k, v in self.data.items() if k.split("\0", 1)[0] in live or len(self.data) < 4000}
        usercache.write_entry(self.path, json.dumps(self.data, separators=(",", ":")).encode())


class Project:
    """The .py files of one revision (repo-relative paths -> source text)."""

    def __init__(self, sources: Dict[str, str], index: Optional[IndexCache] = None) -> None:
        if index is not None:
            self.files: Dict[str, FileInfo] = {p: index.get(p, s) for p, s in sorted(sources.items())}
            index.save(sources)
        else:
            self.files = {p: parse_file(p, s) for p, s in sorted(sources.items())}
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
        self._edge_cache: Dict[str, Tuple[Set[str], Set[str]]] = {}
        self.imports: Dict[str, Set[str]] = {p: self._file_imports(fi) for p, fi in self.files.items()}
        self._closure: Dict[str, Set[str]] = {}
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
        """Every project file ``fi`` names in an import (hops and definitions)."""
        soft, hard = self._edges(fi)
        return soft | hard

    def _resolve_chain(self, full: str, depth: int = 0) -> Tuple[List[str], Optional[str]]:
        """(files passed through by re-exports, file that defines ``full``) for a dotted name."""
        if depth > 10:
            return [], None
        if full in self.by_module:  # a module itself (``from pkg import submodule``)
            return [], self.by_module[full]
        mod, _, name = full.rpartition(".")
        p = self._module_file(mod) if mod else None
        if p is None:
            p = self._module_file(full)
            return ([], p) if p is not None else ([], None)
        fi = self.files[p]
        if name in fi.defined or name in fi.classes:
            return [], p
        if name in fi.names and fi.names[name] != full:
            hops, d = self._resolve_chain(fi.names[name], depth + 1)
            return [p] + hops, d
        for k, star in fi.names.items():
            if k.startswith("*"):
                hops, d = self._resolve_chain(f"{star}.{name}", depth + 1)
                if d is not None:
                    return [p] + hops, d
        return [], p  # unknown how the name gets there: depend on the whole file

    def _edges(self, fi: FileInfo) -> Tuple[Set[str], Set[str]]:
        """(soft, hard) dependencies of a file: soft = re-export hops (their text matters, not their own
        imports); hard = files defining what it imports (their own dependencies matter too)."""
        cached = self._edge_cache.get(fi.path) if hasattr(self, "_edge_cache") else None
        if cached is not None:
            return cached
        soft: Set[str] = set()
        hard: Set[str] = set()
        for local, full in fi.names.items():
            if local.startswith("*"):
                p = self._module_file(full)
                if p is not None:
                    hard.add(p)
                continue
            hops, d = self._resolve_chain(full)
            soft.update(hops)
            if d is not None:
                hard.add(d)
        for mod in fi.imported_modules:  # ``import a.b.c``: the module file itself
            if mod in self.by_module and mod.split(".")[0] in fi.names:
                hard.add(self.by_module[mod])
        soft.discard(fi.path)
        hard.discard(fi.path)
        res = (soft - hard, hard)
        self._edge_cache[fi.path] = res
        return res

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
        """``paths`` plus every file whose prediction may depend on one of them."""
        targets = {p for p in paths}
        out = {p for p in targets if p in self.files}
        for p in self.files:
            if self.deps_closure(p) & targets:
                out.add(p)
        return out

    def deps_closure(self, path: str) -> Set[str]:
        """Project files whose text can change the prediction of ``path``'s classes (without ``path``):
        the files defining what it imports, their own dependencies, and the re-export hops in between."""
        hit = self._closure.get(path)
        if hit is not None:
            return hit
        out: Set[str] = set()
        seen: Set[str] = set()
        todo = [path]
        while todo:
            p = todo.pop()
            if p in seen or p not in self.files:
                continue
            seen.add(p)
            soft, hard = self._edges(self.files[p])
            out |= soft
            out |= hard
            todo.extend(hard)
        out.discard(path)
        self._closure[path] = out
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

    _NOT_MODULE_BASES = {"object", "Exception", "ValueError", "TypeError", "RuntimeError", "dict", "list", "tuple",
                         "str", "int", "float", "Enum", "IntEnum", "enum.Enum", "NamedTuple", "typing.NamedTuple",
                         "TypedDict", "Protocol", "ABC", "abc.ABC", "Generic", "type", "ABCMeta"}

    def module_candidates(self, path: str) -> List[Tuple[str, int]]:
        """Top-level classes of ``path`` worth asking the predictor about: derived from torch.nn (through
        project classes), or from a base we cannot see into whose body calls ``super().__init__``.
        The predictor has the last word (it refuses classes that are not nn.Module subclasses)."""
        fi = self.files.get(path)
        if fi is None:
            return []
        out = []
        for c in fi.classes.values():
            if self.is_module_class((path, c.name)):
                out.append((c.name, c.line))
                continue
            unknown = [b for b in c.bases if b and b not in self._NOT_MODULE_BASES and
                       self.resolve_class(path, b) is None and not b.startswith("typing.")]
            if unknown and c.calls_super_init:
                out.append((c.name, c.line))
        return sorted(out, key=lambda x: x[1])

    def module_classes(self) -> List[ClassId]:
        return [(p, c) for p, fi in self.files.items() for c in fi.classes if self.is_module_class((p, c))]
