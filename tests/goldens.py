"""Golden outputs: what a person reads from `keys`, `check`, `diff`, `lock --check` and `inspect`, kept verbatim.

Each case of ``tests/test_golden.py`` runs the CLI on files saved by torch in the test and compares its whole
output (stdout and stderr as a terminal shows them, then ``[exit N]``) with ``tests/golden/NAME.txt``. Only what
must vary is normalized: the test's temporary folder becomes ``<tmp>``. Nothing else.

The long examples of README.md, docs/checkpoints.md and docs/review.md are copies of these snapshots, between
``<!-- golden:NAME -->`` and ``<!-- /golden -->``; a test fails when a copy differs from its snapshot.

* ``pytest tests/test_golden.py --update-golden`` (or ``STATEDICT_LINT_UPDATE_GOLDEN=1``) rewrites the snapshots
  from the tool's current output, then the doc blocks from the snapshots;
* ``python tests/goldens.py`` rewrites only the doc blocks from the snapshots (no torch needed);
  ``python tests/goldens.py --check`` exits 1 naming each block that differs.
"""

from __future__ import annotations

import difflib
import io
import os
import re
import shlex
import sys
from contextlib import redirect_stderr, redirect_stdout
from typing import Dict, List, Optional, Sequence, Tuple

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
GOLDEN_DIR = os.path.join(REPO, "tests", "golden")
DOCS = ["README.md", os.path.join("docs", "checkpoints.md"), os.path.join("docs", "review.md")]
ENV_UPDATE = "STATEDICT_LINT_UPDATE_GOLDEN"
WIDTH = 110  # a command line longer than this is shown wrapped with `\` continuations, as a shell accepts it

_BLOCK = re.compile(r"<!-- golden:(?P<name>[A-Za-z0-9_]+) -->\n(?P<body>.*?)<!-- /golden -->", re.S)


def show_command(args: Sequence[str]) -> str:
    """``$ statedict-lint ARGS`` as typed; an option and its value stay on one line when it must wrap."""
    units: List[str] = []
    i = 0
    while i < len(args):
        a = shlex.quote(args[i])
        if args[i].startswith("-") and i + 1 < len(args) and not args[i + 1].startswith("-"):
            a += " " + shlex.quote(args[i + 1])
            i += 1
        units.append(a)
        i += 1
    lines = ["$ statedict-lint"]
    for u in units:
        if len(lines[-1]) + 1 + len(u) > WIDTH:
            lines[-1] += " \\"
            lines.append("      " + u)
        else:
            lines[-1] += " " + u
    return "\n".join(lines)


def run_cli(args: Sequence[str], cwd: str, tmp: str) -> str:
    """One command in-process (the same ``main`` the console script calls), in ``cwd``; stdout and stderr in the
    order written, as on a terminal (neither is a tty here: no colour, no progress lines)."""
    from statedict_lint.cli import main

    buf = io.StringIO()
    old = os.getcwd()
    os.chdir(cwd)
    try:
        with redirect_stdout(buf), redirect_stderr(buf):
            rc = main(list(args))
    finally:
        os.chdir(old)
    return f"{show_command(args)}\n{normalize(buf.getvalue(), tmp)}[exit {rc}]\n"


def normalize(text: str, tmp: str) -> str:
    """The temporary folder (as given and with symlinks resolved) becomes ``<tmp>``; nothing else changes."""
    for t in sorted({tmp, os.path.realpath(tmp)}, key=len, reverse=True):
        text = text.replace(t, "<tmp>")
    if text and not text.endswith("\n"):
        text += "\n"
    return text


def snapshot_path(name: str) -> str:
    return os.path.join(GOLDEN_DIR, f"{name}.txt")


def read_snapshot(name: str) -> Optional[str]:
    try:
        with open(snapshot_path(name), encoding="utf-8") as fh:
            return fh.read()
    except FileNotFoundError:
        return None


def _write(path: str, text: str) -> None:
    os.makedirs(os.path.dirname(path), exist_ok=True)
    tmp = f"{path}.tmp.{os.getpid()}"
    with open(tmp, "w", encoding="utf-8") as fh:
        fh.write(text)
    os.replace(tmp, path)


def readable_diff(expected: str, actual: str, a: str, b: str) -> str:
    return "".join(difflib.unified_diff(expected.splitlines(keepends=True), actual.splitlines(keepends=True),
                                        fromfile=a, tofile=b))


def compare_or_update(name: str, actual: str, update: bool) -> Optional[str]:
    """None when ``actual`` is the snapshot (or was just written to it, with ``update``); else a unified diff
    from the snapshot to the output, with how to accept it."""
    expected = read_snapshot(name)
    if expected == actual:
        return None
    if update:
        _write(snapshot_path(name), actual)
        return None
    rel = os.path.relpath(snapshot_path(name), REPO)
    if expected is None:
        return f"no snapshot {rel}; create it with `pytest tests/test_golden.py --update-golden`\n{actual}"
    how = "if the change is intended: `pytest tests/test_golden.py --update-golden`, then review `git diff`"
    return f"the output differs from {rel} ({how})\n{readable_diff(expected, actual, rel, 'output')}"


def doc_blocks(doc: str) -> List[Tuple[str, str]]:
    """(snapshot name, body between the markers) of every golden block of a document, in order."""
    return [(m.group("name"), m.group("body")) for m in _BLOCK.finditer(doc)]


def block_body(name: str) -> str:
    snap = read_snapshot(name)
    if snap is None:
        raise KeyError(f"no snapshot {os.path.relpath(snapshot_path(name), REPO)}")
    return f"```\n{snap}```\n"


def fill(doc: str) -> str:
    """``doc`` with every golden block's body replaced by its snapshot in a code fence."""
    return _BLOCK.sub(lambda m: f"<!-- golden:{m.group('name')} -->\n{block_body(m.group('name'))}<!-- /golden -->",
                      doc)


def stale_blocks(repo: str = REPO) -> Dict[str, str]:
    """``{"docs/x.md golden:NAME": diff}`` for every block that differs from its snapshot."""
    out: Dict[str, str] = {}
    for rel in DOCS:
        with open(os.path.join(repo, rel), encoding="utf-8") as fh:
            doc = fh.read()
        for name, body in doc_blocks(doc):
            want = block_body(name)
            if body != want:
                out[f"{rel} golden:{name}"] = readable_diff(want, body, f"tests/golden/{name}.txt", rel)
    return out


def fill_docs(repo: str = REPO) -> List[str]:
    """Rewrite every document's golden blocks from the snapshots; the documents that changed."""
    changed = []
    for rel in DOCS:
        path = os.path.join(repo, rel)
        with open(path, encoding="utf-8") as fh:
            doc = fh.read()
        new = fill(doc)
        if new != doc:
            _write(path, new)
            changed.append(rel)
    return changed


def main(argv: Optional[List[str]] = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv == ["--check"]:
        stale = stale_blocks()
        for where, diff in stale.items():
            print(f"{where} differs from its snapshot\n{diff}")
        return 1 if stale else 0
    if argv:
        print("usage: python tests/goldens.py [--check]", file=sys.stderr)
        return 2
    for rel in fill_docs():
        print(f"rewrote the golden blocks of {rel}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
