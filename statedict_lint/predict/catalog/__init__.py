"""The catalog of torch.nn layers, kept as Python source in ``torch_nn.py``.

``torch_nn.py`` is read as text by the evaluator (never imported: importing it would import torch).
This package only exposes where it is, its text and its ``STATELESS`` list, parsed with ``ast``.
"""

from __future__ import annotations

import ast
import os
from typing import List

CATALOG_PATH = os.path.join(os.path.dirname(os.path.abspath(__file__)), "torch_nn.py")


def catalog_source() -> str:
    """The text of the catalog file."""
    with open(CATALOG_PATH, encoding="utf-8") as f:
        return f.read()


def _read_stateless(source: str) -> List[str]:
    tree = ast.parse(source, CATALOG_PATH)
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id == "STATELESS" for t in node.targets):
            value = ast.literal_eval(node.value)
            if not isinstance(value, list) or not all(isinstance(x, str) for x in value):
                raise ValueError("STATELESS in the catalog must be a list of class names")
            return value
    raise ValueError("the catalog defines no STATELESS list")


def catalog_classes() -> List[str]:
    """Names of the top-level classes defined in the catalog (layers with state and their bases)."""
    tree = ast.parse(catalog_source(), CATALOG_PATH)
    return [n.name for n in tree.body if isinstance(n, ast.ClassDef)]


STATELESS: List[str] = _read_stateless(catalog_source())

__all__ = ["CATALOG_PATH", "STATELESS", "catalog_source", "catalog_classes"]
