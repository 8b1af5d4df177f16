"""The predictor's layering, stated as tests (docs/architecture.md).

- The value domain (values.py), the control-flow signals (signals.py), the engine interface (engine_api.py)
  and the library models (predict/libs/) never import the engine (predict/evaluator.py and predict/engine/).
- The engine's concern modules (predict/engine/) never import predict/evaluator.py, which composes them.
- No module of the engine or the library models imports inside a function to dodge an import cycle.
- Every library module registers its models; their roots do not overlap, so a full name has one owner.
"""

from __future__ import annotations

import ast
import pathlib

import pytest

PKG = pathlib.Path(__file__).resolve().parent.parent / "statedict_lint"
PREDICT = PKG / "predict"
ENGINE_FREE = [PREDICT / "values.py", PREDICT / "signals.py", PREDICT / "engine_api.py",
               *sorted((PREDICT / "libs").glob("*.py"))]
ENGINE_PARTS = sorted((PREDICT / "engine").glob("*.py"))
NO_LOCAL_IMPORTS = [PREDICT / "evaluator.py", PREDICT / "merge.py", *ENGINE_PARTS, *ENGINE_FREE]


def _is_type_checking(node: ast.AST) -> bool:
    return isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test)


def _imports(tree: ast.AST, runtime_only: bool = True):
    """(module name, node, inside a function) for every import outside ``if TYPE_CHECKING:`` blocks."""
    def walk(node, in_func):
        for child in ast.iter_child_nodes(node):
            if runtime_only and _is_type_checking(child):
                continue
            if isinstance(child, ast.ImportFrom):
                yield child.module or "", child, in_func
            elif isinstance(child, ast.Import):
                for a in child.names:
                    yield a.name, child, in_func
            yield from walk(child, in_func or isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef)))
    yield from walk(tree, False)


@pytest.mark.parametrize("path", ENGINE_FREE, ids=lambda p: p.name)
def test_library_models_and_value_domain_never_import_the_engine(path):
    tree = ast.parse(path.read_text(encoding="utf-8"))
    bad = [m for m, _, _ in _imports(tree)
           if m in ("statedict_lint.predict.evaluator", "statedict_lint.predict.engine")
           or m.startswith("statedict_lint.predict.engine.")]
    assert not bad, f"{path.name} imports the engine: {bad}"


@pytest.mark.parametrize("path", ENGINE_PARTS, ids=lambda p: p.name)
def test_engine_parts_never_import_the_evaluator(path):
    tree = ast.parse(path.read_text(encoding="utf-8"))
    bad = [m for m, _, _ in _imports(tree) if m == "statedict_lint.predict.evaluator"]
    assert not bad, f"engine/{path.name} imports predict/evaluator.py (it is composed there, not the other way)"


@pytest.mark.parametrize("path", NO_LOCAL_IMPORTS, ids=lambda p: p.name)
def test_no_function_local_imports_of_the_package(path):
    tree = ast.parse(path.read_text(encoding="utf-8"))
    local = [(m, n.lineno) for m, n, in_func in _imports(tree) if in_func and m.startswith("statedict_lint")]
    assert not local, f"{path.name}: function-local imports {local}"


def test_library_registry_owns_each_name_once():
    from statedict_lint.predict import libs

    class _Engine:  # the registry only builds the models; nothing here evaluates code
        line, path, repeat, opaques = 0, "", [], []

    reg = libs.Libraries(_Engine())  # type: ignore[arg-type]
    names = [m.name for m in reg.models]
    assert sorted(names) == sorted(set(names)) and set(names) >= {"torch", "stdlib", "einops", "numpy"}
    roots = [r for m in reg.models for r in m.roots]
    assert len(roots) == len(set(roots)), f"overlapping roots: {roots}"
    assert reg.owner("torch.nn.Linear").name == "torch"
    assert reg.owner("einops.layers.torch.Rearrange").name == "einops"
    assert reg.owner("dataclasses.field").name == "stdlib"
    assert reg.namespace("some_user_package.models") is None  # read from source, never modelled


def test_no_import_cycle_inside_the_predictor():
    """Import every predictor module on its own in a fresh interpreter: a cycle would fail one of them."""
    import subprocess
    import sys

    mods = sorted(f"statedict_lint.predict.{p.stem}" for p in PREDICT.glob("*.py") if p.stem != "__init__")
    for sub in ("libs", "engine"):
        mods += sorted(f"statedict_lint.predict.{sub}.{p.stem}" for p in (PREDICT / sub).glob("*.py")
                       if p.stem != "__init__")
    assert any(m.startswith("statedict_lint.predict.engine.") for m in mods)
    code = "import importlib, sys\nfor m in sys.argv[1:]:\n    importlib.import_module(m)\n"
    for m in mods:
        r = subprocess.run([sys.executable, "-c", code, m], capture_output=True, text=True)
        assert r.returncode == 0, f"importing {m} first fails:\n{r.stderr[-2000:]}"


# -- size: a newcomer can read one concern at a time -------------------------------------------------------------
# Every module of the predictor (engine, library models, value domain, api) stays under MAX_FILE_LINES and every
# function under MAX_FUNCTION_LINES (nested functions count in the function that holds them). The catalog
# (predict/catalog/*.py) is exempt: it is torch's and transformers' own source, copied as data and read as text.
MAX_FILE_LINES = 800
MAX_FUNCTION_LINES = 120
SIZED = sorted(p for p in PREDICT.rglob("*.py") if "catalog" not in p.relative_to(PREDICT).parts)


def test_size_check_covers_the_engine_and_the_library_models():
    names = {p.relative_to(PREDICT).as_posix() for p in SIZED}
    assert {"evaluator.py", "engine/expressions.py", "engine/calls.py", "libs/torch.py", "libs/builtins.py"} <= names
    assert not any(n.startswith("catalog/") for n in names)


@pytest.mark.parametrize("path", SIZED, ids=lambda p: p.relative_to(PREDICT).as_posix())
def test_no_predictor_file_or_function_is_too_long(path):
    text = path.read_text(encoding="utf-8")
    n = len(text.splitlines())
    assert n <= MAX_FILE_LINES, f"{path.name} has {n} lines (at most {MAX_FILE_LINES}): split it by concern"
    long = [(node.name, node.lineno, node.end_lineno - node.lineno + 1) for node in ast.walk(ast.parse(text))
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))
            and node.end_lineno - node.lineno + 1 > MAX_FUNCTION_LINES]
    assert not long, f"{path.name}: functions over {MAX_FUNCTION_LINES} lines (name, line, length): {long}"
