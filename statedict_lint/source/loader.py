"""Parse source files with libcst (cached by content hash in the table the caller passes: the predictor's
``Session``); locating modules is in ``locate``.

Line numbers: libcst's PositionProvider re-generates the whole file; instead each file is also parsed
with ``ast`` (about a tenth of libcst's cost) and statements and calls are matched to their libcst
twins by source order. When the two trees disagree the file falls back to PositionProvider.
"""

from __future__ import annotations

import ast
import dataclasses
import os
import stat
from typing import Any, Dict, List, Optional, Tuple, Union

import libcst as cst

from statedict_lint.errors import UserError
from statedict_lint.limits import MAX_SOURCE_BYTES, MiB
from statedict_lint.source import locate
from statedict_lint.source.locate import Locator, module_name_of, package_root  # noqa: F401 (re-exported)

# libcst's native parser recurses without a bound (100k nested parentheses: a segfault; 100k chained
# attributes: minutes): source goes to libcst only after Python's own parser -- which refuses more than
# 200 nested brackets and expressions deeper than its recursion limit -- has accepted it, or, when Python
# reports another syntax error (libcst may know newer syntax), after this bracket-depth bound
MAX_BRACKET_DEPTH = 200

_STMT_TYPES = (
    cst.BaseSmallStatement, cst.If, cst.For, cst.While, cst.Try, cst.TryStar, cst.With, cst.FunctionDef, cst.ClassDef,
)


class SourceFile:
    """A parsed file: the libcst tree and a node -> line map for statements and calls."""

    def __init__(self, path: str, text: str, module: cst.Module, lines: Dict[int, int]) -> None:
        self.path = path
        self.text = text
        self.module = module
        self._lines = lines  # id(node) -> 1-based line
        self._code: Dict[int, Tuple[cst.CSTNode, str]] = {}

    def line(self, node: cst.CSTNode) -> int:
        return self._lines.get(id(node), 0)

    def code(self, node: cst.CSTNode) -> str:
        hit = self._code.get(id(node))
        if hit is None or hit[0] is not node:
            hit = (node, self.module.code_for_node(node))
            self._code[id(node)] = hit
        return hit[1]


# Fields to descend into, per node type, in source order. libcst's ``children`` property gives source
# order too but runs a visitor per node (~10x slower); dataclass field order equals source order except
# for the few types listed in _ORDER.
_ORDER = {
    "FunctionDef": ("decorators", "params", "returns", "body"),
    "ClassDef": ("decorators", "bases", "keywords", "body"),
    "IfExp": ("body", "test", "orelse"),
    "ExceptHandler": ("type", "name", "body"),
    "ExceptStarHandler": ("type", "name", "body"),
}
_SKIP_PREFIXES = ("whitespace", "lpar", "rpar", "comma", "leading_lines", "lines_after", "header", "footer",
                  "semicolon", "operator", "newline", "equal", "colon", "dot", "star", "trailing", "lbracket",
                  "rbracket", "lbrace", "rbrace", "prefix", "asynchronous", "relative", "indent", "quote",
                  "conversion", "value_string")
_FIELDS: Dict[type, Tuple[str, ...]] = {}


def _fields(t: type) -> Tuple[str, ...]:
    """(a node class's fields but the ClassVar ``__slots__`` and the ones typed ``str``: they hold no node)"""
    f = _FIELDS.get(t)
    if f is None:
        f = _ORDER.get(t.__name__) or tuple(
            d.name for d in (dataclasses.fields(t) if dataclasses.is_dataclass(t) else ())
            if not d.name.startswith(_SKIP_PREFIXES) and d.type is not str)
        _FIELDS[t] = f
    return f


def iter_children(node: cst.CSTNode) -> List[cst.CSTNode]:
    """The child nodes that can hold statements or expressions, in source order (fast ``children``)."""
    kids: List[cst.CSTNode] = []
    for name in _fields(type(node)):
        v = getattr(node, name, None)
        if isinstance(v, cst.CSTNode):
            kids.append(v)
        elif isinstance(v, (list, tuple)):
            kids.extend(x for x in v if isinstance(x, cst.CSTNode))
    return kids


_KIND: Dict[type, int] = {}  # node type -> 1 statement, 2 call, 0 other, -1 not a CSTNode


