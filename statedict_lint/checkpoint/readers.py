"""Header-only checkpoint readers (stdlib only): torch zip, legacy torch, safetensors, sharded index, directory.

No reader reads tensor data: the torch readers read the pickles and check that every storage's bytes lie
inside the file; the safetensors reader reads the JSON header and validates the offsets.
"""

from __future__ import annotations

import io
import json
import os
import struct
import zipfile
from collections import OrderedDict
from typing import Any, Dict, List, Optional, Tuple

from statedict_lint.checkpoint.records import DTYPE_BYTES, Checkpoint, StorageRecord, TensorRecord
from statedict_lint.checkpoint.unpickler import load as unpickle
from statedict_lint.errors import UserError

MAX_PICKLE = 512 * 1024 * 1024  # a state_dict pickle of 100k tensors is a few MB
MAX_SAFETENSORS_HEADER = 100 * 1024 * 1024  # safetensors' own limit
MAX_INDEX = 64 * 1024 * 1024
LEGACY_MAGIC = 0x1950A86A20F9469CFC6C
LEGACY_PROTOCOL = 1001

SAFETENSORS_DTYPES = {
    "F64": "float64", "F32": "float32", "F16": "float16", "BF16": "bfloat16", "I64": "int64", "I32": "int32",
    "I16": "int16", "I8": "int8", "U8": "uint8", "BOOL": "bool", "U16": "uint16", "U32": "uint32",
    "U64": "uint64", "F8_E4M3": "float8_e4m3fn", "F8_E5M2": "float8_e5m2", "C64": "complex64",
    "C128": "complex128", "F8_E8M0": "float8_e8m0fnu",
}


def read(path: str) -> Checkpoint:
    """Read the header of the checkpoint at ``path`` (a file, an ``*.index.json`` or a directory)."""
    try:
        return _read(path)
    except UserError:
        raise
    except (OSError, ValueError, EOFError, NotImplementedError, struct.error, zipfile.BadZipFile, KeyError,
            IndexError, TypeError, OverflowError, MemoryError, RecursionError) as exc:
        # malformed input we did not anticipate more precisely: still one line, never a traceback
        msg = str(exc).splitlines()[0] if str(exc) else ""
        raise UserError(f"{path}: cannot read checkpoint ({type(exc).__name__}{': ' + msg if msg else ''})") \
            from None


def _read(path: str) -> Checkpoint:
    if os.path.isdir(path):
        return read(_pick_in_directory(path))
    if not os.path.exists(path):
        raise UserError(f"no such file: {path}")
    if path.endswith(".json"):
        return _read_index(path)
    try:
        with open(path, "rb") as fh:
            head = fh.read(16)
    except OSError as exc:
        raise UserError(f"cannot read {path}: {exc.strerror or exc}") from None
    if head[:4] == b"PK\x03\x04" or head[:4] == b"PK\x05\x06":
        return _read_torch_zip(path)
    if len(head) >= 9 and head[8:9] == b"{":  # before the pickle check: a header length may start with 0x80
        return _read_safetensors_ckpt(path)
    if head[:1] == b"\x80":
        return _read_torch_legacy(path)
    if len(head) < 9:
        raise UserError(f"{path}: too short to be a checkpoint ({len(head)} bytes)")
    raise UserError(f"{path}: not a checkpoint (no torch zip, legacy torch or safetensors magic)")


# -- directories -------------------------------------------------------------------------------------
_DIR_CANDIDATES = ["model.safetensors.index.json", "model.safetensors", "pytorch_model.bin.index.json",
                   "pytorch_model.bin", "diffusion_pytorch_model.safetensors", "diffusion_pytorch_model.bin"]


def _pick_in_directory(path: str) -> str:
    for name in _DIR_CANDIDATES:
        p = os.path.join(path, name)
        if os.path.isfile(p):
            return p
    try:
        names = sorted(os.listdir(path))
    except OSError as exc:
        raise UserError(f"cannot list {path}: {exc.strerror or exc}") from None
    for exts in ((".index.json",), (".safetensors",), (".pt", ".pth", ".bin", ".ckpt")):
        found = [n for n in names if n.endswith(exts) and os.path.isfile(os.path.join(path, n))]
        if len(found) == 1:
            return os.path.join(path, found[0])
        if len(found) > 1:
            raise UserError(f"{path} holds several checkpoints ({', '.join(found[:4])}): name one")
    raise UserError(f"{path}: no checkpoint file in this directory")


