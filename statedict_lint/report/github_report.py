"""github: workflow commands that annotate the pull request (``::error file=...,line=...,col=...::msg``)."""

from __future__ import annotations

from typing import Any, List

from statedict_lint.findings import Finding
from statedict_lint.report.escape import text

_LEVEL = {"error": "error", "warning": "warning", "note": "notice"}


def _esc_data(s: str) -> str:
    # the workflow-command escapes first, then every other control character made visible (escape.text)
    return text(s.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A"))


def _esc_prop(s: str) -> str:
    return _esc_data(s).replace(":", "%3A").replace(",", "%2C")


def render(findings: List[Finding], **_: Any) -> str:
    out = []
    for f in findings:
        props = []
        if f.path:
            props.append(f"file={_esc_prop(f.path)}")
        if f.line:
            props.append(f"line={f.line}")
            props.append(f"col={f.col + 1}")
        if f.end_line:
            props.append(f"endLine={f.end_line}")
        props.append(f"title={_esc_prop(f.code + (' ' + f.name if f.name else ''))}")
        out.append(f"::{_LEVEL.get(f.severity, 'error')} {','.join(props)}::{_esc_data(f.code + ' ' + f.message)}")
    return "".join(line + "\n" for line in out)
