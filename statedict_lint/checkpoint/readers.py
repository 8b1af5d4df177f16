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

from statedict_lint.checkpoint.records import Checkpoint, TensorRecord
from statedict_lint.checkpoint.unpickler import MAX_DIM
from statedict_lint.checkpoint.unpickler import load as unpickle
from statedict_lint.errors import UserError
from statedict_lint.limits import (MAX_INDEX_BYTES, MAX_INDEX_SHARDS, MAX_PICKLE_BYTES, MAX_SAFETENSORS_HEADER,
                                   MAX_ZIP_ENTRIES, MiB, check_regular, read_regular)
from statedict_lint.torchfacts import DTYPE_BYTES

MAX_PICKLE = MAX_PICKLE_BYTES
MAX_INDEX = MAX_INDEX_BYTES
LEGACY_MAGIC = 0x1950A86A20F9469CFC6C
LEGACY_PROTOCOL = 1001
# torch's PyTorchStreamReader reads archives of format versions 1..10 (torch 2.13: "the maximum supported
# version for reading is 10")
ZIP_VERSIONS = range(1, 11)

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
    if not os.path.lexists(path):
        raise UserError(f"no such file: {path}")
    if path.endswith(".json"):
        return _read_index(path)
    check_regular(path, "checkpoint")  # a FIFO would block, /dev/zero never ends
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


def inside(folder: str, path: str, what: str) -> str:
    """``path`` when it resolves (through any symlinks) inside ``folder``; else a one-line UserError: a file
    of a folder the user named is never read through a link to somewhere else."""
    from statedict_lint.safeio import is_inside

    if not is_inside(path, folder):
        raise UserError(f"refusing to read {what} {path}: it is a symlink to {os.path.realpath(path)}, outside "
                        f"{folder}")
    return path


def _pick_in_directory(path: str) -> str:
    for name in _DIR_CANDIDATES:
        p = os.path.join(path, name)
        if os.path.isfile(p):
            return inside(path, p, "checkpoint")
    try:
        names = sorted(os.listdir(path))
    except OSError as exc:
        raise UserError(f"cannot list {path}: {exc.strerror or exc}") from None
    for exts in ((".index.json",), (".safetensors",), (".pt", ".pth", ".bin", ".ckpt")):
        found = [n for n in names if n.endswith(exts) and os.path.isfile(os.path.join(path, n))]
        if len(found) == 1:
            return inside(path, os.path.join(path, found[0]), "checkpoint")
        if len(found) > 1:
            raise UserError(f"{path} holds several checkpoints ({', '.join(found[:4])}): name one")
    raise UserError(f"{path}: no checkpoint file in this directory")


# -- torch zip -----------------------------------------------------------------------------------------
def open_zip(path: str) -> zipfile.ZipFile:
    """The zip archive at ``path``, its entry count checked against the limit before zipfile builds one
    ZipInfo per entry."""
    try:
        with open(path, "rb") as fh:
            end = zipfile._EndRecData(fh)  # type: ignore[attr-defined]  # (stable since Python 2)
    except OSError as exc:
        raise UserError(f"cannot read {path}: {exc.strerror or exc}") from None
    total = end[zipfile._ECD_ENTRIES_TOTAL] if end else 0  # type: ignore[attr-defined]  # (as _EndRecData)
    if total > MAX_ZIP_ENTRIES:
        raise UserError(f"{path}: zip archive of {total:,} entries (limit {MAX_ZIP_ENTRIES:,}: one per storage)")
    try:
        zf = zipfile.ZipFile(path)
    except Exception as exc:  # BadZipFile, NotImplementedError (zip version), struct.error, OSError, ...
        raise UserError(f"{path}: broken zip archive ({type(exc).__name__}: {exc})") from None
    if len(zf.infolist()) > MAX_ZIP_ENTRIES:
        zf.close()
        raise UserError(f"{path}: zip archive of more than {MAX_ZIP_ENTRIES:,} entries (limit: one per storage)")
    return zf


