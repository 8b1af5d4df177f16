"""Hostile repositories against the tool's writes and caches (issue 12 items 1, 2, 6, 10; issue 9 step 1).

Every test builds the hostile situation itself: symlinks planted under the names the tool writes (and
used to write), caches committed to the repository or forged in the user cache, files edited while they
are read, modules that appear and shadow, malformed cache entries, and worktree files linking outside.
"""

from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
import sys
import textwrap
from typing import Any, Dict, List, Tuple

import pytest

from statedict_lint import safeio, usercache
from statedict_lint.cli import main

MODEL = textwrap.dedent('''
    import torch.nn as nn

    class Attn(nn.Module):
        def __init__(self, n):
            super().__init__()
            self.qkv = nn.Linear(n, 3 * n)

    class Block(nn.Module):
        def __init__(self, n=8):
            super().__init__()
            self.attn = Attn(n)
            self.ln = nn.LayerNorm(n)
''')


def git(repo: Any, *args: str) -> None:
    subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True)


@pytest.fixture
def repo(tmp_path: Any, monkeypatch: Any) -> Any:
    r = tmp_path / "repo"
    (r / "pkg").mkdir(parents=True)
    (r / "pkg" / "__init__.py").write_text("")
    (r / "pkg" / "model.py").write_text(MODEL)
    git(r, "init", "-q", "-b", "main")
    git(r, "-c", "user.email=t@t", "-c", "user.name=t", "add", "-A")
    git(r, "-c", "user.email=t@t", "-c", "user.name=t", "commit", "-qm", "base")
    monkeypatch.chdir(r)
    monkeypatch.setenv("STATEDICT_LINT_CACHE_DIR", str(tmp_path / "user-cache"))
    return r


@pytest.fixture
def outside(tmp_path: Any) -> Any:
    """A folder outside the repository with a file a planted link could make the tool overwrite."""
    d = tmp_path / "outside"
    d.mkdir()
    (d / "victim.txt").write_text("precious\n")
    return d


def snapshot_of(folder: Any) -> Dict[str, bytes]:
    out = {}
    for dirpath, _dirs, files in os.walk(folder):
        for f in files:
            p = os.path.join(dirpath, f)
            with open(p, "rb") as fh:
                out[os.path.relpath(p, folder)] = fh.read()
    return out


def rename_attn(repo: Any) -> None:
    p = repo / "pkg" / "model.py"
    p.write_text(p.read_text().replace("self.attn = Attn(n)", "self.self_attn = Attn(n)"))


def run(capsys: Any, *argv: str) -> Tuple[int, str, str]:
    rc = main(list(argv))
    out, err = capsys.readouterr()
    return rc, out, err


# -- 12.1: writes never follow planted links --------------------------------------------------------

def test_atomic_write_refuses_link_and_special_targets(tmp_path: Any, outside: Any) -> None:
    link = tmp_path / "out.json"
    link.symlink_to(outside / "victim.txt")
    with pytest.raises(safeio.UnsafeTarget, match="symbolic link"):
        safeio.atomic_write_text(str(link), "attack")
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    with pytest.raises(safeio.UnsafeTarget, match="not a regular file"):
        safeio.atomic_write_bytes(str(fifo), b"x")
    (tmp_path / "dir").mkdir()
    with pytest.raises(safeio.UnsafeTarget):
        safeio.atomic_write_text(str(tmp_path / "dir"), "x")
    assert (outside / "victim.txt").read_text() == "precious\n"
    assert stat.S_ISFIFO(os.lstat(fifo).st_mode) and os.path.islink(link)
    assert sorted(os.listdir(tmp_path)) == ["dir", "fifo", "out.json", "outside"]  # no temp left behind


