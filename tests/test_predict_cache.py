"""The prediction cache returns exactly what a fresh evaluation gives, and notices every change."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from typing import Any

from statedict_lint.predict import cache
from statedict_lint.predict.api import predict, predict_cached

SRC = textwrap.dedent('''
    import torch.nn as nn
    from helpers import WIDTH
    try:
        from optional_pkg import Extra
    except ImportError:
        Extra = None

    class M(nn.Module):
        def __init__(self, n):
            super().__init__()
            self.fc = nn.Linear(WIDTH, n)
            self.blocks = nn.ModuleList([nn.LayerNorm(n) for _ in range(n)])
            if Extra is not None:
                self.extra = Extra()
''')


def _setup(tmp_path: Any, monkeypatch: Any) -> str:
    monkeypatch.setenv("STATEDICT_LINT_CACHE_DIR", str(tmp_path / "cache"))
    (tmp_path / "helpers.py").write_text("WIDTH = 4\n")
    p = tmp_path / "model.py"
    p.write_text(SRC)
    monkeypatch.chdir(tmp_path)
    return str(p)


def test_hit_equals_fresh_evaluation(tmp_path: Any, monkeypatch: Any) -> None:
    path = _setup(tmp_path, monkeypatch)
    for bindings in ({}, {"n": 3}):
        fresh = predict(path, "M", bindings).to_json()
        first = predict_cached(path, "M", bindings).to_json()
        assert cache.lookup(path, "M", bindings) is not None
        second = predict_cached(path, "M", bindings).to_json()
        assert first == fresh and second == fresh
    # symbolic shapes and repetition counts survive the round trip as expressions, not strings
    hit = cache.lookup(path, "M", {})
    assert hit is not None
    k = next(k for k in hit.keys if k.key == "blocks.{i}.weight")
    assert str(k.shape[0]) == "n" and k.shape[0].variables() == {"n"}
    assert str(k.repeat["i"]) == "n"


def test_changed_import_invalidates(tmp_path: Any, monkeypatch: Any) -> None:
    path = _setup(tmp_path, monkeypatch)
    assert predict_cached(path, "M", {"n": 2}).keys[0].shape == (2, 4)
    (tmp_path / "helpers.py").write_text("WIDTH = 6\n")
    assert cache.lookup(path, "M", {"n": 2}) is None
    assert predict_cached(path, "M", {"n": 2}).keys[0].shape == (2, 6)


def test_module_that_appears_invalidates(tmp_path: Any, monkeypatch: Any) -> None:
    path = _setup(tmp_path, monkeypatch)
    before = predict_cached(path, "M", {"n": 2})
    assert not any(k.key.startswith("extra.") for k in before.keys)
    (tmp_path / "optional_pkg.py").write_text(
        "import torch.nn as nn\nclass Extra(nn.Module):\n    def __init__(self):\n        super().__init__()\n"
        "        self.w = nn.Linear(1, 1)\n")
    assert cache.lookup(path, "M", {"n": 2}) is None
    after = predict_cached(path, "M", {"n": 2})
    assert [k.key for k in after.keys][-2:] == ["extra.w.weight", "extra.w.bias"]


def test_cli_uses_cache_and_no_cache(tmp_path: Any, monkeypatch: Any) -> None:
    path = _setup(tmp_path, monkeypatch)
    env = dict(os.environ)
    runs = []
    for extra in ([], [], ["--no-cache"]):
        out = subprocess.run([sys.executable, "-m", "statedict_lint", "keys", f"{path}:M", "--set", "n=2",
                              "--format", "json", *extra], capture_output=True, text=True, env=env, check=True)
        runs.append(json.loads(out.stdout))
    assert runs[0] == runs[1] == runs[2]
    assert len(os.listdir(tmp_path / "cache" / "predict")) == 1


def test_hit_keeps_everything_a_fresh_evaluation_knows(tmp_path: Any, monkeypatch: Any) -> None:
    """The whole Prediction round-trips -- also what no output format shows (``modules``: the class of every
    submodule, which `check` reads for from_pretrained's rules of nested PreTrainedModels)."""
    path = _setup(tmp_path, monkeypatch)
    fresh = predict(path, "M", {"n": 2})
    predict_cached(path, "M", {"n": 2})
    hit = cache.lookup(path, "M", {"n": 2})
    assert hit is not None
    assert fresh.modules and list(hit.modules.items()) == list(fresh.modules.items())
    assert hit == fresh
