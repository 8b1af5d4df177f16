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

import io
import json
import os
import pickletools
import re
import secrets
import shutil
import signal
import stat
import struct
import threading
import zipfile
from array import array
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, List, Optional, Tuple

from statedict_lint import safeio
from statedict_lint.checkpoint import keymap
from statedict_lint.errors import UserError
from statedict_lint.limits import (MAX_MAP_BYTES, MAX_MAP_PATTERNS, MAX_PICKLE_BYTES, MAX_REWRITE_OPCODES,
                                   read_regular_text)

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
            names_old = keymap.PLACEHOLDER.findall(old)
            names_new = keymap.PLACEHOLDER.findall(new)
            if len(set(names_old)) != len(names_old):
                raise UserError(f"rename map: placeholder repeated in {old!r}")
            if not set(names_new) <= set(names_old):
                raise UserError(f"rename map: {new!r} uses a placeholder that {old!r} does not define")
            if not prefix and not names_old:
                self.exact[old] = new
                continue
            regex = re.compile(keymap.pattern(old))
            self.patterns.append(_Entry(old, new, prefix, regex))
            if len(self.patterns) > MAX_MAP_PATTERNS:
                raise UserError(f"rename map: more than {MAX_MAP_PATTERNS:,} prefix or placeholder entries (limit; "
                                "each is tried against every key)")
        # longest (most specific) pattern first
        self.patterns.sort(key=lambda e: (-len(e.old), e.old))

    @classmethod
    def load(cls, path: str) -> "KeyMap":
        text = read_regular_text(path, MAX_MAP_BYTES, "map file")
        try:
            data = json.loads(text)
        except (ValueError, RecursionError) as exc:
            raise UserError(f"cannot read map {path}: {str(exc).splitlines()[0]}") from None
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
            new = keymap.PLACEHOLDER.sub(lambda p: m.group(p.group(1)), e.new)
            return new + key[m.end():] if e.prefix else new
        return key

    def apply_module(self, prefix: str) -> str:
        """Rename a module path as stored in ``_metadata`` (no trailing dot; ``""`` is the root)."""
        if not prefix:
            return prefix
        out = self.apply(prefix + ".")
        return out[:-1] if out.endswith(".") else out


RESERVED = "__metadata__"  # safetensors' header entry: a key of that name makes the file unloadable


def apply_all(keys: List[str], kmap: KeyMap) -> List[Tuple[str, str]]:
    """(old, new) for every key; raises UserError when two keys would end up with the same name."""
    pairs = [(k, kmap.apply(k)) for k in keys]
    seen: Dict[str, str] = {}
    for old, new in pairs:
        if new == RESERVED and old != new:
            raise UserError(f"map renames `{old}` to `{RESERVED}`, the name safetensors reserves for its metadata")
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
    renamed: List[Tuple[str, str]] = field(default_factory=list)  # state_dict keys only
    tensors: Dict[str, TensorStub] = field(default_factory=dict)  # new key -> stub (state_dict of the output)
    metadata: Optional[Dict[str, str]] = None  # safetensors __metadata__ (its tied-weight aliases)
    where: str = ""  # the state_dict's dotted path in a container ("" for the whole file)
    also: List[Tuple[str, int]] = field(default_factory=list)  # other state_dict-like dicts renamed: (path, count)


# --------------------------------------------------------------------------------------------- atomic write
def _check_paths(src: str, dst: str, force: bool) -> None:
    from statedict_lint.limits import check_regular

    check_regular(src, "checkpoint")
    try:
        st: Optional[os.stat_result] = os.lstat(dst)
    except FileNotFoundError:
        st = None
    except OSError as exc:
        raise UserError(f"cannot use {dst}: {exc.strerror or exc}") from None
    if st is not None:
        try:
            same = os.path.samefile(src, dst)
        except OSError:
            same = False
        if same:
            raise UserError(f"refusing to overwrite the input {src}: give another -o")
        # only a regular file is ever replaced: a FIFO, a device node (/dev/null), a directory or a symlink
        # (whose target may lie anywhere) is refused, --force or not
        if stat.S_ISLNK(st.st_mode):
            raise UserError(f"{dst} is a symlink: refusing to replace it (remove it or give another -o)")
        if stat.S_ISDIR(st.st_mode):
            raise UserError(f"{dst} is a directory")
        if not stat.S_ISREG(st.st_mode):
            raise UserError(f"{dst} is not a regular file: refusing to replace it")
        if not force:
            raise UserError(f"{dst} exists: pass --force to replace it")
    folder = os.path.dirname(os.path.abspath(dst))
    if not os.path.isdir(folder):
        raise UserError(f"output folder does not exist: {folder}")


Verify = Optional[Callable[["RewriteResult"], None]]
TEMP_TAG = ".sdl-migrate-"  # temp files: .<output name>.sdl-migrate-<pid>-<random>.tmp, in the output's folder


