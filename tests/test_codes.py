"""The one registry of codes (statedict_lint/codes.py): every code is defined there once, and what is generated
from it (rule names, SARIF descriptors, docs tables) agrees with it."""

from __future__ import annotations

import ast
import json
import os
import pathlib
import re
import shutil

import pytest

from statedict_lint import codes
from statedict_lint.rules import gendocs
from statedict_lint.rules.engine import all_rules

REPO = pathlib.Path(__file__).resolve().parent.parent
PKG = REPO / "statedict_lint"
RULE_FILES = sorted((PKG / "rules").glob("sdl[0-9][0-9][0-9]_*.py"))


def _rule_classes(path: pathlib.Path):
    """(class name, code) of every class in a rule module that sets ``code = "SDL..."``."""
    out = []
    for node in ast.parse(path.read_text(encoding="utf-8")).body:
        if isinstance(node, ast.ClassDef):
            for st in node.body:
                if isinstance(st, ast.Assign) and [getattr(t, "id", None) for t in st.targets] == ["code"]:
                    out.append((node.name, st.value.value))  # type: ignore[attr-defined]
    return out


@pytest.mark.parametrize("path", RULE_FILES, ids=lambda p: p.stem)
def test_file_class_and_rule_name_agree(path):
    (cls, code), = _rule_classes(path)  # one rule per module
    name = codes.kebab(cls)
    assert path.stem == f"{code.lower()}_{name.replace('-', '_')}", (path.name, cls)
    assert codes.get(code).name == name, f"{cls} -> {name}, the registry says {codes.get(code).name}"
    rule = next(r for r in all_rules() if r.code == code)
    assert (rule.name, rule.default_enabled, rule.severity) == (name, codes.get(code).default_enabled,
                                                                codes.get(code).severity)


def test_kebab_case():
    assert codes.kebab("LoadStateDictResultIgnored") == "load-state-dict-result-ignored"
    assert codes.kebab("LockDrift") == "lock-drift"
    assert codes.kebab("SDLThing") == "sdl-thing"


def test_every_lint_code_has_exactly_one_rule_and_every_rule_a_code():
    assert sorted(r.code for r in all_rules()) == sorted(codes.LINT)


def test_registry_is_well_formed():
    names = [c.name for c in codes.CODES.values()]
    assert len(names) == len(set(names)), "two codes share a name"
    for c in codes.CODES.values():
        assert re.fullmatch(r"SDL\d{3}", c.code) and re.fullmatch(r"[a-z0-9]+(-[a-z0-9]+)*", c.name), c
        assert c.severity in ("error", "warning", "note") and c.summary.strip(), c
        assert c.breaking is False or c.code.startswith("SDL8"), c  # only review findings say "breaking"
        assert c.default_enabled == (not c.code.startswith("SDL90")), c
    assert {c.code[:4] for c in codes.CHECK.values()} == {"SDL3"}
    assert {c.code[:4] for c in codes.REVIEW.values()} == {"SDL8"} and codes.LOCK_DRIFT not in \
        {c.code for c in codes.REVIEW.values()}
    assert len(codes.CHECK) == len(codes._CHECK) and len(codes.REVIEW) == len(codes._REVIEW)  # kinds unique


def test_no_code_is_written_outside_the_registry():
    """A string that is exactly a code (``"SDL303"``) appears only in codes.py and as a rule module's ``code``:
    every other module names codes through the registry (check_code("size"), review_code(kind), constants)."""
    bad = []
    for path in sorted(PKG.rglob("*.py")):
        if path == PKG / "codes.py":
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"))
        allowed = set()
        if path in RULE_FILES:
            allowed = {id(st.value) for node in tree.body if isinstance(node, ast.ClassDef) for st in node.body
                       if isinstance(st, ast.Assign) and [getattr(t, "id", None) for t in st.targets] == ["code"]}
        for node in ast.walk(tree):
            if isinstance(node, ast.Constant) and isinstance(node.value, str) \
                    and re.fullmatch(r"SDL\d{3}", node.value) and id(node) not in allowed:
                bad.append(f"{path.relative_to(REPO)}:{node.lineno}: {node.value}")
    assert not bad, "codes written outside statedict_lint/codes.py:\n" + "\n".join(bad)


