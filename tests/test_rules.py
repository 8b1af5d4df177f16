"""The rule framework: every rule's own VALID/INVALID examples, metadata, generated docs, fixtures."""

from __future__ import annotations

import ast
import os
import re
import subprocess
import sys

import pytest

from statedict_lint.rules import gendocs
from statedict_lint.rules._base import Context
from statedict_lint.rules.engine import all_rules, is_enabled, lint_source, noqa_map, run_rules

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FIXTURES = os.path.join(REPO, "tests", "lint_fixtures")
RULES = all_rules()
LINT_RULES = [r for r in RULES if not getattr(r, "needs_lock", False)]


def _examples(kind):
    return [pytest.param(r, i, id=f"{r.code}-{kind}{i}") for r in RULES for i in range(len(getattr(r, kind)))]


def _on_disk(tmp_path, src):
    """Examples live in a real file: the predictor-backed rule reads the model class from it."""
    path = tmp_path / "example.py"
    path.write_text(src, encoding="utf-8")
    return str(path)


@pytest.mark.parametrize("rule,i", _examples("valid"))
def test_valid_examples_are_silent(rule, i, tmp_path):
    found = lint_source(rule.valid[i], _on_disk(tmp_path, rule.valid[i]), [rule])
    assert found == [], found


@pytest.mark.parametrize("rule,i", _examples("invalid"))
def test_invalid_examples_are_flagged(rule, i, tmp_path):
    found = lint_source(rule.invalid[i], _on_disk(tmp_path, rule.invalid[i]), [rule])
    assert found and {f.code for f in found} == {rule.code}, found
    for f in found:
        assert "{" not in f.message, f.message  # every placeholder filled in


@pytest.mark.parametrize("rule", RULES, ids=lambda r: r.code)
def test_rule_metadata(rule):
    assert re.fullmatch(r"SDL\d{3}", rule.code)
    assert re.fullmatch(r"[a-z0-9]+(-[a-z0-9]+)+", rule.name)
    for attr in ("message", "what", "why", "example", "use_instead"):
        assert getattr(rule, attr).strip(), f"{rule.code} has no {attr}"
    assert rule.valid, f"{rule.code} has no valid example"
    if not getattr(rule, "needs_lock", False):
        assert rule.invalid, f"{rule.code} has no invalid example"
    # opinionated band is off by default, and only that band
    assert rule.default_enabled == (not rule.code.startswith("SDL9")), rule.code


def test_codes_and_names_are_unique():
    assert len({r.code for r in RULES}) == len(RULES)
    assert len({r.name for r in RULES}) == len(RULES)


@pytest.mark.parametrize("rule", LINT_RULES, ids=lambda r: r.code)
def test_doc_snippets_parse_and_use_instead_is_clean(rule):
    """Both doc snippets are valid Python; the Use instead snippet raises nothing (torch imported)."""
    head = "import torch\nimport torch.nn as nn\nfrom torch import nn\n"
    bad = head + _wrap(rule.example)
    good = head + _wrap(rule.use_instead)
    ast.parse(bad)
    ast.parse(good)
    assert not [f for f in lint_source(good, "x.py", [rule])], rule.code


def _wrap(snippet):
    # snippets with a bare `...` line stay valid Python
    return snippet


def test_docs_are_generated_and_fresh():
    path = os.path.join(REPO, "docs", "rules.md")
    with open(path, encoding="utf-8") as fh:
        text = fh.read()
    assert text == gendocs.generate(), "docs/rules.md is stale: run python -m statedict_lint.rules.gendocs"
    for r in RULES:
        start = text.index(f"## {r.code} `{r.name}`")
        end = text.find("\n## ", start + 1)
        section = text[start:end if end != -1 else len(text)]
        for title in gendocs.SECTIONS:
            assert f"### {title}" in section, (r.code, title)


def test_gendocs_check_detects_stale_file(tmp_path):
    import shutil

    for name in ("checkpoints.md", "review.md"):  # fresh copies: only rules.md is stale here
        shutil.copy(os.path.join(REPO, "docs", name), tmp_path / name)
    out = tmp_path / "rules.md"
    out.write_text("# old\n", encoding="utf-8")
    args = ["--output", str(out), "--docs", str(tmp_path)]
    assert gendocs.main(["--check", *args]) == 1
    assert gendocs.main(args) == 0
    assert gendocs.main(["--check", *args]) == 0
    assert out.read_text(encoding="utf-8") == gendocs.generate()


_EXPECT = re.compile(r"#\s*(SDL\d{3}(?:\s*,\s*SDL\d{3})*)\s*$")


def _expected(source):
    exp = set()
    for i, line in enumerate(source.splitlines(), 1):
        m = _EXPECT.search(line)
        if m and "noqa" not in line:
            exp |= {(i, c) for c in re.findall(r"SDL\d{3}", m.group(1))}
    return exp


