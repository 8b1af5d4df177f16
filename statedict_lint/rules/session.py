"""What one lint run owns: its options and its in-process caches, each bounded (``memo.LRU``).

``statedict-lint lint`` makes one per run, the flake8 plugin one per flake8 run (in ``parse_options``), a bare
``engine.lint_source`` / ``run_rules`` call one per call unless given one. Rules read it as ``ctx.session``; nothing
about a run travels through module globals.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Optional

from statedict_lint.memo import LRU
from statedict_lint.rules._project import ProjectFacts


@dataclass(frozen=True)
class LintOptions:
    lock: Optional[str] = None  # SDL800's statedict.lock given explicitly (--lock, --statedict-lock, config `lock`)


class LintSession:
    PREDICTIONS = 256  # SDL201: complete predictions of classes loaded with literal keys
    LOCKS = 8  # SDL800: parsed lock files
    MODULE_CLASSES = 4096  # (file, class) -> is it an nn.Module subclass (classes of other project files)

    def __init__(self, options: Optional[LintOptions] = None) -> None:
        self.options = options or LintOptions()
        self.project = ProjectFacts()
        self.predictions: LRU[Any] = LRU(self.PREDICTIONS)
        self.locks: LRU[Any] = LRU(self.LOCKS)
        self.module_classes: LRU[bool] = LRU(self.MODULE_CLASSES)