def read_entry(path: str, zf: zipfile.ZipFile, zi: zipfile.ZipInfo, limit: int) -> bytes:
    """The bytes of one zip entry, at most ``limit``; every way an entry can be unreadable (encrypted, bad
    CRC, unsupported compression, data past the end of the file) is one UserError."""
    if zi.file_size > limit:
        raise UserError(f"{path}: {zi.filename} claims {zi.file_size} bytes (limit {limit // MiB} MiB)")
    _check_entry_range(path, zi, os.path.getsize(path))
    try:
        with zf.open(zi) as fh:
            data = fh.read(limit + 1)
    except Exception as exc:  # BadZipFile (CRC), RuntimeError (encrypted), NotImplementedError (compression),
        # zlib.error, EOFError, OSError, struct.error, ...
        raise UserError(f"{path}: cannot read {zi.filename} ({type(exc).__name__}: {exc})") from None
    if len(data) != zi.file_size:
        raise UserError(f"{path}: {zi.filename} holds {len(data)} bytes, its zip entry says {zi.file_size}")
    return data


def archive_name(path: str, infos: List[zipfile.ZipInfo]) -> str:
    """torch's rule (PyTorchStreamReader): the folder of the archive's first entry names the archive, and
    every record is looked up under it."""
    if not infos:
        raise UserError(f"{path}: empty zip archive (not a torch checkpoint)")
    first = infos[0].filename
    if "/" not in first:
        raise UserError(f"{path}: zip entry {first!r} is not in a folder: not a torch checkpoint "
                        "(torch.load refuses it: 'file in archive is not in a subdirectory')")
    return first.split("/", 1)[0]


def _read_torch_zip(path: str) -> Checkpoint:
    size = os.path.getsize(path)
    zf = open_zip(path)
    with zf:
        infolist = zf.infolist()
        infos = {zi.filename: zi for zi in infolist}
        prefix = archive_name(path, infolist) + "/"
        pkl = prefix + "data.pkl"
        zi = infos.get(pkl)
        if zi is None:
            raise UserError(f"{path}: zip archive without {pkl} (not a torch checkpoint)")
        version = infos.get(prefix + ".data/version") or infos.get(prefix + "version")
        if version is None:
            raise UserError(f"{path}: zip archive without {prefix}version: torch.load refuses it")
        text = read_entry(path, zf, version, 64).decode("ascii", "replace").strip()
        if not text.isdigit() or int(text) not in ZIP_VERSIONS:
            raise UserError(f"{path}: archive format version {text[:20]!r}: torch.load reads versions "
                            f"{ZIP_VERSIONS[0]} to {ZIP_VERSIONS[-1]}")
        data = read_entry(path, zf, zi, MAX_PICKLE)
        root, storages = unpickle(io.BytesIO(data), f"{path}: {pkl}", end=len(data))
        for key, st in storages.items():
            name = f"{prefix}data/{key}"
            entry = infos.get(name)
            if entry is None:
                raise UserError(f"{path}: storage {key} has no record {name}")
            need = st.numel * (1 if st.dtype == "uint8" else DTYPE_BYTES.get(st.dtype, 1))
            if entry.file_size != need:
                # torch.load checks the record size exactly ("record size ... does not match expected size")
                raise UserError(f"{path}: record {name} holds {entry.file_size} bytes, its storage has {need}: "
                                "torch.load refuses the file")
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

    def tell(self) -> int:
        return self.fh.tell()

    def seek(self, pos: int, whence: int = 0) -> int:
        return self.fh.seek(pos, whence)


