"""CLI conventions (issue 11 item 7): colour only on a terminal, honouring NO_COLOR and --color; progress on
stderr only when stderr is a terminal; paths relative to the working directory in text output."""

from __future__ import annotations

import os
import pty
import subprocess
import sys
from typing import Any, Dict, List, Tuple

import pytest

torch = pytest.importorskip("torch")

ESC = "\x1b["
MODEL = ("import torch.nn as nn\n\nclass Net(nn.Module):\n    def __init__(self, n_classes=10):\n"
         "        super().__init__()\n        self.fc = nn.Linear(4, n_classes)\n")


def run_tty(args: List[str], cwd: Any, env: Dict[str, str], tty_out: bool = True,
            tty_err: bool = False) -> Tuple[int, str, str]:
    """Run the CLI with stdout and/or stderr on a pseudo-terminal; -> (rc, stdout, stderr)."""
    fds = {}
    files = {}
    for name, on in (("out", tty_out), ("err", tty_err)):
        if on:
            master, slave = pty.openpty()
            fds[name] = (master, slave)
            files[name] = slave
        else:
            files[name] = subprocess.PIPE
    p = subprocess.Popen([sys.executable, "-m", "statedict_lint", *args], cwd=cwd, env=env,
                         stdout=files["out"], stderr=files["err"], stdin=subprocess.DEVNULL)
    for _name, (_m, slave) in fds.items():
        os.close(slave)
    text = {"out": "", "err": ""}

    def drain(master: int) -> str:
        chunks = []
        while True:
            try:
                data = os.read(master, 65536)
            except OSError:
                break
            if not data:
                break
            chunks.append(data)
        return b"".join(chunks).decode("utf-8", "replace")

    import threading

    readers = []
    for name, (master, _s) in fds.items():
        def work(n: str = name, m: int = master) -> None:
            text[n] = drain(m)
        t = threading.Thread(target=work)
        t.start()
        readers.append(t)
    out, err = p.communicate(timeout=300)
    for t in readers:
        t.join(timeout=60)
    for _name, (master, _s) in fds.items():
        os.close(master)
    if out is not None:
        text["out"] = out.decode()
    if err is not None:
        text["err"] = err.decode()
    return p.returncode, text["out"], text["err"]


@pytest.fixture
def proj(tmp_path: Any) -> Any:
    (tmp_path / "net.py").write_text(MODEL)
    torch.save({"fc.weight": torch.zeros(3, 4), "fc.bias": torch.zeros(3)}, tmp_path / "ck.pt")
    env = dict(os.environ, STATEDICT_LINT_CACHE_DIR=str(tmp_path / ".cache"))
    env.pop("NO_COLOR", None)
    env.pop("STATEDICT_LINT_PROGRESS_DELAY", None)
    env["TERM"] = "xterm"
    return tmp_path, env


def test_colour_on_a_terminal_only(proj: Any) -> None:
    tmp, env = proj
    rc, out, _ = run_tty(["check", "net.py:Net", "ck.pt"], tmp, env)
    assert rc == 1 and ESC + "1;31mFAIL" in out and ESC + "31merror" in out
    piped = subprocess.run([sys.executable, "-m", "statedict_lint", "check", "net.py:Net", "ck.pt"], cwd=tmp,
                           env=env, capture_output=True, text=True, timeout=300)
    assert piped.returncode == 1 and ESC not in piped.stdout and piped.stdout.startswith("FAIL:")


@pytest.mark.parametrize("how", ["NO_COLOR", "--color never", "--color=never before the command", "TERM=dumb"])
def test_colour_can_be_turned_off(proj: Any, how: str) -> None:
    tmp, env = proj
    args = ["check", "net.py:Net", "ck.pt"]
    if how == "NO_COLOR":
        env["NO_COLOR"] = "1"
    elif how == "TERM=dumb":
        env["TERM"] = "dumb"
    elif how == "--color never":
        args += ["--color", "never"]
    else:
        args = ["--color=never"] + args
    rc, out, _ = run_tty(args, tmp, env)
    assert rc == 1 and ESC not in out and out.startswith("FAIL:")