def test_atomic_write_within_and_umask_and_failure(tmp_path: Any, outside: Any) -> None:
    work = tmp_path / "work"
    work.mkdir()
    (work / "linked").symlink_to(outside)
    with pytest.raises(safeio.UnsafeTarget, match="outside"):
        safeio.atomic_write_text(str(work / "linked" / "new.txt"), "x", within=str(work))
    assert sorted(os.listdir(outside)) == ["victim.txt"]
    tmp_path = work
    old = os.umask(0o027)
    safeio._UMASK = None
    try:
        safeio.atomic_write_text(str(tmp_path / "a.txt"), "hello")
    finally:
        os.umask(old)
        safeio._UMASK = None
    assert stat.S_IMODE(os.stat(tmp_path / "a.txt").st_mode) == 0o640
    with pytest.raises(RuntimeError):
        with safeio.atomic_writer(str(tmp_path / "a.txt")) as fh:
            fh.write("half")
            raise RuntimeError("boom")
    assert (tmp_path / "a.txt").read_text() == "hello"
    assert sorted(os.listdir(tmp_path)) == ["a.txt", "linked"]


def test_lock_never_writes_through_planted_links(repo: Any, outside: Any, capsys: Any) -> None:
    victim = outside / "victim.txt"
    pid = os.getpid()
    # the temp names of earlier versions, for this process and the next thousands of pids
    for p in list(range(max(1, pid - 50), pid + 50)) + [pid]:
        for name in (f".statedict.lock.{p}.tmp",):
            if not (repo / name).exists():
                (repo / name).symlink_to(victim)
    # the cache folder earlier versions wrote inside the repository, as a link out of it
    (repo / ".statedict-lint-cache").symlink_to(outside, target_is_directory=True)
    before = snapshot_of(outside)
    rc, out, err = run(capsys, "lock")
    assert rc == 0 and "wrote statedict.lock" in out and "Traceback" not in err
    assert not os.path.islink(repo / "statedict.lock") and '"pkg/model.py:Block"' in (repo / "statedict.lock").read_text()
    rc, out, _ = run(capsys, "lint", ".")
    rename_attn(repo)
    assert run(capsys, "diff")[0] == 1
    assert snapshot_of(outside) == before  # nothing outside the repository touched

    # the lock file itself planted as a link: refused with one line, exit 2, the target untouched
    os.remove(repo / "statedict.lock")
    (repo / "statedict.lock").symlink_to(victim)
    rc, out, err = run(capsys, "lock")
    assert rc == 2 and err.count("\n") == 1 and "symbolic link" in err and "Traceback" not in err
    assert victim.read_text() == "precious\n" and os.path.islink(repo / "statedict.lock")
    # a FIFO there would hang a reader and be replaced by a writer: refused the same way
    os.remove(repo / "statedict.lock")
    os.mkfifo(repo / "statedict.lock")
    rc, _out, err = run(capsys, "lock")
    assert rc == 2 and "not a regular file" in err and stat.S_ISFIFO(os.lstat(repo / "statedict.lock").st_mode)


def test_cache_entries_never_written_through_links(tmp_path: Any, monkeypatch: Any, outside: Any) -> None:
    from statedict_lint.predict import cache
    from statedict_lint.predict.api import predict, predict_cached

    monkeypatch.setenv("STATEDICT_LINT_CACHE_DIR", str(tmp_path / "c"))
    monkeypatch.chdir(tmp_path)
    (tmp_path / "model.py").write_text(MODEL)
    path = str(tmp_path / "model.py")
    d = cache.cache_dir()
    assert d is not None
    entry = os.path.join(d, cache.key_for(path, "Block", {}) + ".json")
    os.symlink(outside / "victim.txt", entry)
    assert predict_cached(path, "Block").to_json() == predict(path, "Block").to_json()
    assert os.path.islink(entry) and (outside / "victim.txt").read_text() == "precious\n"
    # a planted folder link inside the cache folder is refused as well
    shutil.rmtree(d)
    os.symlink(outside, d, target_is_directory=True)
    assert cache.cache_dir() is None
    assert predict_cached(path, "Block").to_json() == predict(path, "Block").to_json()
    assert sorted(os.listdir(outside)) == ["victim.txt"]


