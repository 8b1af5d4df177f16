"""flake8 plugin: the SDL rules inside flake8 (entry point ``SDL = statedict_lint.flake8_plugin:Plugin``).

flake8 hands us the ``ast`` tree it already parsed and the file's lines; we never parse again, never
import torch, and never raise: an internal error becomes one SDL999 finding. flake8 handles ``# noqa``,
``--select``/``--ignore`` itself; opinionated SDL9xx rules are added to its default ignore list so they
run only when selected (``--extend-select=SDL901``).
"""

from __future__ import annotations

import ast
import os
from typing import Any, Iterator, Sequence, Tuple

from statedict_lint import __version__
from statedict_lint.codes import INTERNAL_ERROR


class Plugin:
    name = "statedict-lint"
    version = __version__
    # the flake8 run's lint session (options and bounded caches), made by parse_options: flake8 hands options to the
    # plugin class, not to its instances
    session: Any = None

    def __init__(self, tree: ast.Module, filename: str = "<stdin>", lines: Sequence[str] = ()) -> None:
        self._tree = tree
        self._filename = filename
        self._lines = lines

    @classmethod
    def add_options(cls, option_manager: Any) -> None:
        from statedict_lint.rules.engine import default_off_codes

        try:
            option_manager.extend_default_ignore(default_off_codes())
        except Exception:  # pragma: no cover - very old flake8
            pass
        try:
            option_manager.add_option("--statedict-lock", default=None, parse_from_config=True,
                                      help="statedict.lock for SDL800 lock-drift (default: $STATEDICT_LINT_LOCK, "
                                           "else the nearest statedict.lock above each file)")
        except Exception:  # pragma: no cover - an option of the same name registered elsewhere
            pass

    @classmethod
    def parse_options(cls, options: Any) -> None:
        from statedict_lint.rules.session import LintOptions, LintSession

        lock = getattr(options, "statedict_lock", None)
        cls.session = LintSession(LintOptions(lock=os.path.abspath(lock) if lock else None))

    def run(self) -> Iterator[Tuple[int, int, str, type]]:
        try:
            source = "".join(self._lines)
            if "torch" not in source and "state_dict" not in source and "Module" not in source:
                return
            from statedict_lint.rules.engine import all_rules, run_rules

            found = run_rules(self._tree, source, self._filename, all_rules(), type(self).session)
        except Exception as exc:  # never crash flake8
            yield 1, 0, f"{INTERNAL_ERROR} statedict-lint internal error ({type(exc).__name__}: {exc}); file not checked", \
                type(self)
            return
        for f in found:
            yield f.line, f.col, f"{f.code} {f.message}", type(self)
