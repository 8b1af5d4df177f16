"""A restricted unpickler: admits only what a weights-only torch load needs and never runs a global's code.

Every admitted global is replaced by a stand-in written here: tensor rebuild functions return
``TensorRecord`` (dtype, shape, storage key, offset), storages are ``StorageRecord``, ``torch.Size`` is a
tuple, dtypes are ``DType``, and a few inert objects (``argparse.Namespace``, numpy scalars) become ``Inert``
records whose constructor is never called. Any other global raises ``UserError`` naming it.
"""

from __future__ import annotations

import _compat_pickle
import pickle
import pickletools
import struct
import sys
from collections import OrderedDict
from typing import Any, Dict, Optional, Tuple

from statedict_lint.checkpoint.records import DType, Inert, StorageRecord, TensorRecord
from statedict_lint.errors import UserError
from statedict_lint.limits import (MAX_PICKLE_BYTES, MAX_PICKLE_LITERAL, MAX_PICKLE_OBJECTS, MAX_PICKLE_OPCODES,
                                   MiB)
from statedict_lint.torchfacts import DTYPE_ALIASES, DTYPE_BYTES, STORAGE_DTYPES

MAX_DIM = 2 ** 63 - 1  # torch sizes, strides and offsets are int64


def _no_build(self: Any, state: Any) -> None:
    # Every admitted global is shared by all loads of the process: a pickle BUILD on one (which would update
    # its __dict__ or setattr its slots) must not change it for the next file.
    raise TypeError(f"pickle BUILD on {type(self).__name__}")


class StorageType:
    __slots__ = ("dtype",)
    __setstate__ = _no_build

    def __init__(self, dtype: str) -> None:
        self.dtype = dtype


class _Global:
    """An admitted function, wrapped so that a pickle BUILD cannot set attributes on it."""

    __slots__ = ("fn",)
    __setstate__ = _no_build

    def __init__(self, fn: Any) -> None:
        self.fn = fn

    def __call__(self, *args: Any) -> Any:
        return self.fn(*args)


class _Const(Inert):
    """A shared constant (torch.strided): never built."""

    __setstate__ = _no_build


class _TensorType:
    """Stand-in for the classes torch.Tensor / torch.nn.Parameter (only used as markers)."""

    __slots__ = ("name",)
    __setstate__ = _no_build

    def __init__(self, name: str) -> None:
        self.name = name

    def __call__(self, *args: Any) -> Any:  # Parameter(data, requires_grad) in old pickles
        if self.name.endswith("Parameter") and args and isinstance(args[0], TensorRecord):
            args[0].is_parameter = True
            return args[0]
        raise TypeError(f"{self.name} called with unexpected arguments")


def _ints(x: Any, what: str) -> Tuple[int, ...]:
    if not isinstance(x, (tuple, list)) or not all(isinstance(d, int) and not isinstance(d, bool) for d in x):
        raise TypeError(f"{what} is not a tuple of ints")
    if any(d < 0 for d in x):
        raise TypeError(f"negative {what}")
    if any(d > MAX_DIM for d in x):
        raise TypeError(f"{what} larger than torch's int64")
    return tuple(x)


def _tensor(storage: Any, offset: Any, size: Any, stride: Any, dtype: Optional[str] = None) -> TensorRecord:
    if not isinstance(storage, StorageRecord):
        raise TypeError("tensor without a storage")
    if not isinstance(offset, int) or isinstance(offset, bool) or not 0 <= offset <= MAX_DIM:
        raise TypeError("bad storage offset")
    shape = _ints(size, "size")
    strides = _ints(stride, "stride")
    if len(shape) != len(strides):
        raise TypeError("size and stride differ in length")
    dt = dtype or storage.dtype
    rec = _Tensor(dtype=dt, shape=shape, storage=storage.key, offset=offset, stride=strides,
                  location=storage.location)
    _check_extent(rec, storage)
    return rec