def test_diff_map_out_refuses_a_link(repo: Any, outside: Any, capsys: Any) -> None:
    rename_attn(repo)
    (repo / "map.json").symlink_to(outside / "victim.txt")
    rc, _out, err = run(capsys, "diff", "--no-cache", "--map-out", "map.json")
    assert rc == 2 and "symbolic link" in err and err.count("\n") == 1
    assert (outside / "victim.txt").read_text() == "precious\n"


# -- 12.2: no cache a repository can ship is trusted ---------------------------------------------------

def _review_entries(cache: Any) -> Dict[str, bytes]:
    """{entry path: payload} of the lock/diff snapshot cache (signature verified)."""
    out = {}
    for dirpath, _dirs, files in os.walk(cache / "review"):
        for f in files:
            p = os.path.join(dirpath, f)
            payload = usercache.read_entry(p)
            if payload is not None and f != "project-index-v2.json":
                out[p] = payload
    return out


def _believable(old: bytes, target: str) -> bytes:
    """The old prediction with the reads recorded in the current entry at ``target``: what a forger who
    knows the format writes (believed only if it carries the user's signature)."""
    payload = usercache.read_entry(target)
    assert payload is not None
    return json.dumps({**json.loads(old), "reads": json.loads(payload)["reads"]}).encode()


def _forge_attempts(tmp_path: Any, cache: Any, old: bytes, target: str) -> List[Tuple[str, bytes]]:
    """Ways to put the payload ``old`` at ``target`` without the user's key."""
    other = tmp_path / "other-cache"
    os.environ["STATEDICT_LINT_CACHE_DIR"] = str(other)
    try:
        usercache.write_entry(str(other / os.path.basename(target)), old)  # signed with another user's key
        foreign = (other / os.path.basename(target)).read_bytes()
    finally:
        os.environ["STATEDICT_LINT_CACHE_DIR"] = str(cache)
    signed_elsewhere = [open(p, "rb").read() for p in _review_entries(cache) if usercache.read_entry(p) == old][0]
    believable = _believable(old, target)
    return [("unsigned", old), ("unsigned, with the current reads", believable),
            ("entry of another content, moved", signed_elsewhere),
            ("signed with another key", foreign), ("bad signature", usercache.MAGIC + b"0" * 64 + b"\n" + believable)]


def test_forged_or_committed_cache_cannot_make_lock_check_lie(repo: Any, tmp_path: Any, capsys: Any) -> None:
    cache = tmp_path / "user-cache"
    assert run(capsys, "lock")[0] == 0
    old_entries = _review_entries(cache)
    (old,) = [v for v in old_entries.values() if b'"attn.qkv.weight"' in v]
    rename_attn(repo)
    truth = run(capsys, "lock", "--check", "--no-cache")
    assert truth[0] == 1 and "attn" in truth[1]
    assert run(capsys, "lock", "--check")[:2] == truth[:2]
    (target,) = [p for p in _review_entries(cache) if p not in old_entries]
    believable = _believable(old, target)
    # a repository shipping the cache folder of earlier versions, edited to hold the old prediction
    shipped = repo / ".statedict-lint-cache"
    shipped.mkdir()
    for p in list(old_entries) + [target]:
        dest = shipped / os.path.relpath(p, cache / "review").split(os.sep, 1)[1]
        dest.parent.mkdir(parents=True, exist_ok=True)
        dest.write_bytes(old)
    git(repo, "add", "-A")
    for how, blob in _forge_attempts(tmp_path, cache, old, target):
        with open(target, "wb") as fh:
            fh.write(blob)
        assert run(capsys, "lock", "--check")[:2] == truth[:2], how
    # the check is meaningful: the forged payload signed with the user's key would be believed
    usercache.write_entry(target, believable)
    assert run(capsys, "lock", "--check")[0] == 0


