"""The one finding type shared by lint, check, diff and lock --check, and rendered by report/."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any, Dict, Optional


@dataclass
class Finding:
    code: str  # e.g. "SDL001"
    message: str
    path: str = ""
    line: int = 0  # 1-based; 0 = whole file / no location
    col: int = 0  # 0-based (flake8 convention); reports print col + 1
    severity: str = "error"  # "error" | "warning" | "note"
    name: str = ""  # kebab-case rule name
    extra: Dict[str, Any] = field(default_factory=dict)
    end_line: Optional[int] = None

    def sort_key(self) -> tuple:
        return (self.path, self.line, self.col, self.code)


def display_path(path: str) -> str:
    """A path as shown to the user: relative to the working directory when inside it, else as given
    (absolute paths elsewhere stay absolute, never `../../root/...`)."""
    if not path:
        return path
    rel = os.path.relpath(path)
    return path if rel.startswith("..") else rel.replace(os.sep, "/")