def _read_torch_legacy(path: str) -> Checkpoint:
    size = os.path.getsize(path)
    what = f"{path}: legacy torch file"
    with open(path, "rb", buffering=1 << 16) as raw:
        fh = _Bounded(raw, size)
        magic, _ = unpickle(fh, what, end=size)
        if magic != LEGACY_MAGIC:
            raise UserError(f"{path}: a pickle, but not a torch checkpoint (wrong magic number)")
        protocol, _ = unpickle(fh, what, end=size)
        if protocol != LEGACY_PROTOCOL:
            raise UserError(f"{path}: unsupported legacy torch protocol {protocol!r}")
        sys_info, _ = unpickle(fh, what, end=size)
        if not isinstance(sys_info, dict):
            raise UserError(f"{what}: malformed system info")
        little = sys_info.get("little_endian", True)
        root, storages = unpickle(fh, what, legacy=True, end=size)
        keys, _ = unpickle(fh, what, end=size)
        if not isinstance(keys, list) or not all(isinstance(k, (str, int)) for k in keys):
            raise UserError(f"{what}: malformed storage key list")
        keys = [str(k) for k in keys]
        key_set = set(keys)
        if len(key_set) != len(keys):
            raise UserError(f"{what}: a storage is listed twice")
        missing = set(storages) - key_set
        if missing:  # torch.load fills such a storage with uninitialized memory instead of failing
            raise UserError(f"{what}: storage {sorted(missing)[0]} has no data in the file (truncated or "
                            "corrupt; torch.load would give it uninitialized memory)")
        unknown = key_set - set(storages)
        if unknown:  # torch.load: "assert key in deserialized_objects"
            raise UserError(f"{what}: the storage list names {sorted(unknown)[0]}, which no tensor uses")
        roots = storages
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
            if numel < 0 or (st is not None and numel != st.numel):
                # torch.load checks the size exactly ("storage has wrong byte size")
                raise UserError(f"{what}: storage {key} holds {numel} elements, its pickle says "
                                f"{st.numel if st is not None else '?'}")
            pos += 8 + numel * elem
            if pos > size:
                raise UserError(f"{what}: truncated (storage {key} ends at byte {pos}, file has {size})")
    _attach(root, lambda rec: f"storage {rec.storage}")
    return Checkpoint(path=path, format="torch-legacy", root=root, files=[path], size=size)


# -- safetensors ---------------------------------------------------------------------------------------
def read_safetensors_header(path: str) -> Tuple[Dict[str, Any], int, int]:
    """(header object, header length n, file size) of a safetensors file, bounded by MAX_SAFETENSORS_HEADER;
    the header's entries are not validated here (``validate_safetensors`` does)."""
    check_regular(path, "checkpoint")
    size = os.path.getsize(path)
    with open(path, "rb") as fh:
        head = fh.read(8)
        if len(head) < 8:
            raise UserError(f"{path}: truncated safetensors file")
        (n,) = struct.unpack("<Q", head)
        if n > MAX_SAFETENSORS_HEADER:
            raise UserError(f"{path}: safetensors header of {n} bytes exceeds the {MAX_SAFETENSORS_HEADER // MiB} MiB "
                            "limit")
        if 8 + n > size:
            raise UserError(f"{path}: safetensors header claims {n} bytes, file has {size - 8}")
        raw = fh.read(n)
    try:
        header = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise UserError(f"{path}: safetensors header is not JSON ({str(exc).splitlines()[0]})") from None
    if not isinstance(header, dict):
        raise UserError(f"{path}: safetensors header is not a JSON object")
    return header, n, size


def validate_safetensors(path: str, header: Dict[str, Any], buf: int,
                         shard: str = "") -> Tuple["OrderedDict[str, TensorRecord]", Optional[Dict[str, str]]]:
    """The tensors and ``__metadata__`` of a parsed header, checked as safetensors' own loader checks them:
    known dtype, a shape of non-negative ints whose byte size is the span, and spans that tile the
    ``buf`` data bytes exactly -- no gap, no overlap, nothing after the last (safetensors: "invalid offset",
    "incomplete metadata, file not fully covered")."""
    meta = header.get("__metadata__")
    if meta is not None and not (isinstance(meta, dict) and all(isinstance(v, str) for v in meta.values())):
        raise UserError(f"{path}: safetensors __metadata__ must map strings to strings")
    tensors: "OrderedDict[str, TensorRecord]" = OrderedDict()
    spans = []
    for key, info in header.items():
        if key == "__metadata__":
            continue
        if not isinstance(info, dict):
            raise UserError(f"{path}: safetensors entry {key!r} is not an object")
        dt, shape, offs = info.get("dtype"), info.get("shape"), info.get("data_offsets")
        if not isinstance(dt, str) or dt not in SAFETENSORS_DTYPES:
            raise UserError(f"{path}: tensor {key!r} has unknown dtype {_short(dt)}")
        if not isinstance(shape, list) or not all(isinstance(d, int) and not isinstance(d, bool) and 0 <= d <= MAX_DIM
                                                  for d in shape):
            raise UserError(f"{path}: tensor {key!r} has a malformed shape")
        if not (isinstance(offs, list) and len(offs) == 2 and all(isinstance(o, int) and not isinstance(o, bool)
                                                                    for o in offs)):
            raise UserError(f"{path}: tensor {key!r} has malformed data_offsets")
        begin, end = offs
        if not 0 <= begin <= end <= buf:
            raise UserError(f"{path}: tensor {key!r} data_offsets {_short(offs)} outside the data ({buf} bytes)")
        rec = TensorRecord(dtype=SAFETENSORS_DTYPES[dt], shape=tuple(shape), file=shard or path,
                           byte_range=(begin, end))
        if rec.nbytes != end - begin:
            raise UserError(f"{path}: tensor {key!r} spans {end - begin} bytes, {dt}{_short(shape)} needs "
                            f"{_short(rec.nbytes)}")
        spans.append((begin, end, key))
        tensors[key] = rec
    spans.sort()
    pos, prev = 0, None
    for b, e, k in spans:
        if b < pos:
            raise UserError(f"{path}: tensors {prev!r} and {k!r} overlap in the data")
        if b > pos:
            raise UserError(f"{path}: {b - pos} bytes before tensor {k!r} belong to no tensor: safetensors refuses "
                            "the file (invalid offset)")
        pos, prev = e, k
    if pos != buf:
        raise UserError(f"{path}: the last {buf - pos} data bytes belong to no tensor: safetensors refuses the file "
                        "(file not fully covered)")
    return tensors, meta


