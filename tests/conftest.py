"""Shared test helpers: build a model with real torch on the meta device and compare with a prediction."""

from __future__ import annotations

import importlib.util
import os
import sys
import uuid
from typing import Any, Dict, List, Tuple

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def repo_target(target: str) -> Tuple[str, str]:
    """A cases.json target (``fixtures/x.py:Class``, relative to the repository) -> (absolute path, class)."""
    from statedict_lint.predict import bindings

    path, cls = bindings.split_target(target)
    return os.path.join(REPO, path), cls


def case_bindings(sets: Tuple[str, ...]) -> Dict[str, Any]:
    """A case's ``--set`` strings as the predictor's bindings."""
    from statedict_lint.predict import bindings

    return bindings.collect(list(sets), [])


def pytest_addoption(parser: Any) -> None:
    parser.addoption("--update-golden", action="store_true", default=False,
                     help="rewrite tests/golden/*.txt from the tool's output, then the docs' golden blocks")


@pytest.fixture(autouse=True, scope="session")
def _private_user_cache(tmp_path_factory: Any) -> Any:
    """Every cache of the tool (and of its subprocesses) goes to a folder of this test session, never to
    the user's ~/.cache; tests that need their own set STATEDICT_LINT_CACHE_DIR again."""
    old = os.environ.get("STATEDICT_LINT_CACHE_DIR")
    os.environ["STATEDICT_LINT_CACHE_DIR"] = str(tmp_path_factory.mktemp("user-cache"))
    yield
    if old is None:
        os.environ.pop("STATEDICT_LINT_CACHE_DIR", None)
    else:
        os.environ["STATEDICT_LINT_CACHE_DIR"] = old


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


@pytest.fixture
def unresolved_model_ckpt(tmp_path: Any, write_model: Any) -> Tuple[str, str]:
    """(FILE.py:M, checkpoint): a model whose `body` comes from an import that cannot be found, and a file
    saved by torch with `fc.*` plus a `body.weight` the prediction cannot account for."""
    torch = pytest.importorskip("torch")
    src = write_model(
        "import torch.nn as nn\n"
        "from somewhere_unknown import make_layer\n\n"
        "class M(nn.Module):\n"
        "    def __init__(self):\n"
        "        super().__init__()\n"
        "        self.fc = nn.Linear(4, 2)\n"
        "        self.body = make_layer()\n")
    path = str(tmp_path / "m.pt")
    torch.save({"fc.weight": torch.zeros(2, 4), "fc.bias": torch.zeros(2), "body.weight": torch.zeros(3)}, path)
    return f"{src}:M", path
