"""SDL800 lock-drift: a class's predicted state_dict differs from the committed statedict.lock."""

from __future__ import annotations

import hashlib
import os
from typing import TYPE_CHECKING, Iterable, Optional, Tuple

from statedict_lint.rules._base import Context, Rule, Where
from statedict_lint.rules.session import LintSession

if TYPE_CHECKING:  # (the lock file module is imported when a lock is found)
    from statedict_lint.review.lockfile import Lock

ENV_VAR = "STATEDICT_LINT_LOCK"


def find_lock(path: str, configured: Optional[str] = None) -> Optional[str]:
    """The lock given explicitly (the run's ``LintOptions.lock``: ``lint --lock``, flake8's ``--statedict-lock``,
    config ``lock``), else ``$STATEDICT_LINT_LOCK``, else the nearest ``statedict.lock`` in the file's folder or
    above it, up to the repository root (the folder holding ``.git``)."""
    explicit = configured or os.environ.get(ENV_VAR)
    if explicit:
        return explicit if os.path.isfile(explicit) else None
    if not path or path in ("<string>", "stdin", "-"):
        return None
    d = os.path.dirname(os.path.abspath(path))
    while True:
        cand = os.path.join(d, "statedict.lock")
        if os.path.isfile(cand):
            return cand
        if os.path.exists(os.path.join(d, ".git")):
            return None
        parent = os.path.dirname(d)
        if parent == d:
            return None
        d = parent


def _load(lock_path: str, session: LintSession) -> Lock:
    """The parsed lock, remembered by the lint run (bounded), keyed on the file's bytes."""
    from statedict_lint.limits import MAX_LOCK_BYTES, read_regular_text
    from statedict_lint.review import lockfile

    text = read_regular_text(lock_path, MAX_LOCK_BYTES, "lock file")
    key = (os.path.abspath(lock_path), hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest())
    if key not in session.locks:
        session.locks[key] = lockfile.loads(text, lock_path)
    return session.locks[key]


class LockDrift(Rule):
    code = "SDL800"
    message = "state_dict differs from statedict.lock: old checkpoints of this class may no longer load"
    needs = ("Module",)
    what = ("Compares the predicted state_dict of every nn.Module class in the file with the committed "
            "`statedict.lock` (written by `statedict-lint lock`) and flags the line of the attribute that "
            "was renamed, resized, removed or made non-persistent. Silent when there is no lock, when the "
            "file has no locked class, and when a class cannot be predicted.")
    why = ("A model's state_dict is its on-disk API. Renaming `self.attn` to `self.self_attn`, changing a "
           "layer's width or registering a buffer with `persistent=False` breaks every checkpoint saved "
           "before, and `load_state_dict` only tells the user after they downloaded it. The lock makes "
           "the change visible at the line that causes it, while it is being typed.")
    example = """\
# statedict.lock says Block has `attn.c_attn.weight`
class Block(nn.Module):
    def __init__(self, n_embd):
        super().__init__()
        self.self_attn = Attention(n_embd)  # SDL800: renamed `attn.*` -> `self_attn.*`
"""
    use_instead = """\
# either keep the name, or make the change deliberate: re-run `statedict-lint lock`, commit the new
# lock, and ship a migration (`statedict-lint diff` prints a load_state_dict pre-hook and a rename map)
class Block(nn.Module):
    def __init__(self, n_embd):
        super().__init__()
        self.attn = Attention(n_embd)
"""
    # Without a lock on disk the rule is silent, so the examples only show silence; the drift cases are
    # tested with real lock files in tests/test_lock.py.
    valid = [
        "import torch.nn as nn\n\n\nclass Block(nn.Module):\n    def __init__(self):\n"
        "        super().__init__()\n        self.fc = nn.Linear(2, 2)\n",
    ]
    invalid: list = []
    needs_lock = True

    @staticmethod
    def applies(path: str, session: LintSession) -> bool:
        """Worth parsing the file for: only when a lock exists for it (else the rule is silent anyway)."""
        return find_lock(path, session.options.lock) is not None

    def check(self, ctx: Context) -> Iterable[Tuple[Where, str]]:
        if not ctx.module_classes and "Module" not in ctx.source:
            return
        lock_path = find_lock(ctx.path, ctx.session.options.lock)
        if lock_path is None:
            return
        from statedict_lint.review import lockfile
        from statedict_lint.errors import UserError

        try:
            lock = _load(lock_path, ctx.session)
        except (UserError, OSError):
            return  # an unreadable lock is reported by `lock --check`, not on every file
        for f in lockfile.drift_findings(ctx.path, ctx.source, lock):
            yield (f.line, f.col), f.message
