"""text: ``path:line:col: CODE message`` (1-based columns), one finding per line."""

from __future__ import annotations

from typing import Any, List

from statedict_lint.findings import Finding
from statedict_lint.report.escape import text


def render(findings: List[Finding], **_: Any) -> str:
    out = []
    for f in findings:
        loc = f.path or "-"
        if f.line:
            loc += f":{f.line}:{f.col + 1}"
        out.append(text(f"{loc}: {f.code} {f.message}"))
    return "".join(line + "\n" for line in out)