def test_colour_always_when_asked_even_into_a_pipe(proj: Any) -> None:
    tmp, env = proj
    env["NO_COLOR"] = "1"  # --color always wins, as an explicit request
    out = subprocess.run([sys.executable, "-m", "statedict_lint", "check", "net.py:Net", "ck.pt", "--color", "always"],
                         cwd=tmp, env=env, capture_output=True, text=True, timeout=300)
    assert ESC + "1;31mFAIL" in out.stdout
    bad = subprocess.run([sys.executable, "-m", "statedict_lint", "check", "--color", "pink"], cwd=tmp, env=env,
                         capture_output=True, text=True, timeout=300)
    assert bad.returncode == 2 and len(bad.stderr.strip().splitlines()) == 1 and "--color" in bad.stderr


def _lock_project(tmp: Any) -> None:
    pkg = tmp / "pkg"
    pkg.mkdir()
    for i in range(30):
        (pkg / f"m{i}.py").write_text(MODEL.replace("class Net", f"class Net{i}"))
    subprocess.run(["git", "init", "-q"], cwd=tmp, check=True)


def test_progress_on_a_terminal_stderr_only(proj: Any) -> None:
    tmp, env = proj
    _lock_project(tmp)
    env["STATEDICT_LINT_PROGRESS_DELAY"] = "0"  # (the real delay keeps quick runs silent)
    rc, out, err = run_tty(["lock", "--no-cache"], tmp, env, tty_out=False, tty_err=True)
    assert rc == 0 and "statedict-lint lock: " in err and "files" in err
    assert err.endswith("\r" + ESC + "K")  # the status line is erased at the end
    assert ESC not in out and out.startswith("wrote statedict.lock: 31 classes")
    piped = subprocess.run([sys.executable, "-m", "statedict_lint", "lock", "--no-cache", "--check"], cwd=tmp, env=env,
                           capture_output=True, text=True, timeout=300)
    assert piped.returncode == 0 and piped.stderr == ""  # not a terminal: no progress at all
    rc, _out, err = run_tty(["check", "net.py:Net", "ck.pt"], tmp, env, tty_out=False, tty_err=True)
    assert rc == 1 and "statedict-lint check: " in err


def test_paths_relative_to_the_working_directory(proj: Any) -> None:
    tmp, env = proj
    _lock_project(tmp)
    assert subprocess.run([sys.executable, "-m", "statedict_lint", "lock"], cwd=tmp, env=env,
                          capture_output=True, timeout=300).returncode == 0
    src = tmp / "pkg" / "m3.py"
    src.write_text(src.read_text().replace("nn.Linear(4, n_classes)", "nn.Linear(8, n_classes)"))
    sub = tmp / "pkg"
    out = subprocess.run([sys.executable, "-m", "statedict_lint", "lock", "--check"], cwd=sub, env=env,
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 1, out.stdout + out.stderr
    # (display_path: a path outside the working directory stays absolute rather than ../..)
    assert out.stdout.startswith(f"{tmp / 'statedict.lock'} is out of date")
    assert "\nm3.py:" in out.stdout  # relative to pkg/, where it runs, not to the repository root
    keys = subprocess.run([sys.executable, "-m", "statedict_lint", "keys", f"{tmp}/pkg/m3.py:Net3"], cwd=sub, env=env,
                          capture_output=True, text=True, timeout=300)
    assert keys.stdout.startswith("m3.py:Net3: 2 keys")


def test_check_headline_paths_relative_to_the_working_directory(proj: Any) -> None:
    tmp, env = proj
    (tmp / "sub").mkdir()
    out = subprocess.run([sys.executable, "-m", "statedict_lint", "check", f"{tmp}/net.py:Net", str(tmp / "ck.pt")],
                         cwd=tmp, env=env, capture_output=True, text=True, timeout=300)
    assert out.stdout.startswith("FAIL: load_state_dict(strict=True) of the file of ck.pt into net.py:Net fails")
    data = subprocess.run([sys.executable, "-m", "statedict_lint", "check", f"{tmp}/net.py:Net", str(tmp / "ck.pt"),
                           "--format", "json"], cwd=tmp, env=env, capture_output=True, text=True, timeout=300)
    assert f'"checkpoint": "{tmp / "ck.pt"}"' in data.stdout  # the JSON fields stay as given (stable)
