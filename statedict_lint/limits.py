"""Every bound statedict-lint puts on the input it reads, in one place (documented in docs/checkpoints.md, Limits).

The tool reads files from repositories and checkpoints from anywhere; a small hostile input must end in one
line and exit code 2 within seconds and a few hundred MB, never in a hang, a crash or gigabytes of memory.
Each limit is far above what real files need (the comment says how far); a file over a limit is refused
with a message naming the limit, never read partially and reported as if complete.

``read_regular`` is the one way a user-named side file (an index, a rename map, a ``--config`` JSON, a
lock file) is read: regular files only (a FIFO or ``/dev/zero`` would hang or never end), at most ``limit``
bytes.
"""

from __future__ import annotations

import os
import stat

from statedict_lint.errors import UserError

MiB = 1024 * 1024

# -- torch pickles (data.pkl of a zip, the pickles of a legacy file) -----------------------------------------
# A state_dict pickle costs ~100 bytes and ~32 opcodes per tensor (torch.save of 1,000 tensors: 101 KB,
# 32,013 opcodes), so 250k tensors (or 80k with two optimizer moments each) fit. At the caps, the worst
# pickles measured (a list of 8M Nones, of 2M dicts or 2M strings) cost ~5 s and ~200-350 MB.
MAX_PICKLE_BYTES = 32 * MiB
MAX_PICKLE_OPCODES = 8_000_000
# opcodes that allocate a new object (dicts, lists, tuples, strings, big ints, calls): what memory is made of
# (~60-100 bytes each); a real checkpoint needs ~8 a tensor
MAX_PICKLE_OBJECTS = 2_000_000
# one bytes / str / long literal inside the pickle: the reader never needs tensor data, and the largest
# legitimate literal is a pickled numpy RNG state (~2.5 KB) or a small array
MAX_PICKLE_LITERAL = 16 * MiB
# migrate re-emits the pickle from a symbolic walk that keeps ~150 bytes an opcode (whole process: 50k tensors,
# 1.5M opcodes, 290 MB; 90k tensors, 2.9M opcodes, 530 MB): 2M opcodes is ~60k tensors in ~360 MB
MAX_REWRITE_OPCODES = 2_000_000

# -- zip archives (torch.save >= 1.6) ------------------------------------------------------------------------
# one record per storage plus ~5: 200k records is a 200k-tensor state_dict without tied weights
MAX_ZIP_ENTRIES = 200_000

# -- safetensors -----------------------------------------------------------------------------------------------
# safetensors itself allows 100,000,000 bytes; a header costs ~100-150 bytes a tensor (16 MiB is >100k
# tensors) and parsing JSON costs up to ~26x its size in memory
MAX_SAFETENSORS_HEADER = 16 * MiB

# -- sharded index (*.index.json) ------------------------------------------------------------------------------
MAX_INDEX_BYTES = 16 * MiB
MAX_INDEX_SHARDS = 10_000  # distinct shard files (the largest public models use a few hundred)

# -- side files named on the command line ----------------------------------------------------------------------
MAX_MAP_BYTES = 16 * MiB  # migrate --map
MAX_MAP_PATTERNS = 2_000  # prefix / placeholder entries (each is tried against every key); exact entries: no cap
MAX_CONFIG_BYTES = 4 * MiB  # --config PARAM=FILE.json
MAX_LOCK_BYTES = 64 * MiB  # statedict.lock (754 classes / 33k keys of a large repository: ~5 MB)

# -- Python source ---------------------------------------------------------------------------------------------
# the largest hand-written model files (transformers' modeling_*.py) are ~300 KB; libcst needs ~60x a file's
# size in memory
MAX_SOURCE_BYTES = 4 * MiB


def check_regular(path: str, what: str) -> os.stat_result:
    """The stat of ``path`` when it is a regular file (following a symlink the user named); else UserError."""
    try:
        st = os.stat(path)
    except FileNotFoundError:
        raise UserError(f"no such {what}: {path}") from None
    except OSError as exc:
        raise UserError(f"cannot read {what} {path}: {exc.strerror or exc}") from None
    if not stat.S_ISREG(st.st_mode):
        raise UserError(f"{what} {path} is {_kind(st.st_mode)}, not a regular file")
    return st


def _kind(mode: int) -> str:
    if stat.S_ISDIR(mode):
        return "a directory"
    if stat.S_ISFIFO(mode):
        return "a FIFO"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    if stat.S_ISSOCK(mode):
        return "a socket"
    return "a special file"


def open_regular(path: str, what: str) -> int:
    """An O_RDONLY descriptor of ``path``, refused unless it is a regular file. The FIFO test happens before
    opening (a FIFO's open blocks) and again on the descriptor (the path may have been swapped in between;
    O_NONBLOCK keeps that open from blocking)."""
    check_regular(path, what)
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0))
    except OSError as exc:
        raise UserError(f"cannot read {what} {path}: {exc.strerror or exc}") from None
    st = os.fstat(fd)
    if not stat.S_ISREG(st.st_mode):
        os.close(fd)
        raise UserError(f"{what} {path} is {_kind(st.st_mode)}, not a regular file")
    if hasattr(os, "set_blocking"):
        os.set_blocking(fd, True)
    return fd


def read_regular(path: str, limit: int, what: str) -> bytes:
    """The bytes of the regular file ``path``; refused when it holds more than ``limit`` bytes."""
    fd = open_regular(path, what)
    with os.fdopen(fd, "rb") as fh:
        data = fh.read(limit + 1)
    if len(data) > limit:
        raise UserError(f"{what} {path} is larger than the {limit // MiB if limit >= MiB else limit}"
                        f"{' MiB' if limit >= MiB else ' bytes'} limit")
    return data


def read_regular_text(path: str, limit: int, what: str) -> str:
    data = read_regular(path, limit, what)
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise UserError(f"{what} {path} is not UTF-8 text") from None
