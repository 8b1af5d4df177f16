"""`statedict-lint lint`: exit codes, noqa, select/ignore, config files, recursion, formats, cache."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from statedict_lint.cli import main

BAD = "import torch\n\nstate = torch.load('m.pt')\nmodel.load_state_dict(state, strict=False)\n"
GOOD = "import torch\n\nstate = torch.load('m.pt', map_location='cpu', weights_only=True)\n"


def run(capsys, *argv):
    rc = main(["lint", *argv])
    out, err = capsys.readouterr()
    return rc, out, err


@pytest.fixture
def proj(tmp_path, monkeypatch):
    monkeypatch.setenv("STATEDICT_LINT_CACHE_DIR", str(tmp_path.parent / (tmp_path.name + "-cache")))
    monkeypatch.chdir(tmp_path)
    (tmp_path / "bad.py").write_text(BAD, encoding="utf-8")
    (tmp_path / "good.py").write_text(GOOD, encoding="utf-8")
    return tmp_path


def test_exit_codes(proj, capsys):
    rc, out, _ = run(capsys, "bad.py")
    assert rc == 1
    assert out.splitlines() == [
        "bad.py:3:9: SDL002 torch.load() without map_location: tensors are restored to the device they were "
        "saved from",
        "bad.py:3:9: SDL003 torch.load() without weights_only=True: unpickling a checkpoint can execute "
        "arbitrary code (the default depends on the torch version)",
        "bad.py:4:1: SDL001 load_state_dict(..., strict=False) result thrown away: missing and unexpected keys "
        "are silently ignored",
    ]
    assert run(capsys, "good.py")[0] == 0


def test_no_path_lints_the_current_folder_and_prints_a_summary(proj, capsys):
    rc, out, err = run(capsys, "--no-cache")
    assert rc == 1
    assert {line.split(":")[0] for line in out.splitlines()} == {os.path.join(".", "bad.py")}
    assert err == "3 findings in 1 file (2 files checked)\n"
    (proj / "bad.py").unlink()
    assert run(capsys, "--no-cache") == (0, "", "no findings (1 file checked)\n")
    # the summary never mixes with machine-readable output
    (proj / "bad.py").write_text(BAD, encoding="utf-8")
    rc, out, err = run(capsys, "--no-cache", "--format", "json")
    assert len(json.loads(out)) == 3 and err.startswith("3 findings in 1 file")


def _stdin(monkeypatch, data: bytes):
    import io

    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(data), encoding="utf-8"))


def test_stdin_with_display_name(proj, capsys, monkeypatch):
    _stdin(monkeypatch, BAD.encode())
    rc, out, err = run(capsys, "-", "--stdin-display-name", "src/train.py")
    assert rc == 1
    where = [ln.split(": ")[0] for ln in out.splitlines()]
    assert where == ["src/train.py:3:9", "src/train.py:3:9", "src/train.py:4:1"]
    assert err == "3 findings in 1 file (1 file checked)\n"
    _stdin(monkeypatch, BAD.encode())
    assert run(capsys, "-")[1].splitlines()[0].startswith("stdin:3:9: SDL002")
    # the display name decides what the file is: a test file's loads are not flagged
    _stdin(monkeypatch, BAD.encode())
    assert run(capsys, "-", "--stdin-display-name", "tests/test_train.py")[:2] == (0, "")
    _stdin(monkeypatch, BAD.encode())
    rc, _, err = run(capsys, "-", "bad.py")
    assert rc == 2 and err.count("\n") == 1 and "stdin" in err


def test_pep263_encoding_header_is_decoded_as_python_does(proj, capsys):
    src = "# -*- coding: latin-1 -*-\nimport torch\n# caf\xe9\nsd = torch.load('m.pt', weights_only=True)\n"
    (proj / "latin.py").write_bytes(src.encode("latin-1"))
    rc, out, _ = run(capsys, "--no-cache", "latin.py")
    assert rc == 1 and [ln.split(": ")[1].split()[0] for ln in out.splitlines()] == ["SDL002"]
    assert out.startswith("latin.py:4:6: SDL002")
    # the same bytes without the header are not UTF-8: one SDL998, no traceback
    (proj / "nohdr.py").write_bytes(src.split("\n", 1)[1].encode("latin-1"))
    rc, out, err = run(capsys, "--no-cache", "nohdr.py")
    assert rc == 1 and out.startswith("nohdr.py:1:1: SDL998 cannot decode file as utf-8") and "Traceback" not in err
    (proj / "bogus.py").write_bytes(b"# coding: no-such-codec\nimport torch\n")
    rc, out, _ = run(capsys, "--no-cache", "bogus.py")
    assert rc == 1 and out.startswith("bogus.py:1:1: SDL998") and "no-such-codec" in out


@pytest.mark.parametrize("argv", [("--select", "SDL0O1"), ("--ignore", "E501"), ("--extend-select", "SDL9X")])
def test_unknown_code_is_a_usage_error(proj, capsys, argv):
    rc, out, err = run(capsys, *argv, "bad.py")
    assert rc == 2 and out == "" and err.count("\n") == 1 and "unknown rule code" in err and argv[1] in err


def test_unknown_code_in_config_is_a_usage_error(proj, capsys):
    (proj / "setup.cfg").write_text("[statedict-lint]\nselect = SDL07\n", encoding="utf-8")
    rc, _, err = run(capsys, "bad.py")
    assert rc == 2 and "setup.cfg: select: unknown rule code 'SDL07'" in err


def test_known_prefixes_are_accepted(proj, capsys):
    for sel in ("SDL", "SDL0", "SDL00", "SDL001", "SDL9", "SDL99", "SDL998"):
        assert run(capsys, "--select", sel, "good.py")[0] == 0, sel


def test_missing_path_is_a_usage_error(proj, capsys):
    rc, out, err = run(capsys, "nope.py")
    assert rc == 2 and "nope.py" in err and "Traceback" not in err


def test_directories_are_recursed_and_venvs_skipped(proj, capsys):
    (proj / "pkg" / "sub").mkdir(parents=True)
    (proj / "pkg" / "sub" / "m.py").write_text(BAD, encoding="utf-8")
    for skip in (".venv", ".git", "node_modules"):
        (proj / skip).mkdir()
        (proj / skip / "x.py").write_text(BAD, encoding="utf-8")
    (proj / "notes.txt").write_text(BAD, encoding="utf-8")
    rc, out, _ = run(capsys, "--no-cache", ".")
    files = {line.split(":")[0] for line in out.splitlines()}
    assert rc == 1
    assert files == {os.path.join(".", "bad.py"), os.path.join(".", "pkg", "sub", "m.py")}


def test_noqa_handling(proj, capsys):
    (proj / "n.py").write_text("import torch\nx = torch.load(p)  # noqa: SDL002\ny = torch.load(p)  # noqa\n",
                               encoding="utf-8")
    rc, out, _ = run(capsys, "n.py")
    assert rc == 1 and [line.split()[1] for line in out.splitlines()] == ["SDL003"]


def test_select_ignore_and_extend_select(proj, capsys):
    assert {ln.split()[1] for ln in run(capsys, "--select", "SDL001", "bad.py")[1].splitlines()} == {"SDL001"}
    assert {ln.split()[1] for ln in run(capsys, "--ignore", "SDL00", "bad.py")[1].splitlines()} == set()
    assert run(capsys, "--ignore", "SDL00", "bad.py")[0] == 0
    out = run(capsys, "--extend-select", "SDL901", "bad.py")[1]
    assert {ln.split()[1] for ln in out.splitlines()} == {"SDL001", "SDL002", "SDL003", "SDL901"}


def test_config_from_pyproject(proj, capsys):
    (proj / "pyproject.toml").write_text('[project]\nname = "x"\n\n[tool.statedict-lint]\nignore = ["SDL002"]\n'
                                         'extend-select = ["SDL901"]\n', encoding="utf-8")
    out = run(capsys, "bad.py")[1]
    assert {ln.split()[1] for ln in out.splitlines()} == {"SDL001", "SDL003", "SDL901"}
    # the command line wins over the file
    out = run(capsys, "--ignore", "SDL003", "bad.py")[1]
    assert {ln.split()[1] for ln in out.splitlines()} == {"SDL001", "SDL002", "SDL901"}


def test_config_from_setup_cfg(proj, capsys):
    (proj / "setup.cfg").write_text("[statedict-lint]\nselect = SDL001, SDL003\n", encoding="utf-8")
    out = run(capsys, "bad.py")[1]
    assert {ln.split()[1] for ln in out.splitlines()} == {"SDL001", "SDL003"}


def test_mini_toml_parser_matches_tomllib():
    from statedict_lint.rules.config import _mini_toml_table

    text = ('[tool.other]\nselect = ["X"]\n[tool.statedict-lint]\nselect = [\n  "SDL0",  # loading\n'
            '  \'SDL1\',\n]\nignore = "SDL003"\n[tool.after]\nignore = ["Y"]\n')
    assert _mini_toml_table(text, "p") == {"select": ["SDL0", "SDL1"], "ignore": "SDL003"}
    try:
        import tomllib
    except ModuleNotFoundError:  # pragma: no cover
        return
    assert tomllib.loads(text)["tool"]["statedict-lint"] == _mini_toml_table(text, "p")


def test_invalid_pyproject_is_a_usage_error(proj, capsys):
    (proj / "pyproject.toml").write_text("[tool.statedict-lint\nselect = \n", encoding="utf-8")
    rc, _, err = run(capsys, "bad.py")
    assert rc == 2 and "pyproject.toml" in err


def test_json_format_has_one_based_columns(proj, capsys):
    rc, out, _ = run(capsys, "--format", "json", "bad.py")
    data = json.loads(out)
    assert rc == 1
    assert [(d["code"], d["line"], d["column"]) for d in data] == [("SDL002", 3, 9), ("SDL003", 3, 9),
                                                                   ("SDL001", 4, 1)]


def test_github_format(proj, capsys):
    out = run(capsys, "--format", "github", "bad.py")[1]
    assert out.splitlines()[0].startswith("::error file=bad.py,line=3,col=9,title=SDL002 ")


def test_syntax_error_is_reported_not_raised(proj, capsys):
    (proj / "broken.py").write_text("import torch\ndef f(:\n", encoding="utf-8")
    rc, out, err = run(capsys, "broken.py")
    assert rc == 1 and "broken.py:2:1: SDL998" in out and "Traceback" not in err


def test_cache_is_used_and_invalidated_by_content(proj, capsys):
    first = run(capsys, "bad.py")[1]
    # in the user's cache folder, never in the linted tree
    cache = os.environ["STATEDICT_LINT_CACHE_DIR"]
    assert [f for f in os.listdir(os.path.join(cache, "lint")) if f.endswith(".json")]
    assert not os.path.exists(proj / ".statedict-lint-cache")
    # a cached run must not parse again: make the engine explode and expect the same output
    import statedict_lint.rules.engine as engine
    from statedict_lint.rules import lintrun as lint_cmd

    orig = engine.lint_source
    lint_cmd_lint_source = []

    def explode(*a, **k):
        lint_cmd_lint_source.append(a)
        return orig(*a, **k)

    engine.lint_source = explode
    try:
        assert run(capsys, "bad.py")[1] == first
        # only the rules that read other files (lock drift, classes of other project files) run again
        cacheable = [a for a in lint_cmd_lint_source if not all(lint_cmd._uncached(r) for r in a[2])]
        assert cacheable == []
        # changing the content is a miss
        (proj / "bad.py").write_text(BAD + "torch.save(model, 'x')\n", encoding="utf-8")
        run(capsys, "bad.py")
        assert [a for a in lint_cmd_lint_source if not all(lint_cmd._uncached(r) for r in a[2])]
    finally:
        engine.lint_source = orig


def test_console_script(proj):
    exe = os.path.join(os.path.dirname(sys.executable), "statedict-lint")
    p = subprocess.run([exe, "lint", "bad.py"], capture_output=True, text=True)
    assert p.returncode == 1 and "SDL001" in p.stdout
