"""Rename state_dict keys inside checkpoint files without touching tensor data.

* safetensors: rewrite the JSON header (keys only; ``data_offsets`` are relative to the data section and
  stay valid), pad it to a multiple of 8 bytes like the reference writer, copy the data bytes verbatim.
* torch zip files (``torch.save`` since 1.6): rewrite ``<archive>/data.pkl`` by walking the pickle opcode
  stream (``pickletools.genops``) and re-emitting it with renamed *dict-key* strings; nothing is ever
  unpickled. Every other entry (``data/N`` storages, ``byteorder``, ``version``, ...) is copied
  byte-for-byte under the same archive folder name, and each entry's data is placed at a 64-byte aligned
  offset (torch's ``PyTorchStreamWriter`` does the same, so ``torch.load(mmap=True)`` keeps working).

A map (``{"old.key": "new.key", "old.prefix.": "new.prefix."}``) is applied per key: an exact entry wins,
else the longest matching prefix entry (keys ending in ``.``). Entries may hold ``{name}`` placeholders
that match one decimal path segment each (``"h.{i}.attn.": "h.{i}.self_attn."``). Module prefixes in
torch's ``_metadata`` (``"h.0.attn"``) are renamed with the prefix entries so per-module versions follow.

The output is written to a temporary file in the output's folder and moved into place with
``os.replace``; the input is never opened for writing.
"""

from __future__ import annotations

import json
import os
import pickletools
import re
import shutil
import struct
import tempfile
import zipfile
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, List, Optional, Tuple

from statedict_lint.errors import UserError

_PLACEHOLDER = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")
ALIGNMENT = 64


# --------------------------------------------------------------------------------------------- key maps
@dataclass
class _Entry:
    old: str
    new: str
    prefix: bool
    regex: "re.Pattern[str]"


class KeyMap:
    """A validated rename map; ``apply(key)`` gives the new key (or the key unchanged)."""

    def __init__(self, mapping: Dict[str, str]) -> None:
        self.mapping = dict(mapping)
        self.exact: Dict[str, str] = {}
        self.patterns: List[_Entry] = []
        for old, new in mapping.items():
            if not isinstance(old, str) or not isinstance(new, str) or not old:
                raise UserError(f"rename map: entries must be non-empty strings (got {old!r}: {new!r})")
            prefix = old.endswith(".")
            if prefix != new.endswith(".") and new != "":
                raise UserError(f"rename map: {old!r} -> {new!r}: a prefix (ending in '.') must map to a prefix")
            names_old = _PLACEHOLDER.findall(old)
            names_new = _PLACEHOLDER.findall(new)
            if len(set(names_old)) != len(names_old):
                raise UserError(f"rename map: placeholder repeated in {old!r}")
            if not set(names_new) <= set(names_old):
                raise UserError(f"rename map: {new!r} uses a placeholder that {old!r} does not define")
            if not prefix and not names_old:
                self.exact[old] = new
                continue
            pattern = ""
            pos = 0
            for m in _PLACEHOLDER.finditer(old):
                pattern += re.escape(old[pos:m.start()]) + f"(?P<{m.group(1)}>[0-9]+)"
                pos = m.end()
            pattern += re.escape(old[pos:])
            regex = re.compile("^" + pattern + ("" if prefix else "$"))
            self.patterns.append(_Entry(old, new, prefix, regex))
        # longest (most specific) pattern first
        self.patterns.sort(key=lambda e: (-len(e.old), e.old))

    @classmethod
    def load(cls, path: str) -> "KeyMap":
        try:
            with open(path, encoding="utf-8") as fh:
                data = json.load(fh)
        except FileNotFoundError:
            raise UserError(f"no such map file: {path}") from None
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise UserError(f"cannot read map {path}: {exc}") from None
        if not isinstance(data, dict):
            raise UserError(f"map {path} must hold a JSON object of old -> new keys")
        return cls(data)

    def apply(self, key: str) -> str:
        if key in self.exact:
            return self.exact[key]
        for e in self.patterns:
            m = e.regex.match(key)
            if m is None:
                continue
            new = _PLACEHOLDER.sub(lambda p: m.group(p.group(1)), e.new)
            return new + key[m.end():] if e.prefix else new
        return key

    def apply_module(self, prefix: str) -> str:
        """Rename a module path as stored in ``_metadata`` (no trailing dot; ``""`` is the root)."""
        if not prefix:
            return prefix
        out = self.apply(prefix + ".")
        return out[:-1] if out.endswith(".") else out