def _kind(t: type) -> int:
    """``isinstance`` against libcst's abstract base classes is slow (ABC checks); types are few. Decided by the
    MRO: ``issubclass`` of a type that is not a node against ``cst.CSTNode`` visits every node class (ABC
    negative checks); libcst registers no virtual subclasses, so the MRO says the same."""
    k = _KIND.get(t)
    if k is None:
        mro = getattr(t, "__mro__", ())
        if cst.CSTNode not in mro:
            k = -1
        elif any(s in mro for s in _STMT_TYPES):
            k = 1
        elif cst.Call in mro:
            k = 2
        else:
            k = 0
        _KIND[t] = k
    return k


_WALK: Dict[type, int] = {}  # type -> _SKIP, 1 statement, 2 call, _DESCEND (another node that may hold them)
_SKIP, _DESCEND = -1, 3


def _walk_kind(t: type) -> int:
    k = _kind(t)
    if k == 0:
        k = _DESCEND if _fields(t) else _SKIP  # (Name, Integer, SimpleString ...: leaves, never pushed)
    _WALK[t] = k
    return k


def _cst_nodes(root: cst.CSTNode, stmts: List[cst.CSTNode], calls: List[cst.Call]) -> None:
    """Statements and calls under ``root``, in source order (one pass; leaves are never visited)."""
    stack: List[cst.CSTNode] = [root]
    walk = _WALK
    while stack:
        node = stack.pop()
        t = type(node)
        k = walk.get(t) or _walk_kind(t)
        if k == 1:
            stmts.append(node)
        elif k == 2:
            # (kind 2: a cst.Call, by the _KIND table -- isinstance against libcst's classes is slow here)
            calls.append(node)  # type: ignore[arg-type]
        kids: List[cst.CSTNode] = []
        for name in _fields(t):
            v = getattr(node, name, None)
            if v is None:
                continue
            tv = type(v)
            if tv is list or tv is tuple or (isinstance(v, (list, tuple)) and _kind(tv) < 0):
                for x in v:
                    if (walk.get(type(x)) or _walk_kind(type(x))) > 0:
                        kids.append(x)
            elif (walk.get(tv) or _walk_kind(tv)) > 0:
                kids.append(v)
        stack.extend(reversed(kids))


def _call_name_cst(node: cst.Call) -> str:
    f = node.func
    if isinstance(f, cst.Attribute):
        return f.attr.value
    if isinstance(f, cst.Name):
        return f.value
    return ""


def _call_name_ast(node: ast.Call) -> str:
    f = node.func
    if isinstance(f, ast.Attribute):
        return f.attr
    if isinstance(f, ast.Name):
        return f.id
    return ""


_AST_LEAVES = frozenset({ast.Load, ast.Store, ast.Del})


def _ast_nodes(tree: ast.AST) -> Tuple[List[ast.stmt], List[ast.Call]]:
    stmts: List[ast.stmt] = []
    calls: List[ast.Call] = []
    stack = [tree]
    is_node, stmt, call, skip = ast.AST, ast.stmt, ast.Call, _AST_LEAVES
    while stack:  # (ast.walk, without its generators and without the Load/Store/Del markers of every name)
        node = stack.pop()
        if isinstance(node, stmt):
            stmts.append(node)
        elif isinstance(node, call):
            calls.append(node)
        for name in node._fields:
            v = getattr(node, name, None)
            if type(v) is list:
                stack.extend(x for x in v if isinstance(x, is_node))
            elif isinstance(v, is_node) and type(v) not in skip:
                stack.append(v)

    def key(n: Union[ast.stmt, ast.expr]) -> Tuple[int, int, int, int]:
        return (n.lineno, n.col_offset, -(n.end_lineno or 0), -(n.end_col_offset or 0))

    stmts.sort(key=key)
    calls.sort(key=key)
    return stmts, calls


def _line_map(module: cst.Module, text: str, tree: Optional[ast.Module]) -> Dict[int, int]:
    cst_stmts: List[cst.CSTNode] = []
    cst_calls: List[cst.Call] = []
    _cst_nodes(module, cst_stmts, cst_calls)
    if tree is not None:
        a_stmts, a_calls = _ast_nodes(tree)
        if len(a_stmts) == len(cst_stmts) and len(a_calls) == len(cst_calls) and all(
                _call_name_cst(c) == _call_name_ast(a) for c, a in zip(cst_calls, a_calls)) and all(
                type(c).__name__ == type(a).__name__ or not isinstance(c, cst.BaseSmallStatement)
                for c, a in zip(cst_stmts, a_stmts) if type(c).__name__ in ("Assign", "Return", "Expr", "Pass")):
            out = {id(c): a.lineno for c, a in zip(cst_stmts, a_stmts)}
            out.update({id(c): a.lineno for c, a in zip(cst_calls, a_calls)})
            return out
    from libcst.metadata import MetadataWrapper, PositionProvider  # slow path

    wrapper = MetadataWrapper(module, unsafe_skip_copy=True)
    positions = wrapper.resolve(PositionProvider)
    return {id(n): positions[n].start.line for n in cst_stmts + cst_calls if n in positions}


