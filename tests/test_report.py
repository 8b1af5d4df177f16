"""Report formats over Finding: text, json, github, markdown, and SARIF validated against the official schema."""

from __future__ import annotations

import json
import os

import jsonschema
import pytest

from statedict_lint.errors import UserError
from statedict_lint.findings import Finding
from statedict_lint.report import FORMATS, render

SCHEMA = os.path.join(os.path.dirname(os.path.abspath(__file__)), "data", "sarif-schema-2.1.0.json")

FINDINGS = [
    Finding("SDL002", "torch.load() without map_location", path="src/train.py", line=12, col=8,
            name="torch-load-without-map-location"),
    Finding("SDL001", "result, thrown: away\nsecond line | pipe 100%", path="src/a b.py", line=3, col=0,
            severity="warning", name="load-state-dict-result-ignored", end_line=4),
    Finding("SDL800", "whole-file finding", path="model.py", line=0, col=0, name="lock-drift"),
    Finding("CHK001", "checkpoint without a location", severity="note"),
]


def test_text_is_sorted_with_one_based_columns():
    out = render(FINDINGS, "text").splitlines()
    assert out[0] == "-: CHK001 checkpoint without a location"
    assert "model.py: SDL800 whole-file finding" in out
    assert "src/train.py:12:9: SDL002 torch.load() without map_location" in out


def test_json_round_trip():
    data = json.loads(render(FINDINGS, "json"))
    by = {d["code"]: d for d in data}
    assert by["SDL002"]["column"] == 9 and by["SDL002"]["line"] == 12 and by["SDL002"]["path"] == "src/train.py"
    assert by["SDL001"]["end_line"] == 4 and by["SDL001"]["severity"] == "warning"


def test_github_annotations_escape_properties_and_data():
    lines = render(FINDINGS, "github").splitlines()
    sdl001 = next(ln for ln in lines if "SDL001" in ln)
    assert sdl001.startswith("::warning file=src/a b.py,line=3,col=1,endLine=4,title=SDL001 load-state-dict-")
    assert "%0A" in sdl001 and "100%25" in sdl001 and "\n" not in sdl001
    assert "result, thrown: away" in sdl001.split("::", 2)[2]  # data keeps , and :
    note = next(ln for ln in lines if "CHK001" in ln)
    assert note.startswith("::notice ") and "file=" not in note and "line=" not in note
    assert next(ln for ln in lines if "SDL002" in ln).startswith("::error file=src/train.py,line=12,col=9,")


def test_markdown_table_escapes_cells():
    out = render(FINDINGS, "markdown")
    assert out.startswith("**statedict-lint**: 4 findings")
    row = next(ln for ln in out.splitlines() if "SDL001" in ln)
    assert row.count(" | ") == 2 and "\\|" in row and "\n" not in row and "away\\\\nsecond" in row
    assert render([], "markdown") == "**statedict-lint**: no findings.\n"


@pytest.mark.parametrize("findings", [FINDINGS, []], ids=["findings", "empty"])
def test_sarif_validates_against_official_schema(findings):
    with open(SCHEMA, encoding="utf-8") as fh:
        schema = json.load(fh)
    log = json.loads(render(findings, "sarif", tool_version="1.2.3"))
    jsonschema.Draft4Validator.check_schema(schema)
    jsonschema.Draft4Validator(schema, format_checker=jsonschema.FormatChecker()).validate(log)
    run = log["runs"][0]
    assert log["version"] == "2.1.0" and run["tool"]["driver"]["version"] == "1.2.3"
    assert len(run["results"]) == len(findings)
    rules = run["tool"]["driver"]["rules"]
    for res in run["results"]:
        assert rules[res["ruleIndex"]]["id"] == res["ruleId"]


def test_sarif_locations():
    log = json.loads(render(FINDINGS, "sarif"))
    res = {r["ruleId"]: r for r in log["runs"][0]["results"]}
    loc = res["SDL002"]["locations"][0]["physicalLocation"]
    assert loc["artifactLocation"]["uri"] == "src/train.py"
    assert loc["region"] == {"startLine": 12, "startColumn": 9}
    assert res["SDL001"]["locations"][0]["physicalLocation"]["artifactLocation"]["uri"] == "src/a%20b.py"
    assert "region" not in res["SDL800"]["locations"][0]["physicalLocation"]
    assert "locations" not in res["CHK001"] and res["CHK001"]["level"] == "note"
    rules = {r["id"]: r for r in log["runs"][0]["tool"]["driver"]["rules"]}
    assert rules["SDL001"]["name"] == "load-state-dict-result-ignored"  # described from the rule registry
    assert "fullDescription" in rules["SDL001"]


def test_sarif_rejects_what_the_schema_rejects():
    """The validator is live: a broken log fails it (guards against a vacuous schema)."""
    with open(SCHEMA, encoding="utf-8") as fh:
        schema = json.load(fh)
    log = json.loads(render(FINDINGS, "sarif"))
    log["runs"][0]["results"][0]["level"] = "fatal"
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.Draft4Validator(schema).validate(log)


def test_caller_rules_are_not_mutated():
    rules = [{"id": "X1", "name": "x", "short": "x"}]
    render([Finding("Y2", "m", path="a.py", line=1)], "sarif", rules=rules)
    assert rules == [{"id": "X1", "name": "x", "short": "x"}]


def test_unknown_format():
    with pytest.raises(UserError):
        render(FINDINGS, "xml")
    assert set(FORMATS) == {"text", "json", "github", "markdown", "sarif"}
