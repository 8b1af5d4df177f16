"""Reports: one module per output format, all over ``statedict_lint.findings.Finding``.

``render(findings, fmt, tool_name=..., tool_version=..., rules=...) -> str`` is shared by lint, check,
diff and lock --check. Formats: text, json, github, markdown, sarif.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Dict, Iterable, List, Optional

from statedict_lint.findings import Finding

if TYPE_CHECKING:
    from statedict_lint.codes import RuleDescriptor

FORMATS = ["text", "json", "github", "markdown", "sarif"]


def render(findings: Iterable[Finding], fmt: str = "text", *, tool_name: str = "statedict-lint",
           tool_version: Optional[str] = None, rules: Optional[List[RuleDescriptor]] = None,
           root: Optional[str] = None) -> str:
    """Render findings in ``fmt``. ``rules`` (id, name, short, help_uri) describe codes for SARIF;
    when omitted, the lint rule registry is used for codes it knows."""
    if fmt not in FORMATS:
        from statedict_lint.errors import UserError

        raise UserError(f"unknown report format {fmt!r} (choose from {', '.join(FORMATS)})")
    if tool_version is None:
        from statedict_lint import __version__ as tool_version
    mod = importlib.import_module(f"statedict_lint.report.{fmt}_report")
    items = sorted(findings, key=Finding.sort_key)
    return mod.render(items, tool_name=tool_name, tool_version=tool_version, rules=rules, root=root)


def rule_descriptions(codes: Iterable[str]) -> List[RuleDescriptor]:
    """SARIF descriptors of ``codes`` from the one registry (``statedict_lint.codes``); a lint rule's help is its
    docs' "What it does". A code the registry does not know gets a bare entry."""
    from statedict_lint.codes import CODES, LINT, RuleDescriptor, descriptors

    wanted = set(codes)
    helps: Dict[str, str] = {}
    if wanted & set(LINT):
        from statedict_lint.rules.engine import all_rules

        helps = {r.code: r.what for r in all_rules() if r.what}
    out = descriptors([CODES[c] for c in wanted if c in CODES], helps)
    out += [RuleDescriptor(id=c, name="", short=c) for c in sorted(wanted - set(CODES))]
    return out
