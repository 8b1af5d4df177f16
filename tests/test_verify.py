"""`statedict-lint verify`: the static prediction against the class built with torch on the meta device."""

from __future__ import annotations

import copy
import json
import os
import subprocess
import sys
import textwrap
from typing import Any, List

import pytest

pytest.importorskip("torch")

from statedict_lint.verify import runtime  # noqa: E402
from statedict_lint.cli import main  # noqa: E402
from statedict_lint.verify.oracle import compare  # noqa: E402
from statedict_lint.predict.api import predict  # noqa: E402

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
GPT = os.path.join(REPO, "fixtures", "gpt.py")
GPT_SETS = ["--set", "config.n_layer=2", "--set", "config.n_head=4", "--set", "config.n_embd=64",
            "--set", "config.block_size=32", "--set", "config.vocab_size=100"]

# A model the predictor cannot settle: sizes from the environment, a layer only under an environment flag.
UNSETTLED = '''
import os
import torch
import torch.nn as nn

WIDTH = int(os.environ.get("SDL_TEST_WIDTH", "12"))


class EnvSized(nn.Module):
    def __init__(self, dim=8):
        super().__init__()
        self.inp = nn.Linear(dim, dim)
        self.hidden = nn.Linear(dim, WIDTH)
        if os.environ.get("SDL_TEST_EXTRA"):
            self.extra = nn.Linear(WIDTH, WIDTH)
        self.register_buffer("steps", torch.zeros((), dtype=torch.long))
'''


def run(argv: List[str], capsys: Any) -> tuple:
    code = main(argv)
    out, err = capsys.readouterr()
    return code, out, err


def test_agree_exit_0(capsys: Any) -> None:
    code, out, err = run(["verify", f"{GPT}:GPT", *GPT_SETS], capsys)
    assert code == 0, out + err
    assert "agree" in out and "31 keys" in out


def test_agree_json(capsys: Any) -> None:
    code, out, _ = run(["verify", f"{GPT}:GPT", *GPT_SETS, "--format", "json"], capsys)
    data = json.loads(out)
    assert code == 0 and data["agree"] is True and data["complete"] is True
    assert data["differences"] == [] and data["wrong"] == 0 and data["device"] == "meta"
    assert data["keys"] == {"predicted": 31, "torch": 31}
    # config.bias and config.dropout were not bound: torch's GPTConfig(...) has its defaults, and so does the
    # prediction (keys alone would leave config.bias open and mark the biases conditional)
    assert data["filled"] == {"config.dropout": "0.0", "config.bias": "True"}


def test_config_defaults_are_shared_with_the_prediction(capsys: Any) -> None:
    code, out, _ = run(["keys", f"{GPT}:GPT", *GPT_SETS, "--no-cache", "--format", "json"], capsys)
    assert json.loads(out)["complete"] is False  # keys: config.bias is free
    code, out, _ = run(["verify", f"{GPT}:GPT", *GPT_SETS, "--set", "config.bias=False"], capsys)
    assert code == 0 and "config.bias" not in out.splitlines()[0], out


def test_incomplete_prediction_differs_without_wrong_claims(write_model: Any, capsys: Any, monkeypatch: Any) -> None:
    path = write_model(UNSETTLED)
    monkeypatch.setenv("SDL_TEST_EXTRA", "1")
    code, out, err = run(["verify", f"{path}:EnvSized", "--format", "json"], capsys)
    assert code == 1, out + err
    data = json.loads(out)
    assert data["agree"] is False and data["complete"] is False
    assert data["wrong"] == 0, data["differences"]
    by = {(d["what"], d["key"]): d for d in data["differences"]}
    assert by[("shape", "hidden.weight")]["verdict"] == "unsettled"
    assert by[("shape", "hidden.weight")]["torch"] == [12, 8]
    assert ("extra", "extra.weight") in by and by[("extra", "extra.weight")]["verdict"] == "unsettled"
    assert all(d["verdict"] == "unsettled" for d in data["differences"])
    assert ("shape", "inp.weight") not in by and ("dtype", "steps") not in by  # settled parts agree
    # the text form names the verdicts and the unresolved lines
    code, out, _ = run(["verify", f"{path}:EnvSized"], capsys)
    assert code == 1
    assert "0 wrong" in out and "unsettled" in out and "hidden.weight" in out and "unresolved" in out