def test_forged_cache_cannot_make_diff_say_no_changes(repo: Any, tmp_path: Any, capsys: Any) -> None:
    cache = tmp_path / "user-cache"
    rename_attn(repo)
    truth = run(capsys, "diff", "--no-cache", "--format", "json")
    assert truth[0] == 1
    assert run(capsys, "diff", "--format", "json")[0] == 1
    entries = _review_entries(cache)
    (old,) = [v for v in entries.values() if b'"attn.qkv.weight"' in v]
    (target,) = [p for p, v in entries.items() if b'"self_attn.qkv.weight"' in v]
    believable = _believable(old, target)
    for how, blob in _forge_attempts(tmp_path, cache, old, target):
        with open(target, "wb") as fh:
            fh.write(blob)
        rc, out, _ = run(capsys, "diff", "--format", "json")
        assert rc == 1, how
        assert json.loads(out)["classes"] == json.loads(truth[1])["classes"], how
    usercache.write_entry(target, believable)  # believed only when signed with the user's key
    assert run(capsys, "diff", "--format", "json")[0] == 0


def test_cache_folder_refused_when_a_link_or_not_private(tmp_path: Any, monkeypatch: Any, repo: Any,
                                                         outside: Any, capsys: Any) -> None:
    link = tmp_path / "cache-link"
    link.symlink_to(outside, target_is_directory=True)
    monkeypatch.setenv("STATEDICT_LINT_CACHE_DIR", str(link))
    rc, out, err = run(capsys, "lock")
    assert rc == 0 and "wrote statedict.lock" in out
    assert "not using the cache folder" in err and "symbolic link" in err and err.count("\n") == 1
    assert sorted(os.listdir(outside)) == ["victim.txt"]
    shared = tmp_path / "shared"
    shared.mkdir()
    os.chmod(shared, 0o777)
    monkeypatch.setenv("STATEDICT_LINT_CACHE_DIR", str(shared))
    rc, _out, err = run(capsys, "lock", "--check")
    assert rc == 0 and "others can write" in err and os.listdir(shared) == []
    # group-writable is fine when the group is the user's own (umask 002 systems), not otherwise
    mine = tmp_path / "mine"
    mine.mkdir()
    os.chmod(mine, 0o775)
    if os.stat(mine).st_gid == os.getegid():
        monkeypatch.setenv("STATEDICT_LINT_CACHE_DIR", str(mine))
        rc, _out, err = run(capsys, "lock", "--check")
        assert rc == 0 and err == "" and "review" in os.listdir(mine)
    if hasattr(os, "geteuid") and os.geteuid() == 0:  # only root can give a folder away
        group = tmp_path / "group"
        group.mkdir()
        os.chmod(group, 0o775)
        os.chown(group, -1, 4242)
        monkeypatch.setenv("STATEDICT_LINT_CACHE_DIR", str(group))
        rc, _out, err = run(capsys, "lock", "--check")
        assert rc == 0 and "others can write" in err and os.listdir(group) == []
        theirs = tmp_path / "theirs"
        theirs.mkdir(mode=0o700)
        os.chown(theirs, 4242, -1)
        monkeypatch.setenv("STATEDICT_LINT_CACHE_DIR", str(theirs))
        rc, _out, err = run(capsys, "lock", "--check")
        assert rc == 0 and "not owned by you" in err and os.listdir(theirs) == []


def test_key_file_is_private_and_a_planted_key_is_refused(tmp_path: Any, monkeypatch: Any) -> None:
    d = tmp_path / "c"
    monkeypatch.setenv("STATEDICT_LINT_CACHE_DIR", str(d))
    assert usercache.folder("x") == str(d / "x")
    st = os.lstat(d / "key")
    assert stat.S_IMODE(st.st_mode) == 0o600 and st.st_size == usercache.KEY_BYTES
    assert stat.S_IMODE(os.lstat(d).st_mode) == 0o700
    # a key readable by others (or a link to one) is not a secret: no cache at all
    d2 = tmp_path / "c2"
    d2.mkdir(mode=0o700)
    (tmp_path / "known").write_bytes(b"k" * usercache.KEY_BYTES)
    (d2 / "key").symlink_to(tmp_path / "known")
    monkeypatch.setenv("STATEDICT_LINT_CACHE_DIR", str(d2))
    assert usercache.folder("x") is None
    assert usercache.read_entry(str(d2 / "x.json")) is None


