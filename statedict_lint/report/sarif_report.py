"""sarif: SARIF 2.1.0 (validated against the official schema in the tests)."""

from __future__ import annotations

import json
import os
from typing import Any, Dict, List, Optional

from statedict_lint.codes import RuleDescriptor
from statedict_lint.findings import Finding

SCHEMA_URI = "https://json.schemastore.org/sarif-2.1.0.json"
_LEVEL = {"error": "error", "warning": "warning", "note": "note"}


def _uri(path: str, root: Optional[str]) -> str:
    p = path
    if root and os.path.isabs(p):
        try:
            p = os.path.relpath(p, root)
        except ValueError:
            pass
    p = p.replace(os.sep, "/")
    from urllib.parse import quote

    return quote(p, safe="/:._-~")


def render(findings: List[Finding], tool_name: str = "statedict-lint", tool_version: str = "",
           rules: Optional[List[RuleDescriptor]] = None, root: Optional[str] = None, **_: Any) -> str:
    if rules is None:
        from statedict_lint.report import rule_descriptions

        rules = rule_descriptions(f.code for f in findings)
    rules = list(rules)  # (the descriptors themselves are not changed)
    index = {r["id"]: i for i, r in enumerate(rules)}
    for f in findings:  # codes the caller did not describe still need a descriptor
        if f.code not in index:
            index[f.code] = len(rules)
            rules.append(RuleDescriptor(id=f.code, name=f.name, short=f.code))
    descriptors = []
    for r in rules:
        d: Dict[str, Any] = {"id": r["id"], "shortDescription": {"text": r.get("short") or r["id"]}}
        if r.get("name"):
            d["name"] = r["name"]
        if r.get("help"):
            d["fullDescription"] = {"text": r["help"]}
        if r.get("default_enabled") is False:
            d["defaultConfiguration"] = {"enabled": False}
        descriptors.append(d)
    results = []
    for f in findings:
        res: Dict[str, Any] = {"ruleId": f.code, "ruleIndex": index[f.code],
                               "level": _LEVEL.get(f.severity, "error"), "message": {"text": f.message}}
        if f.path:
            phys: Dict[str, Any] = {"artifactLocation": {"uri": _uri(f.path, root)}}
            if f.line >= 1:
                region: Dict[str, Any] = {"startLine": f.line, "startColumn": f.col + 1}
                if f.end_line and f.end_line >= f.line:
                    region["endLine"] = f.end_line
                phys["region"] = region
            res["locations"] = [{"physicalLocation": phys}]
        results.append(res)
    log = {
        "$schema": SCHEMA_URI,
        "version": "2.1.0",
        "runs": [{
            "tool": {"driver": {"name": tool_name, "version": tool_version, "rules": descriptors,
                                "informationUri": "https://pypi.org/project/statedict-lint/"}},
            "columnKind": "unicodeCodePoints",
            "results": results,
        }],
    }
    return json.dumps(log, indent=2) + "\n"
