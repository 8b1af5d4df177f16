"""transformers 5's key conversions between stored and in-memory names, read from the installed
``conversion_mapping.py`` as text (``ast``), never imported.

``_build_checkpoint_conversion_mapping()`` builds a dict ``{class name or model_type: [transforms]}``; this
module interprets the small subset of Python that function is written in (literals, f-strings over local
string constants, ``mapping[k] = ...``, ``+=``, ``.copy()``, ``+``, the final ``for`` over
``_MODEL_TO_CONVERSION_PATTERN``). Anything else makes the entries it touches *unknown*, never guessed.

``WeightRenaming`` (a regex rename of one key into one key) is modelled exactly, with transformers' own
pattern processing (``WeightTransform.__init__`` / ``rename_source_key``). A ``WeightConverter`` (tensors merged,
split, concatenated between the stored and the in-memory keys) keeps its patterns and its ``operations`` (``Op``:
the operation's class name and literal arguments); ``hf/loading.py`` computes the shapes of the operations it
models exactly and reports the others as not modelled, naming them. ``PrefixChange`` is the
``WeightRenaming`` its ``__init__`` builds. Other renaming subclasses (``GroupWeightRename``, which depends on
the keys seen before, ...) are reported as such: the keys they touch are not predicted.
"""

from __future__ import annotations

import ast
import os
import re
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional, Tuple

from statedict_lint.memo import LRU


@dataclass(frozen=True)
class Op:
    """One ``ConversionOps`` of a ``WeightConverter``'s ``operations``: ``Chunk(dim=0)`` -> Op("Chunk", (),
    (("dim", 0),)). ``readable`` is False when an argument is not a literal."""

    name: str
    args: Tuple[Any, ...] = ()
    kwargs: Tuple[Tuple[str, Any], ...] = ()
    readable: bool = True

    def __str__(self) -> str:
        parts = [repr(a) for a in self.args] + [f"{k}={v!r}" for k, v in self.kwargs]
        return f"{self.name}({', '.join(parts)})" if self.readable else f"{self.name}(...)"


# the classes of conversion_mapping.py that build a transform (the others it calls are operations)
TRANSFORM_CLASSES = ("WeightRenaming", "WeightConverter", "PrefixChange", "GroupWeightRename",
                     "Inkling2IndexOffsetWeightRename")


@dataclass
class Transform:
    kind: str  # "rename" (WeightRenaming) | "convert" (WeightConverter) | the class name of another transform
    sources: List[str]
    targets: List[str]
    ops: Optional[List[Op]] = None  # a WeightConverter's operations (None: not readable)
    scope_prefix: Optional[str] = None
    base_model_prefix: Optional[str] = None
    _compiled: Any = field(default=None, repr=False)
    _src: List[str] = field(default_factory=list, repr=False)
    _tgt: List[str] = field(default_factory=list, repr=False)

    # -- transformers' WeightTransform pattern processing (core_model_loading.py) ----------------------
    def _prepare(self) -> None:
        if self._compiled is not None:
            return
        tgt: List[str] = []
        groups: List[str] = []
        for p in self.targets:
            p2, g = _process_target_pattern(p)
            tgt.append(p2)
            if g is not None:
                groups.append(g)
        group = groups[0] if len(set(groups)) == 1 else None
        src: List[str] = []
        for i, p in enumerate(self.sources):
            if r"\1" in p and group is not None:
                p = p.replace(r"\1", group, 1)
            if len(self.sources) == len(self.targets) and self.targets[i].startswith("^") and not p.startswith("^"):
                p = "^" + p
            src.append(p)
        branches = []
        for i, sp in sorted(enumerate(src), key=lambda item: -len(item[1])):
            pat = sp.replace("*.", r".*\.")
            if re.search(r"[a-zA-Z0-9]$", pat):
                pat += r"(?!\w)"
            branches.append(f"(?P<g{i}>{pat})")
        self._src, self._tgt = src, tgt
        self._compiled = re.compile("|".join(branches))

    def match(self, key: str) -> Optional[Tuple[Optional[str], str, Any]]:
        self._prepare()
        prefix = None
        to_match = key
        if self.scope_prefix is not None:
            sp = f"{self.scope_prefix}." if self.scope_prefix != "" else ""
            bp = f"{self.base_model_prefix}." if self.base_model_prefix else ""
            if key.startswith(bp + sp):
                prefix = bp + sp
            elif key.startswith(sp):
                prefix = sp
            else:
                return None
            to_match = key[len(prefix):]
        m = self._compiled.search(to_match)
        if m is None:
            return None
        return prefix, to_match, m

    @property
    def source_patterns(self) -> List[str]:
        """The source patterns as transformers holds them after ``__init__`` (``\\1`` and ``^`` processed)."""
        self._prepare()
        return list(self._src)

    @property
    def target_patterns(self) -> List[str]:
        """The target patterns as transformers holds them after ``__init__``."""
        self._prepare()
        return list(self._tgt)

    def rename(self, key: str) -> str:
        """WeightTransform.rename_source_key (the first target pattern)."""
        return self.rename_source(key)[0]

    def rename_source(self, key: str) -> Tuple[str, Optional[str]]:
        """WeightTransform.rename_source_key: (renamed key, the source pattern that matched, or None)."""
        hit = self.match(key)
        if hit is None:
            return key, None
        prefix, to_match, m = hit
        name = next(n for n, v in m.groupdict().items() if v is not None)
        replacement = self._tgt[0]
        if r"\1" in replacement:
            idx = self._compiled.groupindex[name] + 1
            replacement = replacement.replace(r"\1", m.group(idx) or "")
        out = to_match.replace(m.group(0), replacement, 1)
        return ((prefix or "") + out if prefix is not None else out), self._src[int(name[1:])]