class _Tensor(TensorRecord):
    """A tensor read from a pickle. A BUILD opcode on it does what torch's weights-only unpickler does: for a
    tensor, ``tensor.set_(*state)`` (storage, offset, size, stride -- validated like a rebuild); for a
    parameter, ``Tensor.__setstate__`` (a 3-tuple of requires_grad, _, hooks changes no shape); anything
    else is refused, as torch refuses it."""

    def __setstate__(self, state: Any) -> None:
        if self.is_parameter and isinstance(state, tuple) and len(state) == 3:
            return
        if not isinstance(state, tuple) or len(state) != 4 or not isinstance(state[0], StorageRecord):
            raise TypeError("pickle BUILD on a tensor with a state torch's loader refuses")
        new = _tensor(state[0], state[1], state[2], state[3], self.dtype if state[0].dtype == "uint8" else None)
        if new.dtype != self.dtype:
            raise TypeError("pickle BUILD changes a tensor's dtype")
        self.shape, self.storage, self.offset, self.stride, self.location = (
            new.shape, new.storage, new.offset, new.stride, new.location)


def _check_extent(rec: TensorRecord, storage: StorageRecord) -> None:
    shape, strides, offset, dt = rec.shape, rec.stride or (), rec.offset, rec.dtype
    # the elements the view touches must lie inside its storage
    numel = rec.numel
    if numel:
        extent = offset + sum((s - 1) * st for s, st in zip(shape, strides)) + 1
        if storage.dtype == "uint8" and dt != "uint8":  # untyped storage counts bytes
            elem = DTYPE_BYTES.get(dt, 1)
            if extent * elem > storage.numel:
                raise TypeError(f"tensor of shape {list(shape)} exceeds its storage {storage.key}")
        elif extent > storage.numel:
            raise TypeError(f"tensor of shape {list(shape)} exceeds its storage {storage.key}")


def _rebuild_tensor(storage: Any, offset: Any, size: Any, stride: Any) -> TensorRecord:
    return _tensor(storage, offset, size, stride)


def _rebuild_tensor_v2(storage: Any, offset: Any, size: Any, stride: Any, requires_grad: Any = False,
                       hooks: Any = None, metadata: Any = None) -> TensorRecord:
    return _tensor(storage, offset, size, stride)


def _rebuild_tensor_v3(storage: Any, offset: Any, size: Any, stride: Any, requires_grad: Any, hooks: Any,
                       dtype: Any, metadata: Any = None) -> TensorRecord:
    if not isinstance(dtype, DType):
        raise TypeError("_rebuild_tensor_v3 without a dtype")
    return _tensor(storage, offset, size, stride, dtype.name)


def _rebuild_parameter(data: Any, requires_grad: Any = True, hooks: Any = None, state: Any = None) -> TensorRecord:
    if not isinstance(data, TensorRecord):
        raise TypeError("parameter without tensor data")
    data.is_parameter = True
    return data


def _rebuild_from_type_v2(func: Any, new_type: Any, args: Any, state: Any) -> Any:
    if not isinstance(new_type, _TensorType) or not isinstance(func, _Global) or func.fn not in _REBUILDERS \
            or not isinstance(args, tuple):
        raise TypeError("unsupported tensor subclass")
    out = func(*args)
    if isinstance(out, TensorRecord) and new_type.name.endswith("Parameter"):
        out.is_parameter = True
    return out


def _size(x: Any = ()) -> tuple:
    return _ints(x, "torch.Size")


def _device(*args: Any) -> str:
    if not args or not isinstance(args[0], str) or len(args) > 2:
        raise TypeError("bad torch.device")
    return args[0] if len(args) == 1 or args[1] is None else f"{args[0]}:{args[1]}"


def _codecs_encode(obj: Any, encoding: Any = "utf-8") -> bytes:
    if not isinstance(obj, str) or encoding not in ("latin1", "latin-1", "utf-8", "utf8"):
        raise TypeError("bad _codecs.encode")
    return obj.encode(encoding)


def _bytearray(x: Any = b"") -> bytearray:
    if not isinstance(x, (bytes, bytearray, list)):
        raise TypeError("bad bytearray")  # bytearray(10**12) would allocate
    return bytearray(x)


def _set(x: Any = ()) -> set:
    return set(_iterable(x))


def _frozenset(x: Any = ()) -> frozenset:
    return frozenset(_iterable(x))


def _iterable(x: Any) -> Any:
    if not isinstance(x, (list, tuple, set, frozenset)):
        raise TypeError("set of something other than a list")
    return x