def parse_text(text: str, path: str, lines: bool = True, cache: Any = None) -> SourceFile:
    """Parse ``text``; ``lines=False`` skips the line map (for code whose lines are never reported). ``cache``:
    a table (``get``, item assignment) of parsed files by path and content, bounded by its owner (the key holds
    the text, which the SourceFile keeps anyway: no hashing)."""
    digest = (path, text)
    hit = cache.get(digest) if cache is not None else None
    if hit is not None:
        return hit
    tree = check_source(text, path)
    try:
        module = cst.parse_module(text)
    except cst.ParserSyntaxError as exc:
        raise UserError(f"{path}:{exc.raw_line}: syntax error: {exc.message}") from None
    except (RecursionError, MemoryError):
        raise UserError(f"{path}: file too deeply nested to parse") from None
    sf = SourceFile(path, text, module, _line_map(module, text, tree) if lines else {})
    if cache is not None:
        cache[digest] = sf
    return sf


def check_source(text: str, path: str) -> Optional[ast.Module]:
    """Bounds before a parser sees ``text``: its size (MAX_SOURCE_BYTES) and its nesting. Returns Python's
    ``ast`` of it (None when Python reports a syntax error that is not about nesting); raises a one-line
    UserError for a file too large or too deeply nested."""
    if len(text) > MAX_SOURCE_BYTES:
        raise UserError(f"{path}: {len(text):,} characters of source: larger than the {MAX_SOURCE_BYTES // MiB} MiB "
                        "limit for one file, not parsed")
    try:
        return ast.parse(text)
    except SyntaxError as exc:
        if "too many nested" in str(exc.msg) or bracket_depth(text) > MAX_BRACKET_DEPTH:
            raise UserError(f"{path}:{exc.lineno or 1}: nested too deeply to parse (over {MAX_BRACKET_DEPTH} "
                            "brackets)") from None
        return None
    except ValueError:  # null bytes
        return None
    except (RecursionError, MemoryError):
        raise UserError(f"{path}: an expression nested too deeply to parse (Python's own parser refuses it)") \
            from None


def bracket_depth(text: str) -> int:
    """The deepest nesting of ``( [ {`` outside strings and comments (approximate on exotic strings: only used
    to bound what reaches libcst)."""
    depth = deepest = 0
    i, n = 0, len(text)
    opens, closes = "([{", ")]}"
    while i < n:
        c = text[i]
        if c in opens:
            depth += 1
            if depth > deepest:
                deepest = depth
        elif c in closes:
            depth = max(depth - 1, 0)
        elif c == "#":
            j = text.find("\n", i)
            i = n if j < 0 else j
        elif c in "'\"":
            q = text[i:i + 3] if text[i:i + 3] in ("\"\"\"", "\'\'\'") else c
            j = i + len(q)
            while j < n:
                if text[j] == "\\":
                    j += 2
                    continue
                if text.startswith(q, j) or (len(q) == 1 and text[j] == "\n"):
                    break
                j += 1
            i = j + len(q) - 1
        i += 1
    return deepest


def parse_file(path: str, lines: bool = True, cache: Any = None) -> SourceFile:
    try:
        mode = os.stat(path).st_mode
    except OSError:
        mode = None
    if mode is not None and not stat.S_ISREG(mode) and not stat.S_ISDIR(mode):
        raise UserError(f"{path} is not a regular file")  # a FIFO would block, /dev/zero never ends
    try:
        with open(path, "rb") as fh:
            raw = fh.read(MAX_SOURCE_BYTES + 1)
    except FileNotFoundError:
        raise UserError(f"no such file: {path}") from None
    except IsADirectoryError:
        raise UserError(f"{path} is a directory, expected a .py file") from None
    except OSError as exc:
        raise UserError(f"cannot read {path}: {exc.strerror}") from None
    if len(raw) > MAX_SOURCE_BYTES:
        raise UserError(f"{path}: larger than the {MAX_SOURCE_BYTES // MiB} MiB limit for one source file, not parsed")
    if locate.LOGS:  # a cache is recording what this run reads: the bytes as parsed, not as re-read later
        locate.note_file(os.path.abspath(path), raw)
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise UserError(f"{path}: not UTF-8 text") from None
    return parse_text(text, path, lines, cache=cache)