def _temp_prefix(dst: str) -> str:
    return "." + os.path.basename(dst) + TEMP_TAG


def remove_stale_temps(dst: str) -> List[str]:
    """Remove the temp files a killed migrate to ``dst`` left behind (SIGKILL cannot be caught): regular files
    of this user named ``.<name>.sdl-migrate-<pid>-*.tmp`` whose process is gone. Returns their paths."""
    folder = os.path.dirname(os.path.abspath(dst))
    prefix = _temp_prefix(dst)
    removed: List[str] = []
    try:
        names = os.listdir(folder)
    except OSError:
        return removed
    for name in names:
        if not (name.startswith(prefix) and name.endswith(".tmp")):
            continue
        pid_text = name[len(prefix):].split("-", 1)[0]
        if not pid_text.isdigit() or _alive(int(pid_text)):
            continue
        path = os.path.join(folder, name)
        try:
            st = os.lstat(path)
            if stat.S_ISREG(st.st_mode) and st.st_uid == os.getuid():
                os.unlink(path)
                removed.append(path)
        except OSError:
            pass
    return removed


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OSError, OverflowError):
        return True  # someone else's process: leave its file alone
    return True


class _Terminated(BaseException):
    """SIGTERM while the temp file is being written: unwinds through the cleanup, then exits 143."""


def _on_sigterm(signum: int, frame: Any) -> None:
    raise _Terminated()


def _atomic(dst: str, write: Callable[[Any], None], verify: Verify = None, result: Any = None) -> None:
    """Write through a temp file in dst's folder; ``verify(result)`` may raise to abandon the output.

    The same approach as ``safeio.atomic_writer`` (whose target check and umask it uses), plus what a
    multi-GB rewrite needs: the temp file (O_EXCL, a random name, so a planted file or symlink cannot be
    written through) is removed on any error and on SIGTERM, and is named after the output and this
    process so that the next run removes one a SIGKILL left behind. The result replaces ``dst`` with
    ``os.replace`` (never following a symlink)."""
    folder = os.path.dirname(os.path.abspath(dst))
    remove_stale_temps(dst)
    flags = os.O_RDWR | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_BINARY", 0)
    for _ in range(100):
        tmp = os.path.join(folder, f"{_temp_prefix(dst)}{os.getpid()}-{secrets.token_hex(8)}.tmp")
        try:
            fd = os.open(tmp, flags, 0o600)
            break
        except FileExistsError:
            continue
    else:  # pragma: no cover
        raise UserError(f"cannot create a temporary file in {folder}")
    main_thread = threading.current_thread() is threading.main_thread()
    old_handler = signal.signal(signal.SIGTERM, _on_sigterm) if main_thread else None
    try:
        with os.fdopen(fd, "w+b") as out:
            write(out)
            out.flush()
            os.fchmod(out.fileno(), 0o666 & ~safeio.umask())
            os.fsync(out.fileno())
        if verify is not None:
            verify(result)
        safeio.check_target(dst)  # re-checked: a link or a FIFO may have been planted there meanwhile
        os.replace(tmp, dst)
    except BaseException as exc:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        if isinstance(exc, _Terminated):
            raise SystemExit(128 + signal.SIGTERM) from None
        raise
    finally:
        if main_thread:
            signal.signal(signal.SIGTERM, old_handler if old_handler is not None else signal.SIG_DFL)


def detect_format(path: str) -> str:
    with open(path, "rb") as fh:
        head = fh.read(16)
    if head[:4] == b"PK\x03\x04":
        return "torch-zip"
    if len(head) >= 9 and head[8:9] == b"{":
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
def _validated_header(path: str) -> Tuple[Dict[str, Any], int]:
    """(header, data start) of a safetensors file through the readers' one header parser (its size cap) and
    validation (dtypes, shapes, offsets tiling the data): a file safetensors refuses is refused here too."""
    from statedict_lint.checkpoint.readers import read_safetensors_header, validate_safetensors

    header, n, size = read_safetensors_header(path)
    validate_safetensors(path, header, size - 8 - n)
    return header, 8 + n


