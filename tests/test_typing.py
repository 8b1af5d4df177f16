"""The package is type-checked and ships its types: what `make test` runs and what the wheel carries are stated
here from the configuration files (nothing is built or type-checked in these tests: `make test` runs mypy
itself), plus the bugs the type checker found, each pinned by its behaviour."""

from __future__ import annotations

import os
import re
import sys
import textwrap
from typing import Any, Dict, List, Tuple

import pytest

from statedict_lint.cli import main

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PACKAGE = os.path.join(ROOT, "statedict_lint")

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    tomllib = pytest.importorskip("tomli")


def _pyproject() -> Dict[str, Any]:
    with open(os.path.join(ROOT, "pyproject.toml"), "rb") as fh:
        return tomllib.load(fh)


def _make_recipe(target: str) -> List[str]:
    """The command lines of a Makefile target."""
    lines = open(os.path.join(ROOT, "Makefile"), encoding="utf-8").read().splitlines()
    start = next(i for i, ln in enumerate(lines) if ln.startswith(target + ":"))
    out = []
    for ln in lines[start + 1:]:
        if not ln.startswith("\t"):
            break
        out.append(ln.strip())
    return out


def test_the_wheel_ships_py_typed() -> None:
    cfg = _pyproject()["tool"]["setuptools"]
    assert "py.typed" in cfg["package-data"]["statedict_lint"]
    assert any(re.fullmatch(p.replace("*", ".*"), "statedict_lint") for p in cfg["packages"]["find"]["include"])
    assert os.path.isfile(os.path.join(PACKAGE, "py.typed"))


def test_make_test_runs_mypy_on_the_package_before_pytest() -> None:
    recipe = _make_recipe("test")
    mypy = [i for i, c in enumerate(recipe) if re.search(r"-m mypy statedict_lint\b", c)]
    pytest_ = [i for i, c in enumerate(recipe) if re.search(r"-m pytest tests\b", c)]
    assert mypy and pytest_ and mypy[0] < pytest_[0], recipe
    ci = open(os.path.join(ROOT, ".ci", "run"), encoding="utf-8").read()
    assert re.search(r"^make test$", ci, re.MULTILINE)


def test_mypy_is_a_pinned_dev_dependency() -> None:
    dev = _pyproject()["project"]["optional-dependencies"]["dev"]
    assert "mypy" in [re.split(r"[<>=!~ \[]", d)[0] for d in dev]
    pins = open(os.path.join(ROOT, "constraints.txt"), encoding="utf-8").read()
    assert re.search(r"^mypy==\d+\.\d+\.\d+$", pins, re.MULTILINE)


def test_mypy_configuration_keeps_its_strictness() -> None:
    cfg = _pyproject()["tool"]["mypy"]
    assert cfg["python_version"] == "3.11"
    for flag in ("check_untyped_defs", "no_implicit_optional", "warn_unused_ignores", "warn_redundant_casts",
                 "strict_equality"):
        assert cfg.get(flag) is True, flag
    assert "ignore-without-code" in cfg.get("enable_error_code", [])
    # missing imports are ignored only for the optional heavy libraries, never for the whole package
    assert "ignore_missing_imports" not in cfg
    allowed = {"torch", "safetensors", "transformers", "flake8"}
    for override in cfg.get("overrides", []):
        if override.get("ignore_missing_imports"):
            assert {m.split(".")[0] for m in override["module"]} <= allowed, override
    # what is left out of the check is the two model files read as text, never imported
    for pattern in [cfg["exclude"]] if isinstance(cfg.get("exclude"), str) else cfg.get("exclude", []):
        excluded = [os.path.relpath(os.path.join(d, f), ROOT).replace(os.sep, "/")
                    for d, _, fs in os.walk(PACKAGE) for f in fs if f.endswith(".py")]
        excluded = [p for p in excluded if re.search(pattern, p)]
        assert sorted(excluded) == ["statedict_lint/predict/catalog/torch_nn.py",
                                    "statedict_lint/predict/catalog/transformers_runtime.py"], excluded


def _ignores() -> List[Tuple[str, int, str, str]]:
    out = []
    for d, _, files in os.walk(PACKAGE):
        for f in files:
            if not f.endswith(".py"):
                continue
            path = os.path.join(d, f)
            lines = open(path, encoding="utf-8").read().splitlines()
            for i, line in enumerate(lines):
                if "# type: ignore" in line:
                    out.append((os.path.relpath(path, ROOT), i + 1, line, lines[i - 1] if i else ""))
    return out