@pytest.mark.parametrize("name", sorted(n for n in os.listdir(FIXTURES) if n.endswith(".py")))
def test_fixture_expectations(name, tmp_path):
    """bugbear-style: each `# SDLnnn` comment is exactly one finding on that line, and nothing else."""
    with open(os.path.join(FIXTURES, name), encoding="utf-8") as fh:
        src = fh.read()
    # outside tests/: files in a test folder are test files, where the loading rules stay silent
    path = tmp_path / name
    path.write_text(src, encoding="utf-8")
    path = str(path)
    got = {(f.line, f.code) for f in lint_source(src, path, LINT_RULES)}
    assert got == _expected(src)


def test_fixtures_cover_every_lint_rule():
    seen = set()
    for name in os.listdir(FIXTURES):
        if name.endswith(".py"):
            with open(os.path.join(FIXTURES, name), encoding="utf-8") as fh:
                seen |= {c for _, c in _expected(fh.read())}
    assert {r.code for r in LINT_RULES} <= seen


def test_unresolvable_names_are_silent():
    with open(os.path.join(FIXTURES, "unresolved.py"), encoding="utf-8") as fh:
        src = fh.read()
    assert lint_source(src, "unresolved.py", RULES) == []


def test_import_map_resolution():
    src = ("import torch as T\nimport torch.nn as tnn\nfrom torch import load as tl, nn\n"
           "from torch.nn.modules.linear import Linear\nimport os.path\n")
    ctx = Context(ast.parse(src), src)
    q = lambda s: ctx.qualname(ast.parse(s, mode="eval").body)  # noqa: E731
    assert q("T.load") == "torch.load"
    assert q("tnn.Conv2d") == "torch.nn.Conv2d"
    assert q("tl") == "torch.load"
    assert q("nn.Linear") == "torch.nn.Linear"
    assert q("Linear") == "torch.nn.Linear"
    assert q("torch.load") is None  # `torch` itself was never bound
    assert q("unknown.load") is None


def test_conflicting_import_is_unknown():
    src = "import torch\nif x:\n    import numpy as torch\ntorch.load(p)\n"
    assert lint_source(src, "x.py", RULES) == []


def test_noqa_variants():
    lines = ["a  # noqa", "b  # noqa: SDL001", "c  # NOQA:SDL001,SDL002", "d  # noqa:E501 SDL003", "e"]
    m = noqa_map(lines)
    assert m[1] is None
    assert m[2] == ("SDL001",)
    assert m[3] == ("SDL001", "SDL002")
    assert m[4] == ("E501", "SDL003")
    assert 5 not in m


def test_noqa_is_per_code():
    src = "import torch\nsd = torch.load(p)  # noqa: SDL002\n"
    assert {f.code for f in lint_source(src, "x.py")} == {"SDL003"}
    assert lint_source(src.replace("  # noqa: SDL002", "  # noqa"), "x.py") == []
    assert {f.code for f in lint_source(src, "x.py", honour_noqa=False)} == {"SDL002", "SDL003"}


def test_select_ignore_logic():
    by = {r.code: r for r in RULES}
    assert is_enabled(by["SDL001"])
    assert not is_enabled(by["SDL901"])
    assert is_enabled(by["SDL901"], select=["SDL"])  # an explicit select beats the default ignore (as flake8)
    assert is_enabled(by["SDL901"], select=["SDL9"])
    assert is_enabled(by["SDL901"], extend_select=["SDL901"])
    assert not is_enabled(by["SDL002"], select=["SDL001"])
    assert not is_enabled(by["SDL002"], ignore=["SDL00"])
    assert is_enabled(by["SDL002"], select=["SDL002"], ignore=["SDL0"])  # more specific wins


def test_internal_error_becomes_one_finding(monkeypatch):
    rule = RULES[0]

    def boom(ctx):
        raise ValueError("kaboom")
        yield  # pragma: no cover

    monkeypatch.setattr(rule, "check", boom)
    src = "import torch\nmodel.load_state_dict(sd, strict=False)\n"
    found = run_rules(ast.parse(src), src, "x.py", [rule])
    assert [(f.code, f.line) for f in found] == [("SDL999", 1)]
    assert "kaboom" in found[0].message


def test_syntax_error_is_one_finding():
    found = lint_source("import torch\ndef f(:\n", "bad.py")
    assert [(f.code, f.line) for f in found] == [("SDL998", 2)]


def test_rules_never_import_torch():
    code = ("import sys\nfrom statedict_lint.rules.engine import all_rules, lint_source\n"
            "import statedict_lint.flake8_plugin, statedict_lint.commands.lint, statedict_lint.report\n"
            f"src = open({os.path.join(FIXTURES, 'train_resume.py')!r}).read()\n"
            "assert lint_source(src, 'x.py', all_rules())\n"
            "assert 'torch' not in sys.modules, 'torch was imported'\n")
    subprocess.run([sys.executable, "-c", code], check=True, cwd=REPO)
