"""Writing files in folders a hostile repository may have prepared: the one way every writer writes.

A cloned repository can commit symbolic links under any name, including the names a tool is about to
write (``statedict.lock``) and the temporary names it used to write first (``.statedict.lock.<pid>.tmp``).
Every file this package writes (the lock file, the caches, generated docs) goes through
``atomic_write_bytes`` / ``atomic_write_text`` / ``atomic_writer``, which

* create the temporary file with ``tempfile.mkstemp`` in the target's folder: a random name opened with
  ``O_CREAT | O_EXCL`` (never an existing file, never through a link);
* refuse a target that is a symbolic link or anything but a regular file (a FIFO, a device, a folder);
* refuse to write when ``within`` is given and the target's folder, links resolved, is not inside it;
* give the result the permissions of a new file under the user's umask (``mode`` overrides), then
  ``os.replace`` it onto the target, which replaces a name and never writes through one;
* remove the temporary file when anything fails.

Errors are ``OSError`` (``UnsafeTarget`` for a refused target), so callers keep one ``except OSError``.
"""

from __future__ import annotations

import contextlib
import os
import stat
import sys
import tempfile
from typing import IO, Iterator, List, Optional

from statedict_lint.report import escape


class UnsafeTarget(OSError):
    """A write was refused: the target or its folder is not a place this tool writes to."""

    def __init__(self, path: str, why: str) -> None:
        super().__init__(why)
        self.strerror = why
        self.filename = path

    def __str__(self) -> str:
        return f"{self.filename}: {self.strerror}"


_UMASK: Optional[int] = None


def umask() -> int:
    """The process's umask, read without changing it where the OS allows (``/proc/self/status``)."""
    global _UMASK
    if _UMASK is None:
        value = None
        try:
            with open("/proc/self/status", encoding="ascii", errors="replace") as fh:
                for line in fh:
                    if line.startswith("Umask:"):
                        value = int(line.split()[1], 8)
                        break
        except (OSError, ValueError, IndexError):
            value = None
        if value is None:
            value = os.umask(0o022)
            os.umask(value)
        _UMASK = value
    return _UMASK


def is_inside(path: str, folder: str) -> bool:
    """``path`` (links resolved) is ``folder`` (links resolved) or below it."""
    p, f = os.path.realpath(path), os.path.realpath(folder)
    return p == f or p.startswith(f.rstrip(os.sep) + os.sep)


def confined(root: str, relpaths: List[str], within: Optional[str] = None,
             what: str = "the repository") -> List[str]:
    """``relpaths`` (files below ``root``) without those whose real path is outside ``within`` (default:
    ``root``): a symbolic link out of the tree (or through a linked folder) is never read; one warning
    line each on stderr (``what``: how the tree is named there)."""
    real = os.path.realpath(within or root).rstrip(os.sep) + os.sep
    out = []
    for rp in relpaths:
        full = os.path.join(root, rp)
        if os.path.realpath(full).startswith(real):
            out.append(rp)
        else:
            shown = os.path.relpath(full).encode("utf-8", "backslashreplace").decode("utf-8")
            sys.stderr.write(f"statedict-lint: warning: {shown!r} is a symbolic link to outside {what}; not read\n")
    return out


def utf8_named(relpaths: List[str]) -> List[str]:
    """``relpaths`` without the file names that are not valid UTF-8 (read from git or the disk with
    ``surrogateescape``): lock files, caches and reports are UTF-8 text and cannot name them; one warning
    line each on stderr instead of a traceback later."""
    out = []
    for rp in relpaths:
        try:
            rp.encode("utf-8")
        except UnicodeEncodeError:
            shown = escape.text(rp.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace"))
            sys.stderr.write(f"statedict-lint: warning: '{shown}': the file name is not valid UTF-8; "
                             "not read\n")
            continue
        out.append(rp)
    return out


def check_target(path: str) -> None:
    """Raise ``UnsafeTarget`` unless ``path`` is absent or a regular file (a link is refused, not followed)."""
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return
    if stat.S_ISLNK(st.st_mode):
        raise UnsafeTarget(path, "is a symbolic link; refusing to write through it")
    if not stat.S_ISREG(st.st_mode):
        raise UnsafeTarget(path, "exists and is not a regular file; refusing to replace it")


def _check_folder(folder: str, within: Optional[str]) -> None:
    if within is not None and not is_inside(folder, within):
        raise UnsafeTarget(folder, f"is outside {within} (through a symbolic link); refusing to write there")


@contextlib.contextmanager
def atomic_writer(path: str, binary: bool = False, within: Optional[str] = None,
                  mode: Optional[int] = None, durable: bool = False) -> Iterator[IO]:
    """``with atomic_writer(p) as fh: fh.write(...)``: ``p`` is replaced only when the block succeeds.

    Text mode writes UTF-8 with ``\\n`` line ends. ``within``: a folder the target must be in (links
    resolved). ``mode``: permission bits (default: 0o666 minus the umask). ``durable``: fsync first."""
    path = os.path.abspath(path)
    folder = os.path.dirname(path)
    _check_folder(folder, within)
    check_target(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{os.path.basename(path)}.", suffix=".tmp", dir=folder)
    try:
        os.fchmod(fd, (0o666 & ~umask()) if mode is None else mode)
        fh: IO = os.fdopen(fd, "wb") if binary else os.fdopen(fd, "w", encoding="utf-8", newline="\n")
        with fh:
            yield fh
            fh.flush()
            if durable:
                os.fsync(fh.fileno())
        check_target(path)  # (re-checked: the folder may be shared with a process that plants links)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def atomic_write_bytes(path: str, data: bytes, within: Optional[str] = None, mode: Optional[int] = None,
                       durable: bool = False) -> None:
    with atomic_writer(path, True, within, mode, durable) as fh:
        fh.write(data)


def atomic_write_text(path: str, text: str, within: Optional[str] = None, mode: Optional[int] = None,
                      durable: bool = False) -> None:
    with atomic_writer(path, False, within, mode, durable) as fh:
        fh.write(text)


def make_private_dirs(path: str, base: str) -> None:
    """Create ``path`` and its missing parents below ``base`` (which must exist) with mode 0o700, refusing
    any existing component that is a link or not a folder (``UnsafeTarget``)."""
    path, base = os.path.abspath(path), os.path.abspath(base)
    rel = os.path.relpath(path, base)
    if rel == ".":
        return
    if rel.startswith(os.pardir):
        raise UnsafeTarget(path, f"is outside {base}")
    cur = base
    for part in rel.split(os.sep):
        cur = os.path.join(cur, part)
        try:
            os.mkdir(cur, 0o700)
            continue
        except FileExistsError:
            pass
        st = os.lstat(cur)
        if stat.S_ISLNK(st.st_mode) or not stat.S_ISDIR(st.st_mode):
            raise UnsafeTarget(cur, "is a symbolic link or not a folder; refusing to write below it")