def test_every_type_ignore_names_its_error_code_and_says_why() -> None:
    bad = []
    for path, n, line, above in _ignores():
        m = re.search(r"# type: ignore(\[[a-z-]+(, *[a-z-]+)*\])?(.*)$", line)
        assert m is not None
        reason_here = m.group(3).strip().startswith("#")
        reason_above = above.strip().startswith("#")
        if m.group(1) is None or not (reason_here or reason_above):
            bad.append(f"{path}:{n}: {line.strip()}")
    assert not bad, "\n".join(bad)


@pytest.mark.parametrize("pyproject", [
    '[project]\nname = "x"\noptional-dependencies = ["torch>=2"]\n',  # a list where a table belongs
    '[project]\nname = "x"\ndependencies = "torch>=2"\n',  # a string: not a list of requirements
    'dependency-groups = ["torch"]\n',
    '[tool]\npoetry = 1  # torch\n',
    '[tool.poetry.group]\ndev = "torch"\n',
])
def test_lint_reads_a_pyproject_of_the_wrong_shape_without_a_traceback(pyproject: str, tmp_path: Any,
                                                                        monkeypatch: Any, capsys: Any) -> None:
    # the types of rules/_project.py's TOML reading found these: `.values()` on a list crashed `lint`
    (tmp_path / "pyproject.toml").write_text(pyproject)
    (tmp_path / "train.py").write_text("import torch\nsd = torch.load('a.pt')\n")
    monkeypatch.chdir(tmp_path)
    rc = main(["lint", "--no-cache", "train.py"])
    out, err = capsys.readouterr()
    assert "Traceback" not in err and "SDL999" not in out, err
    assert rc == 1 and "SDL002" in out  # (the file is still linted; no torch bound is read from the file)


def test_torch_requirements_are_read_from_each_table_of_the_right_shape() -> None:
    from statedict_lint.rules._project import _pyproject_requirements

    text = textwrap.dedent("""\
        [project]
        dependencies = ["torch>=2.1", 3]
        [project.optional-dependencies]
        a = ["torch>=2.3"]
        b = "torch>=9"
        [dependency-groups]
        dev = ["torch>=2.2"]
        [tool.poetry.dependencies]
        torch = {version = "^2.4"}
        [tool.poetry.group.x.dependencies]
        torch = "2.5.1"
        """)
    assert _pyproject_requirements(text) == ["torch>=2.1", "torch>=2.3", "torch>=2.2", "torch>=2.4", "torch==2.5.1"]


def test_a_project_index_entry_of_another_shape_is_parsed_again() -> None:
    from statedict_lint.review.project import _info_from_json, _info_to_json, parse_file

    src = "import torch.nn as nn\nfrom .blocks import Block\n\nclass Net(nn.Module):\n    def __init__(self):\n" \
          "        super().__init__()\n        self.b = Block()\n"
    fi = parse_file("pkg/net.py", src)
    good = _info_to_json(fi)
    assert _info_from_json("pkg/net.py", good) == fi
    for key, bad in [("names", {"nn": 1}), ("imported_modules", "torch.nn"), ("defined", [1]),
                     ("classes", [["Net", "4", [], []]]), ("classes", [["Net", 4, "nn.Module", []]]),
                     ("syntax_error", 3)]:
        with pytest.raises((ValueError, KeyError, TypeError)):
            _info_from_json("pkg/net.py", {**good, key: bad})


def test_the_engine_state_declared_for_the_type_checker_is_the_state_an_evaluator_has(tmp_path: Any) -> None:
    # predict/engine/base.py declares, with types, the attributes the engine's parts read from Evaluator:
    # a declaration Evaluator no longer sets would let mypy accept code that fails at run time
    from statedict_lint.predict.api import CATALOG_PATH
    from statedict_lint.predict.engine.base import EngineBase as EngineParts
    from statedict_lint.predict.evaluator import Evaluator

    ev = Evaluator([str(tmp_path)], CATALOG_PATH)
    declared = set(EngineParts.__annotations__)
    assert declared and not [name for name in declared if not hasattr(ev, name)]
    assert not hasattr(EngineParts, "__getattr__")  # (declared for the type checker only)
