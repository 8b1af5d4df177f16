"""The catalog's lexical top-level split (``predict.catalog.split_top_level``) equals the split ``ast`` gives.

The evaluator and ``STATELESS`` read the catalog as chunks of top-level statements; the split is lexical (no
parse of the whole catalog in every process). Here ``ast`` is the oracle: on the shipped catalog files, on the
package's own source, and on shapes chosen to break a lexical split (column-0 lines inside strings and
brackets, decorators, clauses, continuations, comments).
"""

from __future__ import annotations

import ast
import os
import pathlib
from typing import List, Optional, Tuple

import pytest

from statedict_lint.predict import catalog
from statedict_lint.predict.catalog import CATALOG_PATH, STATELESS, chunks, split_top_level

ROOT = pathlib.Path(__file__).resolve().parent.parent


def ast_split(text: str) -> List[Tuple[Optional[str], str]]:
    lines = text.splitlines(keepends=True)
    out: List[Tuple[Optional[str], str]] = []
    for node in ast.parse(text).body:
        start = min([node.lineno] + [d.lineno for d in getattr(node, "decorator_list", [])])
        named = isinstance(node, (ast.ClassDef, ast.FunctionDef))
        out.append((node.name if named else None, "".join(lines[start - 1: node.end_lineno])))  # type: ignore
    return out


CATALOG_FILES = sorted(str(p) for p in (ROOT / "statedict_lint" / "predict" / "catalog").glob("*.py"))


@pytest.mark.parametrize("path", CATALOG_FILES, ids=os.path.basename)
def test_catalog_files_split_as_ast_splits_them(path):
    text = pathlib.Path(path).read_text(encoding="utf-8")
    assert split_top_level(text) == ast_split(text)


def test_the_package_source_splits_as_ast_splits_it():
    files = sorted((ROOT / "statedict_lint").rglob("*.py")) + sorted((ROOT / "fixtures").rglob("*.py"))
    assert len(files) > 50
    for f in files:
        text = f.read_text(encoding="utf-8")
        assert split_top_level(text) == ast_split(text), f


TRICKY = [
    # a docstring and a string holding column-0 lines that look like statements
    '"""doc\nclass Fake:\n    pass\n"""\nx = 1\n',
    "s = '''\ndef fake():\n'''\ndef real():\n    return s\n",
    'r = r"\\"" + "#" + \'\\\'\'  # a comment with """ quotes\ny = 2\n',
    'b = b"""\\"""\nz = 3\n"""\nw = 4\n',
    # brackets across lines, with a column-0 closing bracket and column-0 items
    "L = [\n1,\n2,\n]\nM = {\n'a': (1,\n2)}\n",
    # decorators (several, with arguments and blank lines and comments between), async def
    "@a\n@b(1,\n2)\n\n# note\ndef f():\n    pass\nasync def g():\n    pass\n",
    "@dec\nclass C:\n    x = 1\n# col-0 comment inside the class\n    y = 2\n    # trailing comment\n\nD = C\n",
    # compound statements with clauses at column 0
    "if A:\n    x = 1\nelif B:\n    x = 2\nelse:\n    x = 3\ny = x\n",
    "try:\n    import foo\nexcept ImportError:\n    foo = None\nelse:\n    pass\nfinally:\n    pass\nelse_ = 1\n",
    "for i in range(3):\n    pass\nelse:\n    pass\nwhile False:\n    pass\n",
    # a backslash continuation whose next line starts at column 0
    "x = 1 + \\\n2\ny = 3\n",
    # strings and f-strings with brackets inside
    "s = '(' + \"[\" + f\"{x['a']}\" + '{'\nt = 1\n",
    "class E(\n    Base,\n):\n    pass\n",
    # trailing blank lines and comments, no final newline
    "a = 1\n\n# end\n\n",
    "a = 1\nb = 2",
]


@pytest.mark.parametrize("text", TRICKY)
def test_tricky_shapes_split_as_ast_splits_them(text):
    assert split_top_level(text) == ast_split(text)


def test_chunks_are_shared_and_stateless_comes_from_them():
    first = chunks(CATALOG_PATH)
    assert chunks(CATALOG_PATH) is first  # split once per process
    names = [n for n, _ in first if n is not None]
    assert "Linear" in names and "Embedding" in names
    tree = ast.parse(catalog.catalog_source())
    expected = next(ast.literal_eval(n.value) for n in tree.body if isinstance(n, ast.Assign)
                    and any(isinstance(t, ast.Name) and t.id == "STATELESS" for t in n.targets))
    assert STATELESS == expected and "GELU" in STATELESS
    # the evaluator runs every statement but the STATELESS list (data for predict/libs/torch.py, no torch.nn name)
    every = split_top_level(catalog.catalog_source())
    dropped = [c for c in every if c not in first]
    assert len(dropped) == 1 and dropped[0][1].startswith("STATELESS = [")
