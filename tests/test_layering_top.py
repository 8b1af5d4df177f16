"""The layering of the package's top level, stated as tests (docs/architecture.md, "Which way imports go").

- Nothing under predict/ imports the modules of check (compare, explain, solve, renames, causes), of review
  (structdiff, lockfile, snapshot, project, gitio, hooks, rewrite) or the commands: the predictor is what they
  all build on, never the other way round.
- Only runtime.py, commands/verify.py and checkpoint/torch_loader.py may import torch (tests do too); every
  other module, the whole static path, reads torch's facts from source and data. The catalog files
  (predict/catalog/torch_nn.py, transformers_runtime.py) say ``import torch`` because they are library source,
  but the evaluator reads them as text and nothing imports them.

AST-based, like tests/test_layering.py: every import counts, also one inside a function or under
``if TYPE_CHECKING:``.
"""

from __future__ import annotations

import ast
import pathlib

import pytest

PKG = pathlib.Path(__file__).resolve().parent.parent / "statedict_lint"
CHECK_AND_REVIEW = ["check", "review", "checkpoint.rewrite", "verify", "commands"]
TORCH_IMPORTERS = {PKG / "verify" / "runtime.py", PKG / "commands" / "verify.py", PKG / "verify" / "torch_loader.py"}
# library source the evaluator reads as text, never imported
CATALOG = {p for p in (PKG / "predict" / "catalog").glob("*.py") if p.name != "__init__.py"}
ALL = sorted(PKG.rglob("*.py"))


def imported_modules(path: pathlib.Path, package: str = ""):
    """(absolute module name, line) of every import in ``path`` (relative imports resolved against its package)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    package = package or ".".join(path.relative_to(PKG.parent).with_suffix("").parts[:-1])
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for a in node.names:
                yield a.name, node.lineno
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")
                parts = parts[:len(parts) - node.level + 1]
                base = ".".join(parts + ([base] if base else []))
            yield base, node.lineno
            for a in node.names:  # `from statedict_lint import compare` imports the module compare
                yield f"{base}.{a.name}", node.lineno


def _forbidden_for_predict(mod: str) -> bool:
    return any(mod == f"statedict_lint.{m}" or mod.startswith(f"statedict_lint.{m}.") for m in CHECK_AND_REVIEW)


@pytest.mark.parametrize("path", sorted((PKG / "predict").rglob("*.py")), ids=lambda p: str(p.relative_to(PKG)))
def test_predict_never_imports_check_review_or_commands(path):
    bad = [(m, ln) for m, ln in imported_modules(path) if _forbidden_for_predict(m)]
    assert not bad, f"{path.relative_to(PKG)} imports {bad}"


@pytest.mark.parametrize("path", ALL, ids=lambda p: str(p.relative_to(PKG)))
def test_only_the_runtime_modules_import_torch(path):
    bad = [(m, ln) for m, ln in imported_modules(path) if m == "torch" or m.startswith("torch.")]
    if path in TORCH_IMPORTERS or path in CATALOG:
        return
    assert not bad, f"{path.relative_to(PKG)} imports torch: {bad}"


def test_the_torch_importers_exist_and_the_catalog_is_never_imported():
    """The allow-list names real files (a rename must update this test and the docs); runtime.py and the torch
    loader import torch themselves (verify goes through runtime); no module imports a catalog file."""
    assert all(p.is_file() for p in TORCH_IMPORTERS)
    for path in (PKG / "verify" / "runtime.py", PKG / "verify" / "torch_loader.py"):
        assert any(m == "torch" or m.startswith("torch.") for m, _ in imported_modules(path)), path
    assert PKG / "predict" / "catalog" / "torch_nn.py" in CATALOG
    names = {f"statedict_lint.predict.catalog.{p.stem}" for p in CATALOG}
    importers = [(p, m) for p in ALL for m, _ in imported_modules(p) if m in names]
    assert not importers


def test_the_scanner_sees_every_kind_of_import(tmp_path):
    """The checks above are only as good as ``imported_modules``: it must see local, relative, aliased and
    TYPE_CHECKING imports."""
    fake = tmp_path / "probe.py"
    src = ("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from statedict_lint.check.compare import Comparison\n"
           "def f():\n    import torch.nn as nn\n    from ..review import structdiff\n    from ..commands import check\n")
    fake.write_text(src, encoding="utf-8")
    mods = {m for m, _ in imported_modules(fake, "statedict_lint.predict")}
    assert {"statedict_lint.check.compare", "torch.nn", "statedict_lint.review.structdiff", "statedict_lint.commands.check"} <= mods
    assert all(_forbidden_for_predict(m) for m in ("statedict_lint.check.compare", "statedict_lint.review.structdiff",
                                                   "statedict_lint.commands.check"))
    assert not _forbidden_for_predict("statedict_lint.predict.values")
    assert not _forbidden_for_predict("statedict_lint.compare_helpers")
