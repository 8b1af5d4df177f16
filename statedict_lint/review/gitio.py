"""Read files at git revisions without checking anything out.

Everything goes through plain ``git`` plumbing (``rev-parse``, ``merge-base``, ``ls-tree``, ``cat-file``);
the work tree, the index and HEAD are never touched. ``WORKTREE`` names the files on disk as they are now.
"""

from __future__ import annotations

import os
import subprocess
from typing import Dict, Iterable, List, Optional, Sequence

from statedict_lint.errors import UserError
from statedict_lint.safeio import confined, utf8_named

WORKTREE = ":worktree"  # pseudo revision: the files on disk


def _git(repo: str, args: Sequence[str], input: Optional[bytes] = None) -> bytes:
    try:
        proc = subprocess.run(["git", "-C", repo, *args], input=input, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, check=False)
    except FileNotFoundError:
        raise UserError("git is not installed (diff reads revisions with git)") from None
    if proc.returncode != 0:
        msg = proc.stderr.decode("utf-8", "replace").strip().splitlines()
        raise UserError(f"git {' '.join(args[:2])}: {msg[-1] if msg else 'failed'}")
    return proc.stdout


def repo_root(path: str = ".") -> str:
    folder = path if os.path.isdir(path) else os.path.dirname(os.path.abspath(path)) or "."
    try:
        out = _git(folder, ["rev-parse", "--show-toplevel"])
    except UserError:
        raise UserError(f"{os.path.abspath(path)} is not inside a git repository") from None
    return out.decode().strip()


def resolve(repo: str, rev: str) -> str:
    """Full commit id of ``rev`` (UserError when unknown)."""
    try:
        return _git(repo, ["rev-parse", "--verify", "--quiet", f"{rev}^{{commit}}"]).decode().strip()
    except UserError:
        raise UserError(f"unknown revision: {rev}") from None


def _exists(repo: str, ref: str) -> bool:
    proc = subprocess.run(["git", "-C", repo, "rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}"],
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, check=False)
    return proc.returncode == 0


def default_branch(repo: str) -> str:
    """origin/HEAD's target, else main, master, origin/main, origin/master."""
    proc = subprocess.run(["git", "-C", repo, "symbolic-ref", "--quiet", "refs/remotes/origin/HEAD"],
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, check=False)
    if proc.returncode == 0:
        ref = proc.stdout.decode().strip()
        if ref and _exists(repo, ref):
            return ref
    for cand in ("main", "master", "origin/main", "origin/master"):
        if _exists(repo, cand):
            return cand
    raise UserError("no default branch found (origin/HEAD, main, master): give BASE explicitly")


def merge_base(repo: str, a: str, b: str = "HEAD") -> str:
    try:
        return _git(repo, ["merge-base", a, b]).decode().strip()
    except UserError:
        raise UserError(f"no merge-base between {a} and {b}") from None


def default_base(repo: str) -> str:
    """The merge-base of HEAD with the default branch."""
    return merge_base(repo, default_branch(repo), "HEAD")


def _pathspecs(paths: Iterable[str]) -> List[str]:
    return [p for p in paths if p not in ("", ".")]


def list_py(repo: str, rev: str, paths: Iterable[str] = ()) -> Dict[str, str]:
    """{repo-relative path: blob id} of the .py files of ``rev`` under ``paths`` (all when empty).

    For ``WORKTREE`` the blob id is the content hash git would give the file on disk (tracked and
    untracked-but-not-ignored files)."""
    specs = _pathspecs(paths)
    if rev == WORKTREE:
        out = _git(repo, ["ls-files", "-z", "--cached", "--others", "--exclude-standard", "--", *specs])
        files = confined(repo, utf8_named(sorted({f for f in out.decode("utf-8", "surrogateescape").split("\0")
                                                  if f.endswith(".py") and os.path.isfile(os.path.join(repo, f))})))
        if not files:
            return {}
        hashes = _git(repo, ["hash-object", "--stdin-paths"], input="\n".join(files).encode() + b"\n")
        return dict(zip(files, hashes.decode().split()))
    out = _git(repo, ["ls-tree", "-r", "-z", "--full-tree", rev, "--", *specs])
    result: Dict[str, str] = {}
    for entry in out.decode("utf-8", "surrogateescape").split("\0"):
        if not entry:
            continue
        meta, _, path = entry.partition("\t")
        mode, kind, blob = meta.split()
        if kind == "blob" and path.endswith(".py") and mode != "120000":
            result[path] = blob
    return {p: result[p] for p in utf8_named(sorted(result))}


def read_blobs(repo: str, blobs: Iterable[str]) -> Dict[str, bytes]:
    """Contents of many blobs in one ``git cat-file --batch`` call."""
    ids = list(dict.fromkeys(blobs))
    if not ids:
        return {}
    out = _git(repo, ["cat-file", "--batch"], input=("\n".join(ids) + "\n").encode())
    result: Dict[str, bytes] = {}
    pos = 0
    for blob in ids:
        nl = out.index(b"\n", pos)
        header = out[pos:nl].decode().split()
        if len(header) < 3:
            raise UserError(f"git cat-file: cannot read {blob}")
        size = int(header[2])
        result[blob] = out[nl + 1: nl + 1 + size]
        pos = nl + 1 + size + 1
    return result


def show(repo: str, rev: str, path: str) -> bytes:
    """One file at one revision (``git show REV:path``); the file on disk for WORKTREE."""
    if rev == WORKTREE:
        try:
            with open(os.path.join(repo, path), "rb") as fh:
                return fh.read()
        except OSError as exc:
            raise UserError(f"cannot read {path}: {exc.strerror}") from None
    return _git(repo, ["show", f"{rev}:{path}"])


def materialize(repo: str, rev: str, files: Dict[str, str], dest: str) -> None:
    """Write ``files`` ({path: blob}) of ``rev`` into ``dest`` with the repository's layout."""
    if rev == WORKTREE:
        contents = {p: show(repo, rev, p) for p in files}
    else:
        blobs = read_blobs(repo, files.values())
        contents = {p: blobs[b] for p, b in files.items()}
    from statedict_lint.safeio import make_private_dirs

    for path, data in contents.items():
        target = os.path.join(dest, path)
        try:
            make_private_dirs(os.path.dirname(target), dest)  # (never through a link, never outside dest)
            with open(target, "xb") as fh:  # O_EXCL: ``dest`` is a fresh folder of this run
                fh.write(data)
        except OSError as exc:
            raise UserError(f"cannot copy {path} of {short(repo, rev)} to a temporary folder: "
                            f"{exc.strerror or exc}") from None


def short(repo: str, rev: str) -> str:
    if rev == WORKTREE:
        return "working tree"
    try:
        return _git(repo, ["rev-parse", "--short", rev]).decode().strip()
    except UserError:
        return rev[:10]
