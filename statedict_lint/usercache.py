"""The user's cache folder, shared by every cache of the tool, and the only place caches are read from.

A repository can ship any file, so nothing under a repository is ever read as a cache: the prediction
cache, the project index, the lock/diff snapshot cache and the lint cache all live in

    ``$STATEDICT_LINT_CACHE_DIR``, else ``$XDG_CACHE_HOME/statedict-lint``, else ``~/.cache/statedict-lint``

and every entry is bound to a per-user secret: ``key`` (32 random bytes, mode 0600) is created once in that
folder, and an entry is stored as ``sdl-cache-1 <HMAC-SHA256(key, name NUL payload)>\\n<payload>``. An
entry whose MAC does not verify (planted, edited, copied to another name, written with another key) is
ignored as a miss. The folder is refused -- the run continues without caching, with one warning line on
stderr -- when it is a symbolic link, not a folder, not owned by the user, or writable by others (by
anyone, or by a group that is not the user's own), or when the key file is not a private regular file of
the user. A folder that cannot be created (a read-only home) just means no cache, silently.

``tool_digest`` hashes every ``.py`` file of the installed package (the whole tree, sorted): any change
to the tool invalidates every cache entry.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import stat
import sys
from typing import Any, Dict, Optional

from statedict_lint import safeio

MAGIC = b"sdl-cache-1 "
KEY_NAME = "key"
KEY_BYTES = 32

QUIET = "\0"  # marks a reason that is not worth a warning (a read-only home: the run is just uncached)
_STATE: Dict[str, object] = {}  # root -> key bytes, or the reason the folder was refused (str)
_WARNED: set = set()


def root() -> str:
    d = os.environ.get("STATEDICT_LINT_CACHE_DIR")
    if d:
        return os.path.abspath(d)
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(os.path.abspath(base), "statedict-lint")


def _owner_ok(st: os.stat_result) -> bool:
    return not hasattr(os, "geteuid") or st.st_uid == os.geteuid()


def _check_root(folder: str) -> Optional[str]:
    """None when ``folder`` is usable (created 0700 when absent), else why not."""
    try:
        os.makedirs(os.path.dirname(folder), exist_ok=True)
        os.mkdir(folder, 0o700)
    except FileExistsError:
        pass
    except OSError as exc:
        return QUIET + f"cannot create it ({exc.strerror or exc})"
    try:
        st = os.lstat(folder)
    except OSError as exc:
        return f"cannot read it ({exc.strerror or exc})"
    if stat.S_ISLNK(st.st_mode):
        return "it is a symbolic link"
    if not stat.S_ISDIR(st.st_mode):
        return "it is not a folder"
    if not _owner_ok(st):
        return "it is not owned by you"
    if st.st_mode & 0o002 or (st.st_mode & 0o020 and hasattr(os, "getegid") and st.st_gid != os.getegid()):
        return "others can write to it"  # (group-writable is fine when the group is yours: umask 002)
    return None


def _read_key(path: str) -> Optional[bytes]:
    """The key, or None when absent; raises ValueError when the file is not a private regular file."""
    flags = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0)
    try:
        fd = os.open(path, flags)
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise ValueError(f"its key file cannot be opened ({exc.strerror or exc})") from None
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode) or not _owner_ok(st) or st.st_mode & 0o077:
            raise ValueError("its key file is not a private (0600) regular file of yours")
        data = os.read(fd, KEY_BYTES + 1)
    finally:
        os.close(fd)
    if len(data) != KEY_BYTES:
        raise ValueError("its key file has the wrong size")
    return data


def _load_or_create_key(folder: str) -> bytes:
    path = os.path.join(folder, KEY_NAME)
    key = _read_key(path)
    if key is not None:
        return key
    import tempfile

    fd, tmp = tempfile.mkstemp(prefix=".key.", dir=folder)  # 0600, O_EXCL
    try:
        try:
            os.write(fd, os.urandom(KEY_BYTES))
            os.fsync(fd)
        finally:
            os.close(fd)
        try:
            os.link(tmp, path)  # atomic, never replaces: a concurrent first run keeps the key that won
        except FileExistsError:
            pass
    finally:
        try:
            os.unlink(tmp)
        except OSError:
            pass
    key = _read_key(path)
    if key is None:
        raise ValueError("its key file disappeared")
    return key


def _state() -> object:
    r = root()
    if r not in _STATE:
        why = _check_root(r)
        if why is None:
            try:
                _STATE[r] = _load_or_create_key(r)
            except ValueError as exc:
                _STATE[r] = str(exc)
            except OSError as exc:
                _STATE[r] = QUIET + f"its key cannot be written ({exc.strerror or exc})"
        else:
            _STATE[r] = why
    return _STATE[r]


def folder(*parts: str) -> Optional[str]:
    """``root()/parts...`` (created, private), or None when the cache folder is refused (one warning)."""
    st = _state()
    r = root()
    if not isinstance(st, bytes):
        if r not in _WARNED and not str(st).startswith(QUIET):
            _WARNED.add(r)
            sys.stderr.write(f"statedict-lint: warning: not using the cache folder {r}: {st}; "
                             f"running without a cache\n")
        return None
    d = os.path.join(r, *parts)
    try:
        safeio.make_private_dirs(d, r)
    except OSError:
        return None
    return d


def make_dirs(path: str) -> None:
    """Create ``path`` (inside the cache folder) like ``folder`` does; OSError when it cannot."""
    safeio.make_private_dirs(path, root())


def _mac(name: str, payload: bytes) -> Optional[str]:
    key = _state()
    if not isinstance(key, bytes):
        return None
    return hmac.new(key, name.encode("utf-8", "surrogatepass") + b"\0" + payload, hashlib.sha256).hexdigest()


def write_entry(path: str, payload: bytes) -> None:
    """Store ``payload`` at ``path`` (inside the cache folder), signed. Errors are ignored (only a cache)."""
    mac = _mac(os.path.basename(path), payload)
    if mac is None:
        return
    try:
        safeio.atomic_write_bytes(path, MAGIC + mac.encode() + b"\n" + payload, within=root(), mode=0o600)
    except OSError:
        pass


MAX_ENTRY_BYTES = 256 * 1024 * 1024


def read_entry(path: str) -> Optional[bytes]:
    """The payload stored at ``path`` when its signature verifies, else None."""
    flags = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0)
    try:
        fd = os.open(path, flags)
    except OSError:
        return None
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode) or st.st_size > MAX_ENTRY_BYTES:
            return None
        with os.fdopen(fd, "rb") as fh:
            fd = -1
            blob = fh.read(MAX_ENTRY_BYTES + 1)
    except OSError:
        return None
    finally:
        if fd >= 0:
            os.close(fd)
    if not blob.startswith(MAGIC):
        return None
    nl = blob.find(b"\n")
    if nl < 0:
        return None
    mac, payload = blob[len(MAGIC):nl], blob[nl + 1:]
    want = _mac(os.path.basename(path), payload)
    if want is None or not hmac.compare_digest(mac, want.encode()):
        return None
    return payload


def read_json_dict(path: str) -> Optional[Dict[str, Any]]:
    """The entry at ``path`` as a JSON object when its signature verifies and it is one, else None."""
    payload = read_entry(path)
    if payload is None:
        return None
    try:
        data = json.loads(payload)
    except ValueError:
        return None
    return data if isinstance(data, dict) else None


# -- the tool's own digest ------------------------------------------------------------------------

def package_digest(folder: str) -> str:
    """SHA-256 over every ``.py`` file below ``folder`` (relative path and content), in sorted order."""
    h = hashlib.sha256()
    for dirpath, dirs, files in os.walk(folder):
        dirs[:] = sorted(d for d in dirs if d != "__pycache__")
        for name in sorted(files):
            if name.endswith(".py"):
                full = os.path.join(dirpath, name)
                rel = os.path.relpath(full, folder).replace(os.sep, "/")
                with open(full, "rb") as fh:
                    data = fh.read()
                h.update(rel.encode("utf-8", "surrogateescape") + b"\0" + str(len(data)).encode() + b"\0" + data)
    return h.hexdigest()


_TOOL_DIGEST: Optional[str] = None


def tool_digest() -> str:
    """``package_digest`` of the statedict_lint package in use, with its version and Python's (memoized)."""
    global _TOOL_DIGEST
    if _TOOL_DIGEST is None:
        import statedict_lint

        pkg = os.path.dirname(os.path.abspath(statedict_lint.__file__))
        _TOOL_DIGEST = hashlib.sha256(f"{statedict_lint.__version__}:{sys.version_info[:3]}:{package_digest(pkg)}"
                                      .encode()).hexdigest()
    return _TOOL_DIGEST