# -- torch zip -----------------------------------------------------------------------------------------
def _read_torch_zip(path: str) -> Checkpoint:
    size = os.path.getsize(path)
    try:
        zf = zipfile.ZipFile(path)
    except Exception as exc:  # BadZipFile, NotImplementedError (zip version), struct.error, OSError, ...
        raise UserError(f"{path}: broken zip archive ({type(exc).__name__}: {exc})") from None
    with zf:
        infos = {zi.filename: zi for zi in zf.infolist()}
        pkls = [n for n in infos if n.endswith("/data.pkl") and n.count("/") == 1]
        if not pkls:
            if "data.pkl" in infos:
                pkls = ["data.pkl"]
            else:
                raise UserError(f"{path}: zip archive without data.pkl (not a torch checkpoint)")
        if len(pkls) > 1:
            raise UserError(f"{path}: zip archive with several data.pkl records")
        pkl = pkls[0]
        prefix = pkl[: -len("data.pkl")]
        zi = infos[pkl]
        if zi.file_size > MAX_PICKLE:
            raise UserError(f"{path}: data.pkl claims {zi.file_size} bytes (limit {MAX_PICKLE})")
        _check_entry_range(path, zi, size)
        try:
            with zf.open(zi) as fh:
                data = fh.read(MAX_PICKLE + 1)
        except (zipfile.BadZipFile, OSError, EOFError, ValueError, NotImplementedError, struct.error,
                RuntimeError) as exc:  # zlib errors, CRC mismatch, encrypted entries
            raise UserError(f"{path}: cannot read {pkl} ({exc})") from None
        except Exception as exc:  # zlib.error and friends
            raise UserError(f"{path}: cannot read {pkl} ({type(exc).__name__}: {exc})") from None
        if len(data) != zi.file_size:
            raise UserError(f"{path}: {pkl} holds {len(data)} bytes, its zip entry says {zi.file_size}")
        root, storages = unpickle(io.BytesIO(data), f"{path}: {pkl}")
        for key, st in storages.items():
            name = f"{prefix}data/{key}"
            entry = infos.get(name)
            if entry is None:
                raise UserError(f"{path}: storage {key} has no record {name}")
            need = st.numel * (1 if st.dtype == "uint8" else DTYPE_BYTES.get(st.dtype, 1))
            if entry.file_size < need:
                raise UserError(f"{path}: record {name} holds {entry.file_size} bytes, its tensors need {need}")
            _check_entry_range(path, entry, size)
    _attach(root, lambda rec: f"{prefix}data/{rec.storage}")
    return Checkpoint(path=path, format="torch-zip", root=root, files=[path], size=size)


def _check_entry_range(path: str, zi: zipfile.ZipInfo, size: int) -> None:
    end = zi.header_offset + 30 + len(zi.filename.encode("utf-8")) + zi.compress_size
    if zi.header_offset < 0 or end > size:
        raise UserError(f"{path}: zip entry {zi.filename} claims bytes past the end of the file "
                        f"({end} > {size}): truncated or corrupt")


def _attach(root: Any, file_of: Any) -> None:
    seen: set = set()
    stack = [root]
    while stack:
        obj = stack.pop()
        if id(obj) in seen:
            continue
        seen.add(id(obj))
        if isinstance(obj, TensorRecord):
            obj.file = file_of(obj)
        elif isinstance(obj, dict):
            stack.extend(obj.values())
        elif isinstance(obj, (list, tuple)):
            stack.extend(obj)


# -- legacy torch --------------------------------------------------------------------------------------
class _Bounded:
    """A file wrapper that refuses reads past the end (so a lying length prefix cannot allocate gigabytes)."""

    def __init__(self, fh: Any, size: int) -> None:
        self.fh = fh
        self.size = size

    def read(self, n: int = -1) -> bytes:
        remaining = self.size - self.fh.tell()
        if n is None or n < 0:
            n = remaining
        if n > remaining:
            raise EOFError("read past the end of the file")
        return self.fh.read(n)

    def readinto(self, b: Any) -> int:
        if len(b) > self.size - self.fh.tell():
            raise EOFError("read past the end of the file")
        return self.fh.readinto(b)

    def readline(self, limit: int = -1) -> bytes:
        return self.fh.readline(1 << 20 if limit is None or limit < 0 else limit)

    def peek(self, n: int = 0) -> bytes:
        return self.fh.peek(n)


