"""Shared test helpers: build a model with real torch on the meta device and compare with a prediction."""

from __future__ import annotations

import importlib.util
import os
import sys
import uuid
from typing import Any, Dict, List, Tuple

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def torch_table(module: Any) -> List[Tuple[str, tuple, str]]:
    sd = module.state_dict(keep_vars=True)
    out = []
    for k, v in sd.items():
        if k.endswith("_extra_state"):
            out.append((k, None, None))
            continue
        out.append((k, tuple(v.shape), str(v.dtype).replace("torch.", "")))
    return out


def load_module_from_path(path: str) -> Any:
    name = f"sdl_fixture_{uuid.uuid4().hex}"
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec and spec.loader
    mod = importlib.util.module_from_spec(spec)
    sys.modules[name] = mod
    spec.loader.exec_module(mod)
    return mod


@pytest.fixture
def write_model(tmp_path: Any) -> Any:
    def write(source: str, name: str = "model.py") -> str:
        p = tmp_path / name
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(source)
        return str(p)

    return write
