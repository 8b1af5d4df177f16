"""A restricted unpickler: admits only what a weights-only torch load needs and never runs a global's code.

Every admitted global is replaced by a stand-in written here: tensor rebuild functions return
``TensorRecord`` (dtype, shape, storage key, offset), storages are ``StorageRecord``, ``torch.Size`` is a
tuple, dtypes are ``DType``, and a few inert objects (``argparse.Namespace``, numpy scalars) become ``Inert``
records whose constructor is never called. Any other global raises ``UserError`` naming it.
"""

from __future__ import annotations

import _compat_pickle
import pickle
import sys
from collections import OrderedDict
from typing import Any, Dict, Optional, Tuple

from statedict_lint.checkpoint.records import (DTYPE_ALIASES, DTYPE_BYTES, STORAGE_DTYPES, DType, Inert,
                                               StorageRecord, TensorRecord)
from statedict_lint.errors import UserError


class StorageType:
    def __init__(self, dtype: str) -> None:
        self.dtype = dtype


class _TensorType:
    """Stand-in for the classes torch.Tensor / torch.nn.Parameter (only used as markers)."""

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
    return tuple(x)


def _tensor(storage: Any, offset: Any, size: Any, stride: Any, dtype: Optional[str] = None) -> TensorRecord:
    if not isinstance(storage, StorageRecord):
        raise TypeError("tensor without a storage")
    if not isinstance(offset, int) or offset < 0:
        raise TypeError("bad storage offset")
    shape = _ints(size, "size")
    strides = _ints(stride, "stride")
    if len(shape) != len(strides):
        raise TypeError("size and stride differ in length")
    dt = dtype or storage.dtype
    rec = TensorRecord(dtype=dt, shape=shape, storage=storage.key, offset=offset, stride=strides,
                       location=storage.location)
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
    return rec


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
    if not isinstance(new_type, _TensorType) or func not in _REBUILDERS or not isinstance(args, tuple):
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
    pass


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
    for name, dt in STORAGE_DTYPES.items():
        rc[("torch", name)] = StorageType(dt)
    rc[("torch.storage", "UntypedStorage")] = StorageType("uint8")
    rc[("torch.storage", "TypedStorage")] = StorageType("uint8")
    for dt in DTYPE_BYTES:
        rc[("torch", dt)] = DType(dt)
    for alias, dt in DTYPE_ALIASES.items():
        rc[("torch", alias)] = DType(dt)
    for layout in ("strided", "sparse_coo", "sparse_csr", "_mkldnn"):
        rc[("torch", layout)] = Inert(f"torch.{layout}")
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


def load(file: Any, what: str, legacy: bool = False) -> Tuple[Any, Dict[str, StorageRecord]]:
    """Unpickle ``file`` (a binary file object); any failure becomes a one-line UserError."""
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