def _process_target_pattern(pattern: str) -> Tuple[str, Optional[str]]:
    pattern = pattern[1:] if pattern.startswith("^") else pattern
    pattern = re.sub(r"\(\?.+?\)?\)", "", pattern)
    m = re.search(r"\(.+?\)", pattern)
    group = None
    if m:
        group = m.group(0)
        pattern = pattern.replace(group, r"\1", 1)
    return pattern.replace(r"\.", "."), group


class _Unknown:
    def __init__(self, why: str) -> None:
        self.why = why


class Mapping:
    """The conversion table: ``get(name)`` -> list of Transform, None (no entry) or an _Unknown."""

    def __init__(self, table: Dict[str, Any], error: str = "") -> None:
        self.table = table
        self.error = error

    def get(self, name: str) -> Any:
        if self.error:
            return _Unknown(self.error)
        v = self.table.get(name)
        if isinstance(v, list):
            return [Transform(t.kind, list(t.sources), list(t.targets), None if t.ops is None else list(t.ops))
                    for t in v]
        return v


_READ: LRU[Mapping] = LRU(8)  # conversion_mapping.py of each transformers read (bounded)


def read_mapping(transformers_root: str) -> Mapping:
    path = os.path.join(transformers_root, "conversion_mapping.py")
    if path in _READ:
        return _READ[path]
    try:
        with open(path, encoding="utf-8") as fh:
            tree = ast.parse(fh.read(), path)
    except FileNotFoundError:
        m = Mapping({})  # transformers 4: no conversion mapping (keys are loaded as stored)
        _READ[path] = m
        return m
    except (OSError, SyntaxError, ValueError, UnicodeDecodeError, RecursionError) as exc:
        m = Mapping({}, f"cannot read {path}: {exc}")
        _READ[path] = m
        return m
    m = _Interp(tree).run()
    _READ[path] = m
    return m


class _Fail(Exception):
    pass