# -- 12.6: stale and poisoned caches ------------------------------------------------------------------

SDL201_USER = textwrap.dedent('''
    import torch
    from torch import nn
    from blocks import Head

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.head = Head()

    def f():
        model = Net()
        sd = model.state_dict()
        return sd["head.fc.weight"]
''')


def test_lint_cache_follows_the_modules_a_prediction_read(tmp_path: Any) -> None:
    env = {**os.environ, "STATEDICT_LINT_CACHE_DIR": str(tmp_path / "cache")}
    proj = tmp_path / "proj"
    proj.mkdir()

    def lint(*extra: str) -> Tuple[int, str, str]:  # each run a fresh process, as in CI
        p = subprocess.run([sys.executable, "-m", "statedict_lint", "lint", *extra, "use.py"], cwd=proj, env=env,
                           capture_output=True, text=True)
        return p.returncode, p.stdout, p.stderr

    (proj / "blocks.py").write_text("from torch import nn\nclass Head(nn.Module):\n    def __init__(self):\n"
                                    "        super().__init__()\n        self.fc = nn.Linear(2, 2)\n")
    (proj / "use.py").write_text(SDL201_USER)
    assert lint() == lint("--no-cache") == (0, "", "no findings (1 file checked)\n")
    assert lint() == (0, "", "no findings (1 file checked)\n")
    # the imported module changes, the linted file does not: the finding appears, cached or not
    (proj / "blocks.py").write_text((proj / "blocks.py").read_text().replace("self.fc", "self.proj"))
    fresh = lint("--no-cache")
    assert fresh[0] == 1 and "SDL201" in fresh[1]
    assert lint() == fresh
    (proj / "blocks.py").write_text((proj / "blocks.py").read_text().replace("self.proj", "self.fc"))
    assert lint() == (0, "", "no findings (1 file checked)\n")
    # a module that appears and shadows `blocks` (a package folder wins over the module file next to it)
    (proj / "blocks").mkdir()
    (proj / "blocks" / "__init__.py").write_text((proj / "blocks.py").read_text().replace("self.fc", "self.proj"))
    fresh = lint("--no-cache")
    assert fresh[0] == 1 and "SDL201" in fresh[1]
    assert lint() == fresh


SRC = textwrap.dedent('''
    import torch.nn as nn
    from helpers import WIDTH

    class M(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(WIDTH, 2)
''')