def _read_torch_legacy(path: str) -> Checkpoint:
    size = os.path.getsize(path)
    what = f"{path}: legacy torch file"
    with open(path, "rb", buffering=1 << 16) as raw:
        fh = _Bounded(raw, size)
        magic, _ = unpickle(fh, what)
        if magic != LEGACY_MAGIC:
            raise UserError(f"{path}: a pickle, but not a torch checkpoint (wrong magic number)")
        protocol, _ = unpickle(fh, what)
        if protocol != LEGACY_PROTOCOL:
            raise UserError(f"{path}: unsupported legacy torch protocol {protocol!r}")
        sys_info, _ = unpickle(fh, what)
        if not isinstance(sys_info, dict):
            raise UserError(f"{what}: malformed system info")
        little = sys_info.get("little_endian", True)
        root, storages = unpickle(fh, what, legacy=True)
        keys, _ = unpickle(fh, what)
        if not isinstance(keys, list) or not all(isinstance(k, (str, int)) for k in keys):
            raise UserError(f"{what}: malformed storage key list")
        keys = [str(k) for k in keys]
        missing = set(storages) - set(keys)
        roots = {k: st for k, st in storages.items() if k in keys}
        if missing - set(_view_keys(storages, keys)):
            raise UserError(f"{what}: storages {sorted(missing)[:3]} are not in the file")
        # walk the storage records: an 8-byte element count, then the data (seeked over, never read)
        pos = raw.tell()
        fmt = "<q" if little else ">q"
        for key in keys:
            if pos + 8 > size:
                raise UserError(f"{what}: truncated (storage {key} starts past the end)")
            raw.seek(pos)
            (numel,) = struct.unpack(fmt, raw.read(8))
            st = roots.get(key)
            elem = DTYPE_BYTES.get(st.dtype, 1) if st is not None else 1
            if numel < 0 or (st is not None and numel < st.numel):
                raise UserError(f"{what}: storage {key} is smaller than its tensors")
            pos += 8 + numel * elem
            if pos > size:
                raise UserError(f"{what}: truncated (storage {key} ends at byte {pos}, file has {size})")
    _attach(root, lambda rec: f"storage {rec.storage}")
    return Checkpoint(path=path, format="torch-legacy", root=root, files=[path], size=size)


def _view_keys(storages: Dict[str, StorageRecord], keys: List[str]) -> List[str]:
    # views are recorded under their own key but stored inside a root storage
    return [k for k in storages if k not in keys]