def apply_all(keys: List[str], kmap: KeyMap) -> List[Tuple[str, str]]:
    """(old, new) for every key; raises UserError when two keys would end up with the same name."""
    pairs = [(k, kmap.apply(k)) for k in keys]
    seen: Dict[str, str] = {}
    for old, new in pairs:
        if new in seen:
            other = seen[new]
            if other == new or old == new:
                raise UserError(f"map renames `{other if old == new else old}` to `{new}`, which already exists")
            raise UserError(f"map renames both `{other}` and `{old}` to `{new}`")
        seen[new] = old
    return pairs


# --------------------------------------------------------------------------------------------- results
@dataclass
class TensorStub:
    shape: Optional[Tuple[int, ...]]
    dtype: Optional[str]


@dataclass
class RewriteResult:
    format: str  # "safetensors" | "torch-zip"
    renamed: List[Tuple[str, str]] = field(default_factory=list)
    tensors: Dict[str, TensorStub] = field(default_factory=dict)  # new key -> stub (state_dict of the output)


# --------------------------------------------------------------------------------------------- atomic write
def _check_paths(src: str, dst: str, force: bool) -> None:
    if not os.path.isfile(src):
        raise UserError(f"no such checkpoint: {src}")
    if os.path.exists(dst):
        try:
            same = os.path.samefile(src, dst)
        except OSError:
            same = False
        if same:
            raise UserError(f"refusing to overwrite the input {src}: give another -o")
        if not force:
            raise UserError(f"{dst} exists: pass --force to replace it")
        if os.path.isdir(dst):
            raise UserError(f"{dst} is a directory")
    folder = os.path.dirname(os.path.abspath(dst))
    if not os.path.isdir(folder):
        raise UserError(f"output folder does not exist: {folder}")


Verify = Optional[Callable[["RewriteResult"], None]]


def _atomic(dst: str, write: Callable[[Any], None], verify: Verify = None, result: Any = None) -> None:
    """Write through a temp file in dst's folder; ``verify(result)`` may raise to abandon the output."""
    folder = os.path.dirname(os.path.abspath(dst))
    fd, tmp = tempfile.mkstemp(prefix=".sdl-migrate-", suffix=".tmp", dir=folder)
    try:
        with os.fdopen(fd, "w+b") as out:
            write(out)
            out.flush()
            os.fsync(out.fileno())
        if verify is not None:
            verify(result)
        os.replace(tmp, dst)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


def detect_format(path: str) -> str:
    with open(path, "rb") as fh:
        head = fh.read(16)
    if head[:4] == b"PK\x03\x04":
        return "torch-zip"
    if len(head) >= 9:
        (n,) = struct.unpack("<Q", head[:8])
        if 2 <= n <= 100_000_000 and head[8:9] == b"{":
            return "safetensors"
    if head[:2] == b"\x80\x02" or head[:1] == b"\x80":
        raise UserError(f"{path}: legacy (pre-1.6, non-zip) torch file: re-save it with a current torch first")
    raise UserError(f"{path}: not a safetensors or torch zip checkpoint")


def rewrite(src: str, dst: str, kmap: KeyMap, force: bool = False, verify: Verify = None) -> RewriteResult:
    """Write ``src`` with keys renamed by ``kmap`` to ``dst`` (atomically). Never modifies ``src``.

    ``verify`` is called with the result after the new file is complete but before it replaces ``dst``;
    when it raises, nothing is written."""
    _check_paths(src, dst, force)
    fmt = detect_format(src)
    if fmt == "safetensors":
        return _rewrite_safetensors(src, dst, kmap, verify)
    return _rewrite_torch_zip(src, dst, kmap, verify)