def _slice(*args: Any) -> slice:
    if len(args) > 3 or not all(a is None or isinstance(a, int) for a in args):
        raise TypeError("bad slice")
    return slice(*args)


def _complex(*args: Any) -> complex:
    if len(args) > 2 or not all(isinstance(a, (int, float)) for a in args):
        raise TypeError("bad complex")
    return complex(*args)


def _get_layout(name: Any) -> str:
    if not isinstance(name, str):
        raise TypeError("bad layout")
    return name


class _InertType(type):
    __setstate__ = _no_build


def _inert_factory(name: str) -> Any:
    # pickle's NEWOBJ calls cls.__new__(cls, *args): give it a real class whose __new__ builds an Inert record
    def new(cls: Any, *args: Any, **kwargs: Any) -> Inert:
        return Inert(name, tuple(args))

    return _InertType(name.rsplit(".", 1)[-1], (), {"__new__": new})


_REBUILDERS = {_rebuild_tensor, _rebuild_tensor_v2, _rebuild_tensor_v3, _rebuild_parameter}

_INERT = ["argparse.Namespace", "numpy.core.multiarray.scalar", "numpy._core.multiarray.scalar", "numpy.dtype",
          "numpy.core.multiarray._reconstruct", "numpy._core.multiarray._reconstruct", "numpy.ndarray",
          "torch.serialization._get_layout"]


def _allowed() -> Dict[Tuple[str, str], Any]:
    rc: Dict[Tuple[str, str], Any] = {
        ("collections", "OrderedDict"): OrderedDict,
        ("torch._utils", "_rebuild_tensor"): _rebuild_tensor,
        ("torch._utils", "_rebuild_tensor_v2"): _rebuild_tensor_v2,
        ("torch._utils", "_rebuild_tensor_v3"): _rebuild_tensor_v3,
        ("torch._utils", "_rebuild_parameter"): _rebuild_parameter,
        ("torch._utils", "_rebuild_parameter_with_state"): _rebuild_parameter,
        ("torch._tensor", "_rebuild_from_type_v2"): _rebuild_from_type_v2,
        ("torch", "Size"): _size,
        ("torch", "device"): _device,
        ("torch", "Tensor"): _TensorType("torch.Tensor"),
        ("torch.nn.parameter", "Parameter"): _TensorType("torch.nn.parameter.Parameter"),
        ("torch.serialization", "_get_layout"): _get_layout,
        ("_codecs", "encode"): _codecs_encode,
        ("builtins", "set"): _set,
        ("builtins", "frozenset"): _frozenset,
        ("builtins", "slice"): _slice,
        ("builtins", "complex"): _complex,
        ("builtins", "bytearray"): _bytearray,
    }
    for k, v in list(rc.items()):
        if callable(v) and not isinstance(v, (type, _TensorType)):
            rc[k] = _Global(v)
    for name, dt in STORAGE_DTYPES.items():
        rc[("torch", name)] = StorageType(dt)
    rc[("torch.storage", "UntypedStorage")] = StorageType("uint8")
    rc[("torch.storage", "TypedStorage")] = StorageType("uint8")
    for dt in DTYPE_BYTES:
        rc[("torch", dt)] = DType(dt)
    for alias, dt in DTYPE_ALIASES.items():
        rc[("torch", alias)] = DType(dt)
    for layout in ("strided", "sparse_coo", "sparse_csr", "_mkldnn"):
        rc[("torch", layout)] = _Const(f"torch.{layout}")
    for name in _INERT:
        mod, _, attr = name.rpartition(".")
        if name == "torch.serialization._get_layout":
            continue
        rc[(mod, attr)] = _inert_factory(name)
    return rc


ALLOWED = _allowed()