def _rewrite_safetensors(src: str, dst: str, kmap: KeyMap, verify: Verify = None) -> RewriteResult:
    from statedict_lint.checkpoint.readers import SAFETENSORS_DTYPES

    header, data_start = _validated_header(src)
    keys = [k for k in header if k != RESERVED]
    pairs = apply_all(keys, kmap)
    new_header: Dict[str, Any] = {}
    if RESERVED in header:
        new_header[RESERVED] = header[RESERVED]
    result = RewriteResult("safetensors", metadata=header.get(RESERVED))
    meta = header.get(RESERVED)
    if isinstance(meta, dict):  # save_model's tied-weight aliases (removed name -> kept name) follow the keys
        renamed = dict(pairs)
        meta = {(kmap.apply(k) if k in renamed or v in renamed else k): (renamed.get(v, v) if v in renamed else v)
                for k, v in meta.items()}
        new_header[RESERVED] = meta
        result.metadata = meta
    for old, new in pairs:
        info = header[old]
        new_header[new] = info
        if old != new:
            result.renamed.append((old, new))
        result.tensors[new] = TensorStub(tuple(info["shape"]), SAFETENSORS_DTYPES[info["dtype"]])
    blob = json.dumps(new_header, separators=(",", ":")).encode("utf-8", "surrogatepass")
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
_STRING_CODES = {ord(op.code) for op in pickletools.opcodes if op.name in _STRING_OPS}
_FRAME_CODE = 0x95  # pickle.FRAME (protocol 4+)
_GET_OPS = {"GET", "BINGET", "LONG_BINGET"}
_PUT_OPS = {"PUT", "BINPUT", "LONG_BINPUT"}
_INPLACE = {"SETITEM", "SETITEMS", "APPEND", "APPENDS", "ADDITEMS", "BUILD"}
_STORAGE_DTYPES = {"FloatStorage": "float32", "DoubleStorage": "float64", "HalfStorage": "float16",
                   "BFloat16Storage": "bfloat16", "LongStorage": "int64", "IntStorage": "int32",
                   "ShortStorage": "int16", "CharStorage": "int8", "ByteStorage": "uint8", "BoolStorage": "bool",
                   "ComplexFloatStorage": "complex64", "ComplexDoubleStorage": "complex128"}


_NO_CHILDREN: List["_Item"] = []


class _Item:
    """One stack value as far as the rewriter cares: where it was pushed and what little we know of it."""

    __slots__ = ("src", "ident", "value", "kind", "children")

    def __init__(self, src: int, value: Any = None, kind: str = "", ident: Optional[object] = None,
                 children: Optional[List["_Item"]] = None) -> None:
        self.src = src  # opcode index that pushed it
        self.value = value  # str / int for literals, "module name" for globals
        self.kind = kind  # "str" | "int" | "global" | "tuple" | "dict" | "tensor" | "mark" | ""
        self.ident = ident if ident is not None else self
        self.children = children if children is not None else _NO_CHILDREN  # (read only: one shared empty)


@dataclass
class _DictUse:
    keys: List[Tuple[int, str]] = field(default_factory=list)  # (pushing opcode index, key string)
    values: List[_Item] = field(default_factory=list)
    is_metadata: bool = False


@dataclass
class _Walk:
    pos: "array[int]"  # byte offset of each opcode (compact: migrate of 60k tensors walks 2M opcodes)
    codes: bytearray  # each opcode's byte
    strings: Dict[int, str]  # opcode index -> text, for string literals whose value went into the memo
    dicts: Dict[int, _DictUse]
    memo_src: Dict[Any, int]  # memo key -> index of the string opcode whose value was stored there
    gets: Dict[int, Any]  # GET opcode index -> memo key
    root: Optional[_Item] = None  # what the pickle returns
    builds: Dict[int, _Item] = field(default_factory=dict)  # id(dict ident) -> its BUILD state (``_metadata``)

    def use(self, item: Optional[_Item]) -> Optional[_DictUse]:
        return self.dicts.get(id(item.ident)) if item is not None and item.kind == "dict" else None

    def child(self, use: Optional[_DictUse], key: str) -> Optional[_Item]:
        if use is None:
            return None
        found = None
        for (_src, k), v in zip(use.keys, use.values):
            if k == key:
                found = v  # a later SETITEM of the same key wins, as in the unpickled dict
        return found


def _walk(data: bytes, what: str = "data.pkl") -> _Walk:
    """Simulate the pickle stack symbolically: which string pushes end up as keys of which dicts."""
    from statedict_lint.checkpoint.unpickler import scan

    scan(io.BytesIO(data), len(data), what, max_ops=MAX_REWRITE_OPCODES)  # bounds before genops holds it all
    pos: "array[int]" = array("q")
    codes = bytearray()
    strings: Dict[int, str] = {}
    builds: Dict[int, _Item] = {}
    root: Optional[_Item] = None
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

    for i, (op, arg, at) in enumerate(pickletools.genops(data)):
        assert at is not None  # (genops reads bytes through BytesIO, which tells every position)
        pos.append(at)
        codes.append(ord(op.code))
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
            if stack[-1].kind == "str" and codes[stack[-1].src] in _STRING_CODES:
                memo_src[key] = stack[-1].src
                strings[stack[-1].src] = stack[-1].value
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
            if not stack:
                raise UserError("checkpoint pickle is malformed (SETITEM)")
            add_pairs(stack[-1], [k, v])
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
                state = pop()  # the appended value / BUILD state
                if name == "BUILD" and stack:
                    keep.append(stack[-1].ident)
                    builds[id(stack[-1].ident)] = state
        elif name == "FRAME" or name == "PROTO":
            pass
        elif name == "STOP":
            root = stack[-1] if stack else None
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
    return _Walk(pos, codes, strings, dicts, memo_src, gets, root, builds)


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