# --------------------------------------------------------------------------------------------- safetensors
_ST_DTYPES = {"F64": "float64", "F32": "float32", "F16": "float16", "BF16": "bfloat16", "I64": "int64",
              "I32": "int32", "I16": "int16", "I8": "int8", "U8": "uint8", "BOOL": "bool", "U16": "uint16",
              "U32": "uint32", "U64": "uint64", "F8_E4M3": "float8_e4m3fn", "F8_E5M2": "float8_e5m2",
              "C64": "complex64"}


def read_safetensors_header(path: str) -> Tuple[Dict[str, Any], int]:
    with open(path, "rb") as fh:
        raw = fh.read(8)
        if len(raw) != 8:
            raise UserError(f"{path}: truncated safetensors file")
        (n,) = struct.unpack("<Q", raw)
        size = os.fstat(fh.fileno()).st_size
        if n > size - 8:
            raise UserError(f"{path}: safetensors header length {n} exceeds the file")
        try:
            header = json.loads(fh.read(n).decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise UserError(f"{path}: bad safetensors header: {exc}") from None
    if not isinstance(header, dict):
        raise UserError(f"{path}: bad safetensors header (not an object)")
    return header, 8 + n


def _rewrite_safetensors(src: str, dst: str, kmap: KeyMap, verify: Verify = None) -> RewriteResult:
    header, data_start = read_safetensors_header(src)
    keys = [k for k in header if k != "__metadata__"]
    pairs = apply_all(keys, kmap)
    new_header: Dict[str, Any] = {}
    if "__metadata__" in header:
        new_header["__metadata__"] = header["__metadata__"]
    result = RewriteResult("safetensors")
    for old, new in pairs:
        info = header[old]
        new_header[new] = info
        if old != new:
            result.renamed.append((old, new))
        shape = info.get("shape") if isinstance(info, dict) else None
        result.tensors[new] = TensorStub(tuple(shape) if isinstance(shape, list) else None,
                                         _ST_DTYPES.get(info.get("dtype")) if isinstance(info, dict) else None)
    blob = json.dumps(new_header, separators=(",", ":")).encode("utf-8")
    blob += b" " * (-len(blob) % 8)

    def write(out: Any) -> None:
        out.write(struct.pack("<Q", len(blob)))
        out.write(blob)
        with open(src, "rb") as fh:
            fh.seek(data_start)
            shutil.copyfileobj(fh, out, 1 << 20)

    _atomic(dst, write, verify, result)
    return result


# --------------------------------------------------------------------------------------------- pickle walk
_STRING_OPS = {"UNICODE", "BINUNICODE", "SHORT_BINUNICODE", "BINUNICODE8"}
_GET_OPS = {"GET", "BINGET", "LONG_BINGET"}
_PUT_OPS = {"PUT", "BINPUT", "LONG_BINPUT"}
_INPLACE = {"SETITEM", "SETITEMS", "APPEND", "APPENDS", "ADDITEMS", "BUILD"}
_STORAGE_DTYPES = {"FloatStorage": "float32", "DoubleStorage": "float64", "HalfStorage": "float16",
                   "BFloat16Storage": "bfloat16", "LongStorage": "int64", "IntStorage": "int32",
                   "ShortStorage": "int16", "CharStorage": "int8", "ByteStorage": "uint8", "BoolStorage": "bool",
                   "ComplexFloatStorage": "complex64", "ComplexDoubleStorage": "complex128"}


class _Item:
    """One stack value as far as the rewriter cares: where it was pushed and what little we know of it."""

    __slots__ = ("src", "ident", "value", "kind", "children")

    def __init__(self, src: int, value: Any = None, kind: str = "", ident: Optional[object] = None,
                 children: Optional[List["_Item"]] = None) -> None:
        self.src = src  # opcode index that pushed it
        self.value = value  # str / int for literals, "module name" for globals
        self.kind = kind  # "str" | "int" | "global" | "tuple" | "dict" | "tensor" | "mark" | ""
        self.ident = ident if ident is not None else self
        self.children = children or []


@dataclass
class _DictUse:
    keys: List[Tuple[int, str]] = field(default_factory=list)  # (pushing opcode index, key string)
    values: List[_Item] = field(default_factory=list)
    is_metadata: bool = False


@dataclass
class _Walk:
    ops: List[Tuple[Any, Any, int]]
    dicts: Dict[int, _DictUse]
    memo_src: Dict[Any, int]  # memo key -> index of the string opcode whose value was stored there
    gets: Dict[int, Any]  # GET opcode index -> memo key


def _walk(data: bytes) -> _Walk:
    """Simulate the pickle stack symbolically: which string pushes end up as keys of which dicts."""
    ops = list(pickletools.genops(data))
    stack: List[_Item] = []
    memo: Dict[Any, _Item] = {}
    dicts: Dict[int, _DictUse] = {}
    memo_src: Dict[Any, int] = {}
    gets: Dict[int, Any] = {}

    keep: List[object] = []  # keep dict identities alive so their id() stays unique

    def dict_use(item: _Item) -> _DictUse:
        if id(item.ident) not in dicts:
            keep.append(item.ident)
            dicts[id(item.ident)] = _DictUse()
        return dicts[id(item.ident)]

    def pop_mark() -> List[_Item]:
        out: List[_Item] = []
        while stack:
            it = stack.pop()
            if it.kind == "mark":
                out.reverse()
                return out
            out.append(it)
        raise UserError("checkpoint pickle is malformed (MARK missing)")

    def pop() -> _Item:
        if not stack:
            raise UserError("checkpoint pickle is malformed (stack underflow)")
        return stack.pop()

    def add_pairs(target: _Item, items: List[_Item]) -> None:
        use = dict_use(target)
        for k, v in zip(items[0::2], items[1::2]):
            if k.kind == "str":
                use.keys.append((k.src, k.value))
                use.values.append(v)
                if k.value == "_metadata" and v.kind == "dict":
                    dict_use(v).is_metadata = True

    for i, (op, arg, _pos) in enumerate(ops):
        name = op.name
        if name in _STRING_OPS:
            stack.append(_Item(i, arg, "str"))
        elif name in ("BININT", "BININT1", "BININT2", "INT", "LONG", "LONG1", "LONG4"):
            stack.append(_Item(i, arg if isinstance(arg, int) else None, "int"))
        elif name == "MARK":
            stack.append(_Item(i, None, "mark"))
        elif name in _GET_OPS:
            if arg not in memo:
                raise UserError("checkpoint pickle is malformed (memo key missing)")
            m = memo[arg]
            gets[i] = arg
            stack.append(_Item(i, m.value, m.kind, m.ident, m.children))
        elif name in _PUT_OPS or name == "MEMOIZE":
            if not stack:
                raise UserError("checkpoint pickle is malformed (PUT on empty stack)")
            key = arg if name != "MEMOIZE" else len(memo)
            memo[key] = stack[-1]
            if stack[-1].kind == "str" and ops[stack[-1].src][0].name in _STRING_OPS:
                memo_src[key] = stack[-1].src
            else:
                memo_src.pop(key, None)
        elif name in ("GLOBAL", "INST"):
            if name == "INST":
                pop_mark()
            stack.append(_Item(i, str(arg).replace(" ", "."), "global"))
        elif name == "STACK_GLOBAL":
            n2, n1 = pop(), pop()
            stack.append(_Item(i, f"{n1.value}.{n2.value}", "global"))
        elif name in ("EMPTY_DICT",):
            stack.append(_Item(i, None, "dict"))
        elif name == "DICT":
            items = pop_mark()
            d = _Item(i, None, "dict")
            add_pairs(d, items)
            stack.append(d)
        elif name == "SETITEM":
            v, k = pop(), pop()
            d = stack[-1] if stack else None
            if d is None:
                raise UserError("checkpoint pickle is malformed (SETITEM)")
            add_pairs(d, [k, v])
        elif name == "SETITEMS":
            items = pop_mark()
            if not stack:
                raise UserError("checkpoint pickle is malformed (SETITEMS)")
            add_pairs(stack[-1], items)
        elif name in ("TUPLE", "LIST", "FROZENSET"):
            items = pop_mark()
            stack.append(_Item(i, None, "tuple", children=items))
        elif name in ("TUPLE1", "TUPLE2", "TUPLE3"):
            n = int(name[-1])
            items = [pop() for _ in range(n)][::-1]
            stack.append(_Item(i, None, "tuple", children=items))
        elif name == "EMPTY_TUPLE":
            stack.append(_Item(i, None, "tuple"))
        elif name in ("REDUCE", "NEWOBJ"):
            args, fn = pop(), pop()
            stack.append(_reduce(i, fn, args))
        elif name in ("BINPERSID", "PERSID"):
            pid = pop() if name == "BINPERSID" else _Item(i)
            stack.append(_Item(i, None, "storage", children=pid.children))
        elif name in _INPLACE:
            if name in ("APPENDS", "ADDITEMS"):
                pop_mark()
            else:
                pop()  # the appended value / BUILD state
        elif name == "FRAME" or name == "PROTO":
            pass
        elif name == "STOP":
            break
        else:  # generic stack effect from pickletools' metadata
            before = list(op.stack_before)
            if pickletools.markobject in before:
                pop_mark()
                before = before[: before.index(pickletools.markobject)]
            for _ in before:
                pop()
            for _ in op.stack_after:
                stack.append(_Item(i))
    return _Walk(ops, dicts, memo_src, gets)


def _reduce(i: int, fn: _Item, args: _Item) -> _Item:
    name = fn.value if fn.kind == "global" else ""
    if name == "collections.OrderedDict":
        return _Item(i, None, "dict")
    if name.startswith("torch._utils._rebuild_tensor") and args.children:
        storage = args.children[0]
        shape = None
        if len(args.children) > 2 and args.children[2].kind == "tuple":
            dims = [c.value for c in args.children[2].children]
            if all(isinstance(d, int) for d in dims):
                shape = tuple(dims)
        dtype = None
        if storage.kind == "storage" and len(storage.children) > 1 and storage.children[1].kind == "global":
            dtype = _STORAGE_DTYPES.get(str(storage.children[1].value).rsplit(".", 1)[-1])
        return _Item(i, TensorStub(shape, dtype), "tensor")
    if name == "torch._utils._rebuild_parameter" and args.children and args.children[0].kind == "tensor":
        return _Item(i, args.children[0].value, "tensor")
    return _Item(i)


def _emit_string(s: str) -> bytes:
    b = s.encode("utf-8", "surrogatepass")
    return b"X" + struct.pack("<I", len(b)) + b


def rewrite_pickle(data: bytes, kmap: KeyMap) -> Tuple[bytes, RewriteResult]:
    """Re-emit a pickle with renamed dict-key strings. FRAME opcodes are dropped (they are optional)."""
    walk = _walk(data)
    ops, dicts = walk.ops, walk.dicts
    replace: Dict[int, str] = {}
    result = RewriteResult("torch-zip")
    best: Optional[_DictUse] = None
    for use in dicts.values():
        rename = kmap.apply_module if use.is_metadata else kmap.apply
        pairs = [(src, old, rename(old)) for src, old in use.keys]
        news: Dict[str, str] = {}
        for _src, old, new in pairs:
            if new in news and not use.is_metadata:
                prev = news[new]
                if old == new or prev == new:
                    raise UserError(f"map renames `{prev if old == new else old}` to `{new}`, which already exists")
                raise UserError(f"map renames both `{prev}` and `{old}` to `{new}`")
            news[new] = old
        tensors = sum(1 for v in use.values if v.kind == "tensor")
        for src, old, new in pairs:
            if old != new:
                replace[src] = new
                if not use.is_metadata and tensors:
                    result.renamed.append((old, new))
        if tensors and (best is None or tensors > sum(1 for v in best.values if v.kind == "tensor")):
            best = use
    if best is not None:
        for (_src, old), v in zip(best.keys, best.values):
            key = kmap.apply(old)
            result.tensors[key] = v.value if v.kind == "tensor" else TensorStub(None, None)
    # A renamed string literal also changes what its memo slot holds: every other read of that slot that is
    # not itself a renamed key gets the old string back as a literal.
    renamed_memo = {key for key, src in walk.memo_src.items() if src in replace}
    for j, key in walk.gets.items():
        if key in renamed_memo and j not in replace:
            replace[j] = ops[walk.memo_src[key]][1]
    out = bytearray()
    bounds = [pos for _op, _arg, pos in ops] + [ops[-1][2] + 1]  # STOP is the last opcode genops yields
    for i, (op, _arg, pos) in enumerate(ops):
        if op.name == "FRAME":
            continue
        out += _emit_string(replace[i]) if i in replace else data[pos:bounds[i + 1]]
    return bytes(out), result


# --------------------------------------------------------------------------------------------- torch zip
def _archive_pickle(names: List[str]) -> str:
    cands = [n for n in names if n.endswith("/data.pkl") and n.count("/") == 1]
    if len(cands) != 1:
        raise UserError("not a torch zip checkpoint (no single <archive>/data.pkl entry)")
    return cands[0]


def _aligned_info(src: zipfile.ZipInfo, offset: int, size: int) -> Tuple[zipfile.ZipInfo, bool]:
    """A stored ZipInfo whose data will start at a multiple of ALIGNMENT when its header is at ``offset``."""
    zi = zipfile.ZipInfo(src.filename, date_time=src.date_time)
    zi.compress_type = zipfile.ZIP_STORED
    zi.external_attr = src.external_attr
    zi.create_system = src.create_system
    zi.file_size = size
    name_len = len(zi.filename.encode("utf-8"))  # zipfile writes ascii names as ascii, others as utf-8
    zip64 = size * 1.05 > zipfile.ZIP64_LIMIT
    base = offset + 30 + name_len + (20 if zip64 else 0)
    pad = -(base + 4) % ALIGNMENT  # the extra field itself carries a 4-byte header
    zi.extra = b"FB" + struct.pack("<H", pad) + b"Z" * pad  # torch's own padding record id
    return zi, zip64


def _rewrite_torch_zip(src: str, dst: str, kmap: KeyMap, verify: Verify = None) -> RewriteResult:
    try:
        zin = zipfile.ZipFile(src)
    except zipfile.BadZipFile as exc:
        raise UserError(f"{src}: not a readable zip file: {exc}") from None
    with zin:
        infos = zin.infolist()
        pkl_name = _archive_pickle([i.filename for i in infos])
        try:
            data = zin.read(pkl_name)
        except (zipfile.BadZipFile, OSError) as exc:
            raise UserError(f"{src}: cannot read {pkl_name}: {exc}") from None
        try:
            new_pkl, result = rewrite_pickle(data, kmap)
        except UserError:
            raise
        except Exception as exc:  # malformed pickle streams raise ValueError and friends from genops
            raise UserError(f"{src}: cannot walk {pkl_name}: {exc}") from None

        def write(out: Any) -> None:
            with zipfile.ZipFile(out, "w", zipfile.ZIP_STORED, allowZip64=True) as zout:
                for info in infos:
                    size = len(new_pkl) if info.filename == pkl_name else info.file_size
                    zi, zip64 = _aligned_info(info, out.tell(), size)
                    with zout.open(zi, "w", force_zip64=zip64) as dest:
                        if info.filename == pkl_name:
                            dest.write(new_pkl)
                        else:
                            with zin.open(info) as source:
                                shutil.copyfileobj(source, dest, 1 << 20)

        _atomic(dst, write, verify, result)
    return result


def record_offsets(path: str) -> Dict[str, int]:
    """Absolute file offset of each zip entry's data (for alignment checks)."""
    out: Dict[str, int] = {}
    with zipfile.ZipFile(path) as z, open(path, "rb") as fh:
        for info in z.infolist():
            fh.seek(info.header_offset)
            head = fh.read(30)
            n, m = struct.unpack("<HH", head[26:30])
            out[info.filename] = info.header_offset + 30 + n + m
    return out
