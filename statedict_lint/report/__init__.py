"""Reports: one module per output format, all over ``statedict_lint.findings.Finding``.

``render(findings, fmt, tool_name=..., tool_version=..., rules=...) -> str`` is shared by lint, check,
diff and lock --check. Formats: text, json, github, markdown, sarif.
"""

from __future__ import annotations

import importlib
from typing import Any, Dict, Iterable, List, Optional

from statedict_lint.findings import Finding

FORMATS = ["text", "json", "github", "markdown", "sarif"]


def render(findings: Iterable[Finding], fmt: str = "text", *, tool_name: str = "statedict-lint",
           tool_version: Optional[str] = None, rules: Optional[List[Dict[str, Any]]] = None,
           root: Optional[str] = None) -> str:
    """Render findings in ``fmt``. ``rules`` (id, name, short, help_uri) describe codes for SARIF;
    when omitted, the lint rule registry is used for codes it knows."""
    if fmt not in FORMATS:
        from statedict_lint.errors import UserError

        raise UserError(f"unknown report format {fmt!r} (choose from {', '.join(FORMATS)})")
    if tool_version is None:
        from statedict_lint import __version__ as tool_version  # type: ignore[no-redef]
    mod = importlib.import_module(f"statedict_lint.report.{fmt}_report")
    items = sorted(findings, key=Finding.sort_key)
    return mod.render(items, tool_name=tool_name, tool_version=tool_version, rules=rules, root=root)


def rule_descriptions(codes: Iterable[str]) -> List[Dict[str, Any]]:
    """Descriptions of the lint rules behind ``codes`` (unknown codes get a bare entry)."""
    try:
        from statedict_lint.rules.engine import all_rules

        known = {r.code: r for r in all_rules()}
    except Exception:  # pragma: no cover
        known = {}
    out = []
    for code in sorted(set(codes)):
        r = known.get(code)
        out.append({"id": code, "name": r.name if r else "", "short": r.message if r else code,
                    "help": (r.what if r else ""), "default_enabled": r.default_enabled if r else True})
    return out