class RestrictedUnpickler(pickle.Unpickler):
    """``persistent_load`` turns torch's storage ids into ``StorageRecord``; ``storages`` collects them."""

    def __init__(self, file: Any, legacy: bool = False) -> None:
        super().__init__(file, encoding="utf-8")
        self.storages: Dict[str, StorageRecord] = {}
        self.legacy = legacy

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) in _compat_pickle.NAME_MAPPING:
            module, name = _compat_pickle.NAME_MAPPING[(module, name)]
        elif module in _compat_pickle.IMPORT_MAPPING:
            module = _compat_pickle.IMPORT_MAPPING[module]
        found = ALLOWED.get((module, name))
        if found is None:
            raise UserError(f"refusing to unpickle global {module}.{name}: not part of a weights-only checkpoint "
                            "(statedict-lint never runs pickled code)")
        return found

    def persistent_load(self, pid: Any) -> Any:
        if not isinstance(pid, tuple) or not pid:
            raise UserError(f"unsupported persistent id in pickle: {type(pid).__name__}")
        typename = pid[0]
        if isinstance(typename, bytes):
            typename = typename.decode("ascii", "replace")
        if typename != "storage":
            raise UserError(f"unsupported persistent id {typename!r} in pickle (a pickled module, not a state_dict?)")
        if len(pid) < 5:
            raise UserError("malformed storage id in pickle")
        stype, key, location, numel = pid[1], pid[2], pid[3], pid[4]
        if not isinstance(stype, StorageType) or not isinstance(key, (str, int)) or not isinstance(numel, int) \
                or numel < 0:
            raise UserError("malformed storage id in pickle")
        key = str(key)
        view = pid[5] if len(pid) > 5 else None
        rec = self.storages.get(key)
        if rec is None:
            rec = StorageRecord(key=key, dtype=stype.dtype, location=str(location), numel=numel)
            self.storages[key] = rec
        if view is not None:  # legacy storage views: (view_key, offset, view_size)
            if not isinstance(view, tuple) or len(view) != 3 or not all(isinstance(v, (int, str)) for v in view):
                raise UserError("malformed storage view in pickle")
            view_key, off, vsize = str(view[0]), view[1], view[2]
            if not isinstance(off, int) or not isinstance(vsize, int) or off < 0 or vsize < 0 or off + vsize > numel:
                raise UserError("storage view outside its storage")
            return StorageRecord(key=view_key, dtype=stype.dtype, location=str(location), numel=vsize)
        return rec


# -- bounds, checked by walking the opcodes before the C unpickler builds anything -----------------------------
_NO_ALLOC = {"MARK", "BININT1", "NONE", "NEWTRUE", "NEWFALSE", "EMPTY_TUPLE", "GET", "BINGET", "LONG_BINGET",
             "DUP", "PUT", "BINPUT", "LONG_BINPUT", "MEMOIZE", "POP", "POP_MARK", "PROTO", "FRAME", "STOP",
             "APPEND", "APPENDS", "SETITEM", "SETITEMS", "ADDITEMS", "BUILD"}
_LENGTH = {-2: (1, "<B"), -3: (4, "<i"), -4: (4, "<I"), -5: (8, "<Q")}  # pickletools' TAKEN_FROM_ARGUMENT*
_PUTS = {"PUT", "BINPUT", "LONG_BINPUT"}
# opcode byte -> (name, argument size or pickletools' negative code, allocates, lines to read for text args)
_TABLE: Dict[int, Tuple[str, int, int, int]] = {
    ord(op.code): (op.name, op.arg.n if op.arg is not None else 0, int(op.name not in _NO_ALLOC),
                   2 if op.arg is not None and op.arg.name == "stringnl_noescape_pair" else 1)
    for op in pickletools.opcodes}


def scan(fh: Any, end: int, what: str, max_ops: int = MAX_PICKLE_OPCODES) -> None:
    """Walk one pickle's opcodes from ``fh``'s position to its STOP without building anything, enforcing the
    limits (bytes, opcodes, allocating opcodes, literal sizes, memo indices); then seek back. ``end`` is
    where the readable bytes end. Raises a one-line UserError."""
    try:
        _scan(fh, end, what, max_ops)
    except (EOFError, OSError, struct.error):
        raise UserError(f"{what}: truncated pickle") from None