def test_wrong_claims_are_reported_as_wrong(capsys: Any, monkeypatch: Any) -> None:
    """A doctored prediction (what a predictor bug would give) is judged wrong, key by key, and exits 1."""
    from statedict_lint.predict.bindings import collect

    b = collect([s for s in GPT_SETS if s != "--set"] + ["config.bias=True"], [])
    real_pred = predict(GPT, "GPT", b)
    table = runtime.build(GPT, "GPT", b)
    assert compare(real_pred, table) == []

    bad = copy.deepcopy(real_pred)
    bad.keys[1].shape = (bad.keys[1].shape[0] + 1, bad.keys[1].shape[1])  # a wrong concrete dimension
    bad.keys[2].dtype = "float16"  # a wrong dtype
    dropped = bad.keys.pop(5)  # complete, yet a key is missing
    bad.keys[3], bad.keys[4] = bad.keys[4], bad.keys[3]  # order
    diffs = compare(bad, table)
    got = {(d.what, d.key, d.verdict) for d in diffs}
    assert ("shape", real_pred.keys[1].key, "wrong") in got
    assert ("dtype", real_pred.keys[2].key, "wrong") in got
    assert ("missing", dropped.key, "wrong") in got
    assert any(d.what == "order" and d.verdict == "wrong" for d in diffs)

    import statedict_lint.predict.api as api

    monkeypatch.setattr(api, "predict", lambda *a, **k: bad)
    code, out, _ = run(["verify", f"{GPT}:GPT", *GPT_SETS], capsys)
    assert code == 1
    assert "wrong (the prediction claimed otherwise" in out and dropped.key in out


@pytest.mark.parametrize("argv, message", [
    (["verify", "no/such/file.py:M"], "no such file"),
    (["verify", "fixtures/gpt.py"], "must be FILE.py:ClassName"),
    (["verify", "fixtures/gpt.py:Nope"], "no class `Nope`"),
    (["verify", "fixtures/gpt.py:GPT", "--set", "config.n_layer"], "malformed --set"),
    (["verify", "fixtures/gpt.py:GPT", "--set", "config.n_layer=2", "--set", "config.n_embd=65"], "fails"),
    (["verify", "fixtures/incomplete_branch.py:BranchOnFlag"], "use_bn"),
])
def test_usage_errors_exit_2_one_line(argv: List[str], message: str, capsys: Any, monkeypatch: Any) -> None:
    monkeypatch.chdir(REPO)
    code, out, err = run(argv, capsys)
    assert code == 2, out + err
    assert out == ""
    assert message in err and err.count("\n") == 1 and "Traceback" not in err, err


def test_user_code_failing_under_torch_is_one_line(write_model: Any, capsys: Any) -> None:
    path = write_model(textwrap.dedent('''
        import torch.nn as nn

        class Broken(nn.Module):
            def __init__(self, n=3):
                super().__init__()
                self.fc = nn.Linear(n, 2)
                self.data = open("/nonexistent/sdl/file").read()
    '''))
    code, out, err = run(["verify", f"{path}:Broken"], capsys)
    assert code == 2 and err.count("\n") == 1 and "Traceback" not in err, err


BLOCK_TORCH = textwrap.dedent('''
    import sys
    class _NoTorch:
        def find_spec(self, name, path=None, target=None):
            if name == "torch" or name.startswith("torch."):
                raise ImportError("No module named 'torch' (blocked by the test)")
            return None
    sys.meta_path.insert(0, _NoTorch())
    from statedict_lint.cli import main
    sys.exit(main(sys.argv[1:]))
''')


def test_torch_not_installed_is_one_line_exit_2() -> None:
    proc = subprocess.run([sys.executable, "-c", BLOCK_TORCH, "verify", f"{GPT}:GPT", *GPT_SETS],
                          capture_output=True, text=True, cwd=REPO, timeout=60)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert proc.stdout == ""
    assert proc.stderr.count("\n") == 1 and "verify needs torch" in proc.stderr and "Traceback" not in proc.stderr


