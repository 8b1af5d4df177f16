"""markdown: a table for pull-request comments and job summaries."""

from __future__ import annotations

from typing import Any, List

from statedict_lint.findings import Finding
from statedict_lint.report.escape import markdown


def _cell(s: str) -> str:
    """A table cell holding text from files: inert markdown (escape.markdown), on one line."""
    return markdown(s)


def render(findings: List[Finding], tool_name: str = "statedict-lint", **_: Any) -> str:
    if not findings:
        return f"**{tool_name}**: no findings.\n"
    n = len(findings)
    lines = [f"**{tool_name}**: {n} finding{'s' if n != 1 else ''}", "",
             "| Location | Code | Message |", "|---|---|---|"]
    for f in findings:
        loc = f.path or "-"
        if f.line:
            loc += f":{f.line}:{f.col + 1}"
        code = f.code + (f" `{f.name}`" if f.name else "")
        lines.append(f"| {_cell('`' + loc.replace('`', '') + '`')} | {_cell(code)} | {_cell(f.message)} |")
    return "\n".join(lines) + "\n"
