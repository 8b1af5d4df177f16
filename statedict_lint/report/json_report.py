"""json: a list of findings with 1-based ``line`` and ``column``."""

from __future__ import annotations

import json
from typing import Any, List

from statedict_lint.findings import Finding


def as_dict(f: Finding) -> dict:
    d = {"code": f.code, "name": f.name, "message": f.message, "path": f.path, "line": f.line,
         "column": f.col + 1, "severity": f.severity}
    if f.end_line is not None:
        d["end_line"] = f.end_line
    if f.extra:
        d["extra"] = f.extra
    return d


def render(findings: List[Finding], **_: Any) -> str:
    return json.dumps([as_dict(f) for f in findings], indent=2, default=str) + "\n"