def test_review_breaking_kinds_come_from_the_registry():
    from statedict_lint.review import structdiff

    assert structdiff.BREAKING_KINDS is codes.BREAKING_KINDS
    assert {"renamed", "removed", "added", "reshaped", "class-removed"} <= codes.BREAKING_KINDS
    assert not {"dtype", "class-added", "moved", "unknown"} & codes.BREAKING_KINDS
    assert codes.review_code("no-such-kind").name == "cannot-compare"  # never a guessed code


def test_sarif_descriptors_come_from_the_registry():
    from statedict_lint import report
    from statedict_lint.findings import Finding

    fs = [Finding(c, "m", "a.py", 1) for c in ("SDL001", "SDL303", "SDL805", "SDL901", codes.SYNTAX_ERROR, "SDL777")]
    log = json.loads(report.render(fs, "sarif"))
    rules = {r["id"]: r for r in log["runs"][0]["tool"]["driver"]["rules"]}
    for code in ("SDL001", "SDL303", "SDL805", "SDL901", codes.SYNTAX_ERROR):
        c = codes.get(code)
        assert rules[code]["name"] == c.name and rules[code]["shortDescription"]["text"] == c.summary, code
    assert rules["SDL001"]["fullDescription"]["text"] == next(r for r in all_rules() if r.code == "SDL001").what
    assert rules["SDL901"]["defaultConfiguration"] == {"enabled": False}
    assert rules["SDL777"]["shortDescription"]["text"] == "SDL777"


def test_diff_findings_use_the_registry_name_and_level():
    from statedict_lint.review.revisions import DiffResult, findings
    from statedict_lint.review.structdiff import Change

    def one(kind, breaking):
        res = DiffResult.__new__(DiffResult)
        ch = Change(kind, "m.py:Net", "a.", "b.", path="m.py", line=3, breaking=breaking)
        res.roots = lambda: [(type("CD", (), {"cls": "m.py:Net"})(), ch)]  # type: ignore[method-assign]
        res.affects = {}
        (f,) = findings(res)
        return f

    f = one("reshaped", True)
    assert (f.code, f.name, f.severity) == ("SDL805", "key-reshaped", "error")
    f = one("reshaped", False)  # a breaking kind the diff is not sure of: a warning, never an error
    assert f.severity == "warning"
    f = one("class-added", False)
    assert (f.code, f.severity) == (codes.REVIEW["class-added"].code, "note")


@pytest.mark.parametrize("path,name,table", gendocs.TABLES, ids=lambda x: str(x))
def test_docs_code_tables_are_generated_and_fresh(path, name, table):
    text = (REPO / path).read_text(encoding="utf-8")
    assert text == gendocs.with_table(text, name, table()), \
        f"{path}: the code table is stale: run python -m statedict_lint.rules.gendocs"
    for c in (codes.CHECK if name == "SDL3" else codes.REVIEW).values():
        assert f"| {c.code} | {c.name} |" in text


def test_gendocs_check_detects_a_stale_code_table(tmp_path):
    for name in ("checkpoints.md", "review.md", "rules.md"):
        shutil.copy(REPO / "docs" / name, tmp_path / name)
    args = ["--output", str(tmp_path / "rules.md"), "--docs", str(tmp_path)]
    assert gendocs.main(["--check", *args]) == 0
    review = tmp_path / "review.md"
    review.write_text(review.read_text(encoding="utf-8").replace("| SDL803 | key-removed |", "| SDL803 | gone |"),
                      encoding="utf-8")
    assert gendocs.main(["--check", *args]) == 1
    assert gendocs.main(args) == 0 and "| SDL803 | key-removed |" in review.read_text(encoding="utf-8")
    assert gendocs.main(["--check", *args]) == 0
    review.write_text("no markers\n", encoding="utf-8")
    assert gendocs.main(["--check", *args]) == 2  # a file without its block: said, not silently skipped
    assert os.path.exists(tmp_path / "checkpoints.md")