def rewrite_pickle(data: bytes, kmap: KeyMap, paths: Optional[List[List[str]]] = None,
                   what: str = "data.pkl") -> Tuple[bytes, RewriteResult]:
    """Re-emit a pickle with the keys of its state_dicts renamed: the dicts at ``paths`` (dict keys from the
    root; the first is the state_dict ``find_state_dict`` chose, the others state_dict-like copies such as an
    EMA; default: the root) and the module prefixes of their ``_metadata``. No other dict changes (an
    optimizer's state, a config keep their keys). FRAME opcodes are dropped (they are optional)."""
    walk = _walk(data, what)
    replace: Dict[int, str] = {}
    result = RewriteResult("torch-zip", where=".".join((paths or [[]])[0]))
    for n, path in enumerate(paths or [[]]):
        item = walk.root
        for k in path:
            item = walk.child(walk.use(item), k)
        sd = walk.use(item)
        if sd is None or item is None:
            where = ".".join(path) or "the pickle's root"
            raise UserError(f"{what}: cannot locate the state_dict ({where}) in the pickle's opcodes: nothing written")
        meta = walk.use(walk.child(walk.use(walk.builds.get(id(item.ident))), "_metadata"))
        news: Dict[str, str] = {}
        count = 0
        for (src, old), v in zip(sd.keys, sd.values):
            new = kmap.apply(old)
            if new in news and news[new] != old:
                prev = news[new]
                if old == new or prev == new:
                    raise UserError(f"map renames `{prev if old == new else old}` to `{new}`, which already exists")
                raise UserError(f"map renames both `{prev}` and `{old}` to `{new}`")
            if new == RESERVED and old != new:
                raise UserError(f"map renames `{old}` to `{RESERVED}`, the name safetensors reserves for its "
                                "metadata")
            first = new not in news  # a key set twice (SETITEM) is one key
            news[new] = old
            if old != new:
                replace[src] = new
                count += first
                if n == 0 and first:
                    result.renamed.append((old, new))
            if n == 0:
                result.tensors[new] = v.value if v.kind == "tensor" else TensorStub(None, None)
        if n and count:
            result.also.append((".".join(path), count))
        if meta is not None:
            for src, old in meta.keys:
                new = kmap.apply_module(old)
                if new != old:
                    replace[src] = new
    # A renamed string literal also changes what its memo slot holds: every other read of that slot that is
    # not itself a renamed key gets the old string back as a literal.
    renamed_memo = {key for key, src in walk.memo_src.items() if src in replace}
    for j, key in walk.gets.items():
        if key in renamed_memo and j not in replace:
            replace[j] = walk.strings[walk.memo_src[key]]
    out = bytearray()
    pos, codes = walk.pos, walk.codes
    n = len(pos)
    for i in range(n):
        if codes[i] == _FRAME_CODE:
            continue
        end = pos[i + 1] if i + 1 < n else pos[i] + 1  # STOP is the last opcode genops yields
        out += _emit_string(replace[i]) if i in replace else data[pos[i]:end]
    return bytes(out), result


# --------------------------------------------------------------------------------------------- torch zip
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
    from statedict_lint.checkpoint import readers
    from statedict_lint.checkpoint.container import _candidates, find_state_dict

    # the reader validates the whole file first (its limits, torch's own rules) and says where the
    # state_dict is: only that dict's keys are renamed
    ck = readers.read(src)
    found = find_state_dict(ck)
    paths = [found.path] + [p for p in _candidates(ck.root) if p != found.path]
    size = os.path.getsize(src)
    zin = readers.open_zip(src)
    with zin:
        infos = zin.infolist()
        pkl_name = readers.archive_name(src, infos) + "/data.pkl"
        data = readers.read_entry(src, zin, zin.getinfo(pkl_name), MAX_PICKLE_BYTES)
        for info in infos:
            readers._check_entry_range(src, info, size)
        try:
            new_pkl, result = rewrite_pickle(data, kmap, paths, f"{src}: {pkl_name}")
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
                            continue
                        try:
                            with zin.open(info) as source:
                                shutil.copyfileobj(source, dest, 1 << 20)
                        except Exception as exc:  # bad CRC, encrypted, unsupported compression, zlib errors
                            raise UserError(f"{src}: cannot read {info.filename} ({type(exc).__name__}: {exc}); "
                                            "nothing written") from None

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