def test_console_script_end_to_end() -> None:
    exe = os.path.join(os.path.dirname(sys.executable), "statedict-lint")
    if not os.path.exists(exe):
        pytest.skip("console script not installed")
    proc = subprocess.run([exe, "verify", "fixtures/clones.py:SharedStack"], capture_output=True, text=True,
                          cwd=REPO, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "agree" in proc.stdout


def test_cpu_fallback_when_meta_construction_fails(write_model: Any, capsys: Any) -> None:
    """Code that needs real values (`.item()`) cannot be built on meta: torch builds it on the CPU instead."""
    path = write_model(textwrap.dedent('''
        import torch
        import torch.nn as nn

        class NeedsValues(nn.Module):
            def __init__(self, dim=4):
                super().__init__()
                self.register_buffer("table", torch.arange(dim * 2))
                width = int(self.table.max().item()) + 1
                self.fc = nn.Linear(dim, width)
    '''))
    code, out, _ = run(["verify", f"{path}:NeedsValues", "--format", "json"], capsys)
    data = json.loads(out)
    assert data["device"] == "cpu" and data["meta_error"]
    assert data["wrong"] == 0, data["differences"]
    if data["complete"]:
        assert code == 0
    else:  # the width comes from a tensor's value: the prediction must say it cannot know it
        assert code == 1 and any(d["key"] == "fc.weight" and d["verdict"] == "unsettled" for d in data["differences"])


def test_lazy_layers_and_direct_registry_access(write_model: Any, capsys: Any) -> None:
    """Uninitialized Lazy* parameters have no shape in torch either (no traceback); `self._modules[...] = ...`
    registers behind __setattr__'s back: the prediction says it cannot know, and claims nothing false."""
    path = write_model(textwrap.dedent('''
        import torch.nn as nn

        class LazyHead(nn.Module):
            def __init__(self):
                super().__init__()
                self.body = nn.Linear(4, 8)
                self.head = nn.LazyLinear(3)

        class Registry(nn.Module):
            def __init__(self):
                super().__init__()
                self.fc = nn.Linear(1, 2)
                self._modules["extra"] = nn.Linear(2, 2)
    '''))
    code, out, err = run(["verify", f"{path}:LazyHead", "--format", "json"], capsys)
    data = json.loads(out)
    assert code == 1 and data["wrong"] == 0 and data["differences"] == [] and data["complete"] is False, out + err
    code, out, err = run(["verify", f"{path}:Registry", "--format", "json"], capsys)
    data = json.loads(out)
    assert code == 1 and data["wrong"] == 0, out + err
    assert {d["key"] for d in data["differences"]} == {"extra.weight", "extra.bias"}
    assert any("_modules" in u["message"] for u in data["unresolved"])


def test_verify_finds_no_wrong_claim_on_any_fixture_case() -> None:
    """Property: `verify`'s own judge (verify.oracle.compare) over every case of fixtures/cases.json, against
    every torch build the case names (its bindings, or each of its torch_sets for incomplete cases), finds no
    "wrong" difference: whatever the prediction claims for sure, torch has. (Predictions and torch builds are
    shared with tests/test_fixtures.py, whose own comparison is written independently.)"""
    from test_fixtures import CASES, built, predicted

    wrong: List[str] = []
    for case in CASES:
        if "einops" in case["target"]:
            continue
        pred = predicted(case["target"], tuple(case["set"]))
        for extra in case.get("torch_sets") or [[]]:
            sets = list(case["set"]) + list(extra)
            if case["expect"] == "symbolic":
                sets += case.get("torch_set") or [f"{k}={v!r}" for k, v in case["env"].items()]
            table = built(case["target"], tuple(sets))
            for d in compare(pred, table):
                if d.verdict == "wrong":
                    wrong.append(f"{case['target']} {sets}: {d.what} {d.key}: predicted {d.predicted}, torch {d.torch}")
    assert len(CASES) > 100
    assert not wrong, "\n".join(wrong[:30])