def _scan(fh: Any, end: int, what: str, max_ops: int) -> None:
    start = fh.tell()
    read = fh.read
    ops = objs = 0
    while True:
        b = read(1)
        if not b:
            raise UserError(f"{what}: truncated pickle")
        entry = _TABLE.get(b[0])
        if entry is None:
            raise UserError(f"{what}: malformed pickle (unknown opcode {b!r})")
        name, n, alloc, lines = entry
        ops += 1
        objs += alloc
        if n > 0:
            arg = read(n)
            if len(arg) < n:
                raise UserError(f"{what}: truncated pickle")
            if name == "FRAME" and int.from_bytes(arg, "little") > end - fh.tell():
                raise UserError(f"{what}: truncated pickle (a frame longer than the data)")
            if name in ("BINPUT", "LONG_BINPUT") and int.from_bytes(arg, "little") > ops + 1024:
                # the C unpickler grows its memo array to the index (LONG_BINPUT 2**31 would be 16 GB)
                raise UserError(f"{what}: malformed pickle (memo index {int.from_bytes(arg, 'little')})")
        elif n == -1:  # text argument up to a newline (two for GLOBAL / INST)
            for _ in range(lines):
                line = fh.readline(MAX_PICKLE_LITERAL + 1)
                if not line.endswith(b"\n"):
                    raise UserError(f"{what}: " + ("truncated pickle" if len(line) <= MAX_PICKLE_LITERAL
                                                   else f"pickle literal over {MAX_PICKLE_LITERAL // MiB} MiB"))
            if name in _PUTS and (not line.strip().isdigit() or len(line) > 12 or int(line) > ops + 1024):
                raise UserError(f"{what}: malformed pickle (memo index {line[:12]!r})")
        elif n < 0:
            size, fmt = _LENGTH[n]
            raw = read(size)
            if len(raw) < size:
                raise UserError(f"{what}: truncated pickle")
            (length,) = struct.unpack(fmt, raw)
            if length < 0:
                raise UserError(f"{what}: malformed pickle (negative length)")
            if length > MAX_PICKLE_LITERAL:
                raise UserError(f"{what}: a {name} literal of {length} bytes in the pickle (limit "
                                f"{MAX_PICKLE_LITERAL // MiB} MiB; the reader never needs tensor data)")
            if fh.tell() + length > end:
                raise UserError(f"{what}: truncated pickle")
            fh.seek(length, 1)
        if name == "STOP":
            break
        if ops > max_ops or objs > MAX_PICKLE_OBJECTS:
            raise UserError(f"{what}: pickle of more than {max_ops:,} opcodes or "
                            f"{MAX_PICKLE_OBJECTS:,} objects (limits; a state_dict needs ~32 and ~8 a tensor)")
        if not ops & 0xFFF and fh.tell() - start > MAX_PICKLE_BYTES:
            raise UserError(f"{what}: pickle larger than {MAX_PICKLE_BYTES // MiB} MiB (limit)")
    if fh.tell() > end:
        raise UserError(f"{what}: truncated pickle")
    if fh.tell() - start > MAX_PICKLE_BYTES:
        raise UserError(f"{what}: pickle larger than {MAX_PICKLE_BYTES // MiB} MiB (limit)")
    fh.seek(start)


def load(file: Any, what: str, legacy: bool = False, end: Optional[int] = None) -> Tuple[Any, Dict[str, StorageRecord]]:
    """Unpickle ``file`` (a binary file object, positioned at the pickle; ``end``: where its bytes end, for
    the bounds scan); any failure becomes a one-line UserError."""
    if end is not None:
        scan(file, end, what)
    up = RestrictedUnpickler(file, legacy=legacy)
    # A pickle lying about a length makes the C unpickler allocate and fail (MemoryError); CPython then prints
    # "SystemError: deallocated bytearray object has exported buffers" from the buffer's deallocation (through
    # sys.excepthook), a second line on stderr. The failure itself becomes our one-line error, so such
    # reports are dropped while loading.
    hook = sys.excepthook
    sys.excepthook = lambda *_exc: None
    try:
        obj = up.load()
        storages = up.storages
    except UserError:
        raise
    except RecursionError:
        raise UserError(f"{what}: pickle nested too deeply") from None
    except MemoryError:
        raise UserError(f"{what}: pickle too large") from None
    except EOFError:
        raise UserError(f"{what}: truncated pickle") from None
    except Exception as exc:  # malformed pickles raise anything: UnpicklingError, TypeError, ValueError, ...
        msg = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise UserError(f"{what}: malformed pickle ({msg})") from None
    finally:
        del up  # release the unpickler's buffers while the quiet hook is still installed
        sys.excepthook = hook
    return obj, storages