def test_prediction_cache_hashes_the_bytes_it_parsed(tmp_path: Any, monkeypatch: Any) -> None:
    from statedict_lint.predict import cache
    from statedict_lint.predict.api import predict_cached
    from statedict_lint.source import loader

    monkeypatch.setenv("STATEDICT_LINT_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.chdir(tmp_path)
    (tmp_path / "helpers.py").write_text("WIDTH = 4\n")
    path = str(tmp_path / "model.py")
    (tmp_path / "model.py").write_text(SRC)
    orig = loader.parse_text

    def edit_after_read(text: str, p: str, lines: bool = True, cache: Any = None) -> Any:
        sf = orig(text, p, lines, cache=cache)
        if p.endswith("helpers.py") and "4" in text:  # someone saves the file while it is being evaluated
            (tmp_path / "helpers.py").write_text("WIDTH = 6\n")
        return sf

    monkeypatch.setattr(loader, "parse_text", edit_after_read)
    assert predict_cached(path, "M").keys[0].shape == (2, 4)  # what was read
    monkeypatch.setattr(loader, "parse_text", orig)
    assert cache.lookup(path, "M", {}) is None  # stored under the bytes read, not the bytes now on disk
    assert predict_cached(path, "M").keys[0].shape == (2, 6)
    assert cache.lookup(path, "M", {}) is not None


def test_prediction_cache_notices_a_module_that_shadows(tmp_path: Any, monkeypatch: Any) -> None:
    from statedict_lint.predict import cache
    from statedict_lint.predict.api import predict_cached

    monkeypatch.setenv("STATEDICT_LINT_CACHE_DIR", str(tmp_path / "cache"))
    lib = tmp_path / "lib"
    lib.mkdir()
    (lib / "helpers.py").write_text("WIDTH = 4\n")
    monkeypatch.syspath_prepend(str(lib))
    proj = tmp_path / "proj"
    proj.mkdir()
    monkeypatch.chdir(proj)
    (proj / "model.py").write_text(SRC)
    path = str(proj / "model.py")
    assert predict_cached(path, "M").keys[0].shape == (2, 4)
    assert cache.lookup(path, "M", {}) is not None
    (proj / "helpers.py").write_text("WIDTH = 6\n")  # the project's own module now wins over lib/
    assert cache.lookup(path, "M", {}) is None
    assert predict_cached(path, "M").keys[0].shape == (2, 6)


def test_lock_cache_follows_installed_modules_and_edits_during_prediction(repo: Any, tmp_path: Any, monkeypatch: Any,
                                                                         capsys: Any) -> None:
    from statedict_lint.review import snapshot

    lib = tmp_path / "site"
    lib.mkdir()
    (lib / "extlib.py").write_text("WIDTH = 8\n")
    monkeypatch.syspath_prepend(str(lib))
    model = repo / "pkg" / "model.py"
    model.write_text(MODEL.replace("def __init__(self, n=8)", "def __init__(self, n=WIDTH)")
                     .replace("import torch.nn as nn", "import torch.nn as nn\nfrom extlib import WIDTH"))
    assert run(capsys, "lock")[0] == 0
    assert run(capsys, "lock", "--check")[0] == 0
    # an installed module the project does not contain changes: the project's files do not
    (lib / "extlib.py").write_text("WIDTH = 16\n")
    truth = run(capsys, "lock", "--check", "--no-cache")
    assert truth[0] == 1 and run(capsys, "lock", "--check")[:2] == truth[:2]
    assert run(capsys, "lock")[0] == 0
    # the file is saved again between the moment its content is hashed and the moment it is predicted
    a_text = model.read_text()
    b_text = a_text.replace("self.attn = Attn(n)", "self.self_attn = Attn(n)")
    orig = snapshot.predict_file

    def saved_meanwhile(*args: Any, **kw: Any) -> Any:
        model.write_text(b_text)
        return orig(*args, **kw)

    shutil.rmtree(tmp_path / "user-cache" / "review")  # (a cold run)
    monkeypatch.setattr(snapshot, "predict_file", saved_meanwhile)
    assert run(capsys, "lock", "--check")[0] == 1  # (predicted from what it read: b)
    monkeypatch.setattr(snapshot, "predict_file", orig)
    model.write_text(a_text)  # back to the content the key was computed from
    truth = run(capsys, "lock", "--check", "--no-cache")
    assert truth[0] == 0 and run(capsys, "lock", "--check")[:2] == truth[:2]


MALFORMED = [b"[]", b"null", b"0", b'"x"', b"{}", b'{"files": []}', b'{"files": {}, "finds": [], "package_roots": {}}',
             b'{"files": {"a": 1}, "finds": [], "package_roots": {}, "prediction": {}}',
             b'{"files": {"/nonexistent": "x"}, "finds": [[1, 2, 3]], "package_roots": []}',
             b'{"classes": null}', b'{"classes": [1, 2]}', b'{"classes": [{"path": 1}]}',
             b'{"classes": [{"path": "p", "name": "N", "keys": [{"key": []}]}]}', b'{"k\\u0000x": []}',
             b'{"found": 3}', b'{"x\\u00000": {"found": [[1]]}}']


def test_malformed_signed_entries_are_misses_not_tracebacks(tmp_path: Any, monkeypatch: Any, repo: Any,
                                                           capsys: Any) -> None:
    from statedict_lint.predict import cache
    from statedict_lint.predict.api import predict, predict_cached

    path = str(repo / "pkg" / "model.py")
    fresh = predict(path, "Block").to_json()
    assert run(capsys, "lock")[0] == 0
    assert run(capsys, "lint", ".")[0] == 0
    predict_cached(path, "Block")
    cache_root = tmp_path / "user-cache"
    entries = [os.path.join(dp, f) for dp, _d, fs in os.walk(cache_root) for f in fs if f.endswith(".json")]
    kinds = {os.path.relpath(e, cache_root).split(os.sep)[0] for e in entries}
    assert kinds == {"predict", "review", "lint"} and any(e.endswith("project-index-v2.json") for e in entries)
    truth = run(capsys, "lock", "--check", "--no-cache")
    originals = {e: usercache.read_entry(e) for e in entries}
    for bad in MALFORMED:
        for e in entries:  # signed: only the shape is wrong (under the real keys of the one-file caches)
            orig = originals[e]
            if e.endswith("project-index-v2.json") or os.path.basename(e).startswith("lint-"):
                assert orig is not None
                usercache.write_entry(e, json.dumps({k: json.loads(bad) for k in json.loads(orig)}).encode())
            else:
                usercache.write_entry(e, bad)
        assert predict_cached(path, "Block").to_json() == fresh, bad
        assert cache.lookup(path, "Block", {}) is not None  # (rewritten by the fresh run)
        rc, out, err = run(capsys, "lock", "--check")
        assert (rc, out) == truth[:2] and "Traceback" not in err, bad
        rc, out, err = run(capsys, "lint", ".")
        assert rc == 0 and "Traceback" not in err and "SDL999" not in out, bad


# -- 12.10: worktree files linking outside the repository --------------------------------------------

SECRET = textwrap.dedent('''
    import torch.nn as nn

    class Secret(nn.Module):
        def __init__(self):
            super().__init__()
            self.private_layer = nn.Linear(3, 3)
''')


def test_lock_and_diff_do_not_follow_py_links_out_of_the_repository(repo: Any, outside: Any, capsys: Any) -> None:
    (outside / "secret.py").write_text(SECRET)
    (repo / "pkg" / "evil.py").symlink_to(outside / "secret.py")
    (repo / "pkg" / "inside.py").symlink_to(repo / "pkg" / "model.py")  # a link inside is an ordinary file
    rc, out, err = run(capsys, "lock")
    assert rc == 0 and err.count("\n") == 1 and "pkg/evil.py" in err and "outside the repository" in err
    lock = (repo / "statedict.lock").read_text()
    assert "Secret" not in lock and "private_layer" not in lock and "pkg/inside.py:Block" in lock
    assert run(capsys, "lock", "--check")[0] == 0
    # nor through an import: the class that subclasses the linked file's class is predicted without it
    (repo / "pkg" / "user.py").write_text(
        "import torch.nn as nn\nfrom pkg.evil import Secret\n\nclass Mine(nn.Module):\n    def __init__(self):\n"
        "        super().__init__()\n        self.inner = Secret()\n        self.fc = nn.Linear(2, 2)\n")
    rc, out, err = run(capsys, "lock")
    lock = (repo / "statedict.lock").read_text()
    assert rc == 0 and '"pkg/user.py:Mine"' in lock and "private_layer" not in lock and "pkg.evil" in lock
    git(repo, "add", "-A")  # committed as a link: still not followed in the work tree
    rc, out, err = run(capsys, "diff", "--no-cache")
    assert "Secret" not in out and "private_layer" not in out and "pkg/evil.py" in err
    # lint's folder walk does not read it either; named explicitly, it is the user's choice
    rc, out, err = run(capsys, "lint", "--no-cache", "pkg")
    assert rc == 0 and "pkg/evil.py" in err and "outside the folder pkg" in err
    assert run(capsys, "lint", "--no-cache", "pkg/evil.py")[2] == "no findings (1 file checked)\n"  # no warning
    # a file given by name is refused the same way (no git: the folder walk)
    shutil.rmtree(repo / ".git")
    rc, out, err = run(capsys, "lock", "--no-cache", "pkg/evil.py")
    assert rc == 0 and "0 classes" in out and "outside the repository" in err


# -- 9 step 1: every cache's tool digest covers the whole package -------------------------------------

DIGESTS = ("from statedict_lint.predict import cache; from statedict_lint.review import snapshot; "
           "from statedict_lint.rules import lintrun as lint; import os, json; "
           "os.environ['STATEDICT_LINT_CACHE_DIR'] = os.path.join(os.getcwd(), 'c'); c = lint.Cache(True); "
           "print(json.dumps([cache._tool_digest(), snapshot.tool_hash(), os.path.basename(c.path), cache.__file__]))")


def test_tool_digest_covers_every_module_of_the_package(tmp_path: Any) -> None:
    import statedict_lint

    src = os.path.dirname(os.path.abspath(statedict_lint.__file__))
    copy = tmp_path / "pkg"
    shutil.copytree(src, copy / "statedict_lint", ignore=shutil.ignore_patterns("__pycache__"))

    def digests() -> List[str]:
        out = subprocess.run([sys.executable, "-c", DIGESTS], cwd=tmp_path, capture_output=True, text=True,
                             env={**os.environ, "PYTHONPATH": str(copy)}, check=True)
        got = json.loads(out.stdout)
        assert got.pop().startswith(str(copy))  # (the copy is what runs)
        return got

    base = digests()
    assert len(set(base)) == 3
    # a new module deep in a new subpackage, then an edit to a module outside predict/ and source/
    (copy / "statedict_lint" / "newpkg" / "deeper").mkdir(parents=True)
    (copy / "statedict_lint" / "newpkg" / "deeper" / "mod.py").write_text("X = 1\n")
    added = digests()
    assert all(a != b for a, b in zip(base, added))
    (copy / "statedict_lint" / "checkpoint" / "records.py").write_text(
        (copy / "statedict_lint" / "checkpoint" / "records.py").read_text() + "\n# edited\n")
    edited = digests()
    assert all(a != b for a, b in zip(added, edited))
    # and every .py file counts: the digest of the tree changes with each one of them
    files = [os.path.join(dp, f) for dp, _d, fs in os.walk(copy) for f in fs if f.endswith(".py")]
    before = usercache.package_digest(str(copy / "statedict_lint"))
    for f in files:
        with open(f, "ab") as fh:
            fh.write(b"\n")
        after = usercache.package_digest(str(copy / "statedict_lint"))
        assert after != before, f
        before = after


def test_non_utf8_file_names_give_one_warning_not_a_traceback(tmp_path):
    """A .py file whose name is not valid UTF-8 (git hands it over as raw bytes) is left out of lock, lock --check
    and diff with one warning line each, never a traceback; the other files are still read."""
    import subprocess
    import sys

    repo = tmp_path / "r"
    repo.mkdir()
    git = ["git", "-C", str(repo), "-c", "user.email=a@b", "-c", "user.name=a"]
    subprocess.run(git + ["init", "-q", "-b", "main"], check=True)
    body = b"import torch.nn as nn\n\nclass A(nn.Module):\n    def __init__(self):\n        super().__init__()\n" \
           b"        self.fc = nn.Linear(2, 3)\n"
    with open(os.path.join(os.fsencode(str(repo)), b"bad\xff.py"), "wb") as fh:
        fh.write(body)
    (repo / "good.py").write_bytes(body.replace(b"class A", b"class B"))
    subprocess.run(git + ["add", "-A"], check=True)
    subprocess.run(git + ["commit", "-qm", "init"], check=True)
    cli = [sys.executable, "-m", "statedict_lint"]
    for args in (["lock"], ["lock", "--check"], ["diff", "HEAD"]):
        r = subprocess.run(cli + args, cwd=repo, capture_output=True, text=True, errors="replace")
        assert r.returncode == 0, (args, r.stderr)
        assert "Traceback" not in r.stderr, (args, r.stderr)
        assert r.stderr.count("the file name is not valid UTF-8; not read") >= 1, (args, r.stderr)
        assert "\\xff" in r.stderr  # the name is shown escaped
    lock = (repo / "statedict.lock").read_text(encoding="utf-8")
    assert "good.py" in lock and "bad" not in lock
