"""The layering of the package, stated as tests (docs/architecture.md, "Which way imports go").

Capability packages build on each other in one direction only (a package may import those to its right, never
one to its left, nor itself through a cycle):

    commands/ -> review/ -> check/ -> checkpoint/ ;  review/, check/, verify/, rules/, hf/ -> predict/ -> source/

- predict/ (the predictor) never imports check/, review/, verify/, rules/, report/, checkpoint/ or commands/;
- check/ never imports review/, verify/, rules/ or commands/ (review reuses check's rename guesser, not the
  other way round);
- review/ and rules/ never import verify/ or commands/; checkpoint/ imports none of the capability packages;
- nothing outside commands/ (and cli.py) imports commands/;
- only verify/ imports torch (tests do too); every other module, the whole static path, reads torch's facts from
  source and data. The catalog files (predict/catalog/torch_nn.py, transformers_runtime.py) say ``import torch``
  because they are library source, but the evaluator reads them as text and nothing imports them.

AST-based, like tests/test_layering.py: every import counts, also one inside a function or under
``if TYPE_CHECKING:``.
"""

from __future__ import annotations

import ast
import pathlib

import pytest

PKG = pathlib.Path(__file__).resolve().parent.parent / "statedict_lint"
# package -> the packages (and modules) it must never import
NEVER = {
    "predict": ["check", "review", "verify", "rules", "report", "checkpoint", "commands"],
    "check": ["review", "verify", "rules", "commands"],
    "review": ["verify", "commands"],
    "rules": ["check", "verify", "commands"],
    "checkpoint": ["predict", "check", "review", "verify", "rules", "commands", "hf"],
    "verify": ["check", "review", "rules", "commands"],
    "hf": ["check", "review", "verify", "rules", "commands"],
    "report": ["predict", "check", "review", "verify", "commands"],
    "source": ["predict", "check", "review", "verify", "rules", "checkpoint", "commands", "hf"],
}
TORCH_PACKAGE = PKG / "verify"
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
            for a in node.names:  # `from statedict_lint.check import compare` imports the module compare
                yield f"{base}.{a.name}", node.lineno


def _under(mod: str, package: str) -> bool:
    return mod == f"statedict_lint.{package}" or mod.startswith(f"statedict_lint.{package}.")


def _forbidden(package: str, mod: str) -> bool:
    return any(_under(mod, other) for other in NEVER.get(package, ()))


def _package(path: pathlib.Path) -> str:
    parts = path.relative_to(PKG).parts
    return parts[0] if len(parts) > 1 else ""


@pytest.mark.parametrize("path", ALL, ids=lambda p: str(p.relative_to(PKG)))
def test_packages_import_only_downwards(path):
    package = _package(path)
    bad = [(m, ln) for m, ln in imported_modules(path) if _forbidden(package, m)]
    assert not bad, f"{path.relative_to(PKG)} (in {package}/) imports {bad}"


@pytest.mark.parametrize("path", ALL, ids=lambda p: str(p.relative_to(PKG)))
def test_only_commands_import_commands(path):
    if _package(path) == "commands" or path == PKG / "cli.py":
        return
    bad = [(m, ln) for m, ln in imported_modules(path) if _under(m, "commands")]
    assert not bad, f"{path.relative_to(PKG)} imports {bad}"


@pytest.mark.parametrize("path", ALL, ids=lambda p: str(p.relative_to(PKG)))
def test_only_verify_imports_torch(path):
    bad = [(m, ln) for m, ln in imported_modules(path) if m == "torch" or m.startswith("torch.")]
    if TORCH_PACKAGE in path.parents or path in CATALOG:
        return
    assert not bad, f"{path.relative_to(PKG)} imports torch: {bad}"


def test_the_packages_exist_and_the_catalog_is_never_imported():
    """The table names real packages (a rename must update this test and the docs); verify's runtime and torch
    loader import torch themselves; no module imports a catalog file."""
    assert all((PKG / p).is_dir() for p in NEVER) and all((PKG / q).is_dir() for qs in NEVER.values() for q in qs)
    for path in (TORCH_PACKAGE / "runtime.py", TORCH_PACKAGE / "torch_loader.py"):
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
    assert all(_forbidden("predict", m) for m in ("statedict_lint.check.compare", "statedict_lint.review.structdiff",
                                                  "statedict_lint.commands.check"))
    assert not _forbidden("predict", "statedict_lint.predict.values")
    assert not _forbidden("predict", "statedict_lint.checkpointing")
    assert _forbidden("check", "statedict_lint.review") and not _forbidden("review", "statedict_lint.check.renames")