# -- safetensors ---------------------------------------------------------------------------------------
def _read_safetensors(path: str, shard: str = "") -> Tuple[Dict[str, TensorRecord], Optional[Dict[str, str]], int]:
    size = os.path.getsize(path)
    with open(path, "rb") as fh:
        head = fh.read(8)
        if len(head) < 8:
            raise UserError(f"{path}: truncated safetensors file")
        (n,) = struct.unpack("<Q", head)
        if n > MAX_SAFETENSORS_HEADER:
            raise UserError(f"{path}: safetensors header of {n} bytes exceeds the {MAX_SAFETENSORS_HEADER} limit")
        if 8 + n > size:
            raise UserError(f"{path}: safetensors header claims {n} bytes, file has {size - 8}")
        raw = fh.read(n)
    try:
        header = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise UserError(f"{path}: safetensors header is not JSON ({str(exc).splitlines()[0]})") from None
    if not isinstance(header, dict):
        raise UserError(f"{path}: safetensors header is not a JSON object")
    meta = header.pop("__metadata__", None)
    if meta is not None and not (isinstance(meta, dict) and all(isinstance(v, str) for v in meta.values())):
        raise UserError(f"{path}: safetensors __metadata__ must map strings to strings")
    buf = size - 8 - n
    tensors: "OrderedDict[str, TensorRecord]" = OrderedDict()
    spans = []
    for key, info in header.items():
        if not isinstance(info, dict):
            raise UserError(f"{path}: safetensors entry {key!r} is not an object")
        dt, shape, offs = info.get("dtype"), info.get("shape"), info.get("data_offsets")
        if dt not in SAFETENSORS_DTYPES:
            raise UserError(f"{path}: tensor {key!r} has unknown dtype {dt!r}")
        if not isinstance(shape, list) or not all(isinstance(d, int) and not isinstance(d, bool) and d >= 0
                                                  for d in shape):
            raise UserError(f"{path}: tensor {key!r} has a malformed shape")
        if not (isinstance(offs, list) and len(offs) == 2 and all(isinstance(o, int) and not isinstance(o, bool)
                                                                    for o in offs)):
            raise UserError(f"{path}: tensor {key!r} has malformed data_offsets")
        begin, end = offs
        if not 0 <= begin <= end <= buf:
            raise UserError(f"{path}: tensor {key!r} data_offsets [{begin}, {end}] outside the data ({buf} bytes)")
        rec = TensorRecord(dtype=SAFETENSORS_DTYPES[dt], shape=tuple(shape), file=shard or path,
                           byte_range=(begin, end))
        if rec.nbytes != end - begin:
            raise UserError(f"{path}: tensor {key!r} spans {end - begin} bytes, {dt}{shape} needs {rec.nbytes}")
        spans.append((begin, end, key))
        tensors[key] = rec
    spans.sort()
    for (b0, e0, k0), (b1, e1, k1) in zip(spans, spans[1:]):
        if b1 < e0:
            raise UserError(f"{path}: tensors {k0!r} and {k1!r} overlap in the data")
    return tensors, meta, size


def _read_safetensors_ckpt(path: str) -> Checkpoint:
    tensors, meta, size = _read_safetensors(path)
    return Checkpoint(path=path, format="safetensors", root=tensors, files=[path], metadata=meta, size=size)


# -- sharded index -------------------------------------------------------------------------------------
def _read_index(path: str) -> Checkpoint:
    try:
        if os.path.getsize(path) > MAX_INDEX:
            raise UserError(f"{path}: index file larger than {MAX_INDEX} bytes")
        with open(path, "rb") as fh:
            index = json.loads(fh.read().decode("utf-8"))
    except UserError:
        raise
    except (OSError, UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise UserError(f"{path}: cannot read index ({str(exc).splitlines()[0]})") from None
    wm = index.get("weight_map") if isinstance(index, dict) else None
    if not isinstance(wm, dict) or not all(isinstance(v, str) for v in wm.values()):
        raise UserError(f"{path}: not a sharded checkpoint index (no weight_map of key -> shard file)")
    base = os.path.dirname(path)
    shards: List[str] = []
    for f in wm.values():
        if f not in shards:
            shards.append(f)
    merged: "OrderedDict[str, Any]" = OrderedDict()
    metadata: Dict[str, str] = {}
    total = 0
    fmt = ""
    for shard in shards:
        if os.path.isabs(shard) or ".." in shard.replace("\\", "/").split("/"):
            raise UserError(f"{path}: shard name {shard!r} points outside the index's directory")
        sp = os.path.join(base, shard)
        if not os.path.isfile(sp):
            raise UserError(f"{path}: shard {shard} is missing")
        ck = read(sp)
        fmt = fmt or ck.format
        total += ck.size
        if ck.metadata:
            metadata.update(ck.metadata)
        sd = ck.root
        if not isinstance(sd, dict):
            raise UserError(f"{sp}: shard does not hold a dict of tensors")
        for k, v in sd.items():
            if isinstance(v, TensorRecord):
                v.file = shard if not v.file or v.file == sp else f"{shard}:{v.file}"
            if k in merged:
                raise UserError(f"{path}: key {k!r} is in more than one shard")
            merged[k] = v
    for k, shard in wm.items():
        if k not in merged:
            raise UserError(f"{path}: key {k!r} is mapped to {shard} but that shard does not hold it")
    extra = [k for k in merged if k not in wm]
    if extra:
        raise UserError(f"{path}: shards hold keys the index does not list ({extra[0]!r} ...)")
    return Checkpoint(path=path, format=f"sharded {fmt}", root=merged, files=[os.path.join(base, s) for s in shards],
                      metadata=metadata or None, size=total)