def _short(v: Any) -> str:
    """repr of a value from a file, bounded (a 5,000-digit int cannot even be printed by Python's default)."""
    if isinstance(v, int) and not isinstance(v, bool) and v.bit_length() > 64:
        return f"<int of {v.bit_length()} bits>"
    if isinstance(v, list) and any(isinstance(x, int) and x.bit_length() > 64 for x in v):
        return "[" + ", ".join(_short(x) for x in v[:8]) + (", ..." if len(v) > 8 else "") + "]"
    r = repr(v)
    return r if len(r) <= 60 else r[:57] + "..."


def _read_safetensors(path: str, shard: str = "") -> Tuple[Dict[str, TensorRecord], Optional[Dict[str, str]], int]:
    header, n, size = read_safetensors_header(path)
    tensors, meta = validate_safetensors(path, header, size - 8 - n, shard)
    return tensors, meta, size


def _read_safetensors_ckpt(path: str) -> Checkpoint:
    tensors, meta, size = _read_safetensors(path)
    return Checkpoint(path=path, format="safetensors", root=tensors, files=[path], metadata=meta, size=size)


# -- sharded index -------------------------------------------------------------------------------------
def _read_index(path: str) -> Checkpoint:
    raw = read_regular(path, MAX_INDEX, "checkpoint index")
    try:
        index = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise UserError(f"{path}: cannot read index ({str(exc).splitlines()[0]})") from None
    wm = index.get("weight_map") if isinstance(index, dict) else None
    if not isinstance(wm, dict) or not all(isinstance(v, str) for v in wm.values()):
        raise UserError(f"{path}: not a sharded checkpoint index (no weight_map of key -> shard file)")
    base = os.path.dirname(path)
    shards: List[str] = list(dict.fromkeys(wm.values()))  # first-seen order, linear
    if len(shards) > MAX_INDEX_SHARDS:
        raise UserError(f"{path}: index names {len(shards):,} shard files (limit {MAX_INDEX_SHARDS:,})")
    merged: "OrderedDict[str, Any]" = OrderedDict()
    metadata: Dict[str, str] = {}
    total = 0
    fmt = ""
    seen_files: Dict[Tuple[int, int], str] = {}
    for shard in shards:
        if os.path.isabs(shard) or ".." in shard.replace("\\", "/").split("/"):
            raise UserError(f"{path}: shard name {shard!r} points outside the index's directory")
        sp = os.path.join(base, shard)
        if not os.path.isfile(sp):
            raise UserError(f"{path}: shard {shard} is missing")
        inside(base or ".", sp, "shard")
        if shard.endswith(".json"):  # an index naming an index (itself, say) would recurse
            raise UserError(f"{path}: shard {shard} is an index, not a checkpoint file")
        st = os.stat(sp)
        if (st.st_dev, st.st_ino) in seen_files:  # 10,000 names linked to one 16 MB header: read once, refused
            raise UserError(f"{path}: shards {seen_files[(st.st_dev, st.st_ino)]} and {shard} are the same file")
        seen_files[(st.st_dev, st.st_ino)] = shard
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