class _Interp:
    """Runs ``_build_checkpoint_conversion_mapping`` over plain values; unknown constructs raise _Fail
    locally, which turns the entry being assigned into an _Unknown (other entries stay exact)."""

    def __init__(self, tree: ast.Module) -> None:
        self.tree = tree
        self.globals: Dict[str, Any] = {}
        for stmt in tree.body:
            if isinstance(stmt, ast.Assign) and len(stmt.targets) == 1 and isinstance(stmt.targets[0], ast.Name):
                try:
                    self.globals[stmt.targets[0].id] = ast.literal_eval(stmt.value)
                except (ValueError, SyntaxError, TypeError):
                    pass

    def run(self) -> Mapping:
        fn = next((n for n in self.tree.body if isinstance(n, ast.FunctionDef)
                   and n.name == "_build_checkpoint_conversion_mapping"), None)
        if fn is None:
            return Mapping({}, "conversion_mapping.py defines no _build_checkpoint_conversion_mapping")
        env: Dict[str, Any] = {}
        try:
            result = self.block(fn.body, env)
        except _Fail as exc:
            return Mapping({}, f"conversion_mapping.py: {exc}")
        if not isinstance(result, dict):
            return Mapping({}, "conversion_mapping.py: the mapping cannot be read")
        return Mapping(result)

    def block(self, body: List[ast.stmt], env: Dict[str, Any]) -> Any:
        for stmt in body:
            r = self.stmt(stmt, env)
            if r is not None:
                return r
        return None

    def stmt(self, s: ast.stmt, env: Dict[str, Any]) -> Any:
        if isinstance(s, ast.Return):
            return self.expr(s.value, env) if s.value is not None else None
        if isinstance(s, ast.Assign) and len(s.targets) == 1:
            t = s.targets[0]
            if isinstance(t, ast.Name):
                env[t.id] = self.expr(s.value, env)
                return None
            if isinstance(t, ast.Subscript):
                d = self.expr(t.value, env)
                k = self.expr(t.slice, env)
                try:
                    v = self.expr(s.value, env)
                except _Fail as exc:
                    v = _Unknown(str(exc))
                d[k] = v
                return None
        if isinstance(s, ast.AugAssign) and isinstance(s.op, ast.Add) and isinstance(s.target, ast.Subscript):
            d = self.expr(s.target.value, env)
            k = self.expr(s.target.slice, env)
            try:
                v = self.expr(s.value, env)
                cur = d.get(k)
                d[k] = _Unknown(cur.why) if isinstance(cur, _Unknown) else (
                    _Unknown("entry extended before it is defined") if cur is None else list(cur) + list(v))
            except _Fail as exc:
                d[k] = _Unknown(str(exc))
            return None
        names = [e.id for e in s.target.elts if isinstance(e, ast.Name)] \
            if isinstance(s, ast.For) and isinstance(s.target, ast.Tuple) else []
        if isinstance(s, ast.For) and isinstance(s.target, ast.Tuple) and len(names) == len(s.target.elts) == 2:
            it = self.expr(s.iter, env)
            for a, b in it:
                env[names[0]], env[names[1]] = a, b
                r = self.loop_body(s.body, env)
                if r == "return":
                    break
            return None
        if isinstance(s, ast.Expr) and isinstance(s.value, ast.Constant):
            return None
        raise _Fail(f"line {s.lineno}: statement not understood")

    def loop_body(self, body: List[ast.stmt], env: Dict[str, Any]) -> Any:
        for s in body:
            if isinstance(s, ast.If) and not s.orelse and len(s.body) == 1 and isinstance(s.body[0], ast.Continue):
                if self.expr(s.test, env):
                    return None
                continue
            self.stmt(s, env)
        return None

    def expr(self, e: Any, env: Dict[str, Any]) -> Any:
        if isinstance(e, ast.Constant):
            return e.value
        if isinstance(e, ast.Name):
            if e.id in env:
                return env[e.id]
            if e.id in self.globals:
                return self.globals[e.id]
            raise _Fail(f"line {e.lineno}: name {e.id} not understood")
        if isinstance(e, ast.JoinedStr):
            out = ""
            for v in e.values:
                if isinstance(v, ast.Constant):
                    out += str(v.value)
                elif isinstance(v, ast.FormattedValue) and v.conversion == -1 and v.format_spec is None:
                    x = self.expr(v.value, env)
                    if not isinstance(x, (str, int)):
                        raise _Fail(f"line {e.lineno}: f-string over a non-string")
                    out += str(x)
                else:
                    raise _Fail(f"line {e.lineno}: f-string not understood")
            return out
        if isinstance(e, ast.List):
            return [self.expr(x, env) for x in e.elts]
        if isinstance(e, ast.Tuple):
            return tuple(self.expr(x, env) for x in e.elts)
        if isinstance(e, ast.Dict):
            out_d: Dict[Any, Any] = {}
            for k, v in zip(e.keys, e.values):
                if k is None:
                    raise _Fail(f"line {e.lineno}: ** in a dict")
                try:
                    out_d[self.expr(k, env)] = self.expr(v, env)
                except _Fail as exc:
                    out_d[self.expr(k, env)] = _Unknown(str(exc))
            return out_d
        if isinstance(e, ast.Subscript):
            d = self.expr(e.value, env)
            k = self.expr(e.slice, env)
            try:
                v = d[k]
            except (KeyError, IndexError, TypeError):
                raise _Fail(f"line {e.lineno}: lookup not understood") from None
            if isinstance(v, _Unknown):
                raise _Fail(v.why)
            return v
        if isinstance(e, ast.BinOp) and isinstance(e.op, ast.Add):
            a, b = self.expr(e.left, env), self.expr(e.right, env)
            if isinstance(a, list) and isinstance(b, list):
                return a + b
            if isinstance(a, str) and isinstance(b, str):
                return a + b
            raise _Fail(f"line {e.lineno}: + not understood")
        if isinstance(e, ast.Compare) and len(e.ops) == 1 and isinstance(e.ops[0], ast.In):
            return self.expr(e.left, env) in self.expr(e.comparators[0], env)
        if isinstance(e, ast.Call):
            f = e.func
            if isinstance(f, ast.Attribute) and not e.args and not e.keywords:
                obj = self.expr(f.value, env)
                if f.attr == "copy" and isinstance(obj, (list, dict)):
                    return obj.copy()
                if f.attr == "items" and isinstance(obj, dict):
                    return list(obj.items())
            if isinstance(f, ast.Name):
                if f.id in TRANSFORM_CLASSES:
                    return self.transform(f.id, e, env)
                return self.operation(f.id, e, env)
        raise _Fail(f"line {getattr(e, 'lineno', 0)}: expression not understood")

    def operation(self, name: str, call: ast.Call, env: Dict[str, Any]) -> Op:
        try:
            if any(isinstance(a, ast.Starred) for a in call.args) or any(k.arg is None for k in call.keywords):
                raise _Fail("* or ** in a call")
            args = tuple(self.expr(a, env) for a in call.args)
            kwargs = tuple((k.arg, self.expr(k.value, env)) for k in call.keywords if k.arg)
        except _Fail:
            return Op(name, readable=False)
        return Op(name, args, kwargs)

    def transform(self, name: str, call: ast.Call, env: Dict[str, Any]) -> Transform:
        args = [self.expr(a, env) for a in call.args]
        kw = {k.arg: self.expr(k.value, env) for k in call.keywords if k.arg}
        if name == "PrefixChange":
            return _prefix_change(args, kw)
        src = kw.get("source_patterns", args[0] if args else None)
        tgt = kw.get("target_patterns", args[1] if len(args) > 1 else None)
        kind = {"WeightRenaming": "rename", "WeightConverter": "convert"}.get(name, name)
        src_l = [src] if isinstance(src, str) else list(src) if isinstance(src, list) else []
        tgt_l = [tgt] if isinstance(tgt, str) else list(tgt) if isinstance(tgt, list) else []
        if kind == "rename" and (len(tgt_l) != 1 or not src_l or not all(isinstance(x, str) for x in src_l + tgt_l)):
            kind = "WeightRenaming(unusual)"
        ops = kw.get("operations", args[2] if len(args) > 2 else None)
        ops_l = list(ops) if kind == "convert" and isinstance(ops, list) and all(isinstance(o, Op) for o in ops) \
            else None
        return Transform(kind, [x for x in src_l if isinstance(x, str)], [x for x in tgt_l if isinstance(x, str)], ops_l)


def _prefix_change(args: List[Any], kw: Dict[str, Any]) -> Transform:
    """``PrefixChange(prefix_to_add=, prefix_to_remove=, model_prefix=)``: the WeightRenaming its ``__init__``
    builds (a rename like any other); anything else stays a transform that is not modelled."""
    names = ("prefix_to_add", "prefix_to_remove", "model_prefix")
    if len(args) > len(names) or any(k not in names for k in kw):
        return Transform("PrefixChange", [], [])
    vals = dict(zip(names, args))
    vals.update(kw)
    add, remove, model = vals.get("prefix_to_add"), vals.get("prefix_to_remove"), vals.get("model_prefix")
    if (add is None) == (remove is None) or not all(v is None or isinstance(v, str) for v in (add, remove, model)):
        return Transform("PrefixChange", [], [])  # transformers raises, or the arguments are not literal strings
    model = "" if model is None else model
    prefix = rf"{model}\." if model != "" else ""
    if add is not None:
        return Transform("rename", [rf"^{prefix}(?:(?!{add}\.))(.+)"], [rf"{prefix}{add}\.\1"])
    return Transform("rename", [rf"^{prefix}{remove}\.(.+)"], [rf"{prefix}\1"])
