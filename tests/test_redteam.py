"""Red-team soundness set (issue 8): small models written the way real code is written, each judged by torch.

Every case of fixtures/redteam/cases.json is predicted statically (``statedict_lint.predict.api.predict``, bindings
parsed like ``keys --set``) and built with torch on the meta device (``statedict_lint.verify.runtime``) under the same
bindings. The SOUNDNESS property, judged with the ``verify`` command's own comparison
(``statedict_lint.verify.oracle.compare``, which classifies each difference as wrong or unsettled):

* no difference is "wrong": every key claimed for sure exists, every concrete dimension, dtype and
  parameter/buffer kind is torch's, the keys claimed for sure come in torch's order, and a prediction that says
  it is complete has every key torch has;
* a complete prediction equals torch exactly (no difference at all, same non-persistent buffers);
* the predictor never says "construction fails" (or refuses the bindings), nor crashes, when torch builds the class;
* an incomplete prediction names a source line for every reason.

A case with ``native`` (a folder) imports a module that stands for a compiled extension: torch builds it in a child
process with that folder on its path, the static prediction never reads it (the folder is not on its roots).

Cases with ``envs`` / ``hash_seeds`` are also built by torch in a child process under other environment
variables / PYTHONHASHSEED values, and the same prediction's claims must hold for each of those builds too.

``xfail_sound`` says why a case still fails on the sound branch's engine, ``xfail_main`` why it fails on the
engine before that work (told apart by the sound engine's DECORATOR_STEPS bound). The one that applies to the
engine under test marks the case ``xfail(strict=True)``: it must fail there, so a fix shows up as XPASS and the
mark has to go. Every other case must pass.
"""

from __future__ import annotations

import copy
import functools
import json
import os
import subprocess
import sys
from typing import Any, Dict, List, Tuple

import pytest

pytest.importorskip("torch")

from statedict_lint.verify import runtime  # noqa: E402
from statedict_lint.verify.oracle import compare  # noqa: E402
from statedict_lint.errors import UserError  # noqa: E402
from statedict_lint.predict import evaluator as _evaluator  # noqa: E402
from statedict_lint.predict.api import predict  # noqa: E402
from statedict_lint.predict.template import Prediction  # noqa: E402

from conftest import REPO, case_bindings, repo_target  # noqa: E402
CASES_PATH = os.path.join(REPO, "fixtures", "redteam", "cases.json")
with open(CASES_PATH, encoding="utf-8") as _fh:
    CASES: List[Dict[str, Any]] = json.load(_fh)["cases"]

SOUND_ENGINE = hasattr(_evaluator, "DECORATOR_STEPS")


def _id(case: Dict[str, Any]) -> str:
    target = case["target"].replace("fixtures/redteam/", "")
    return f"{target}[{case['name']}]" if case.get("name") else target


def _param(case: Dict[str, Any]) -> Any:
    reason = case.get("xfail_sound") if SOUND_ENGINE else case.get("xfail_main")
    # raises=AssertionError: only the soundness assertions below are expected failures, never a broken fixture
    marks = [pytest.mark.xfail(strict=True, reason=reason, raises=AssertionError)] if reason else []
    return pytest.param(case, marks=marks, id=_id(case))


@functools.lru_cache(maxsize=None)
def predicted(target: str, sets: Tuple[str, ...]) -> Any:
    """The Prediction, or the text of the UserError the predictor stopped with (or of its crash)."""
    path, cls = repo_target(target)
    try:
        return predict(path, cls, case_bindings(sets))
    except UserError as exc:
        return str(exc)
    except Exception as exc:  # noqa: BLE001 - a crash of the static path is a finding, judged below
        return f"crash: {type(exc).__name__}: {exc}"


class BrokenFixture(Exception):
    """torch cannot build a case: the fixture is wrong, never an expected failure of the predictor."""


@functools.lru_cache(maxsize=None)
def built(target: str, sets: Tuple[str, ...]) -> runtime.TorchTable:
    path, cls = repo_target(target)
    try:
        return runtime.build(path, cls, case_bindings(sets))
    except UserError as exc:
        raise BrokenFixture(f"{target}: torch cannot build it: {exc}") from None


CHILD = r"""
import json, sys
from statedict_lint.predict import bindings
from statedict_lint.verify import runtime
path, cls, sets = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])
t = runtime.build(path, cls, bindings.collect(sets, []))
print(json.dumps({"entries": [[e.key, e.shape, e.dtype, e.kind, e.tied_to] for e in t.entries],
                  "non_persistent": [e.key for e in t.non_persistent]}))
"""


def built_elsewhere(target: str, sets: Tuple[str, ...], env: Dict[str, str]) -> runtime.TorchTable:
    """torch's build in a child process under extra environment variables (os.environ switches, PYTHONHASHSEED)."""
    path, cls = repo_target(target)
    proc = subprocess.run([sys.executable, "-c", CHILD, path, cls, json.dumps(list(sets))], capture_output=True,
                          text=True, env={**os.environ, **env}, timeout=300)
    if proc.returncode != 0:
        raise BrokenFixture(f"{target} under {env}: torch cannot build it: {proc.stderr[-2000:]}")
    data = json.loads(proc.stdout.strip().splitlines()[-1])
    table = runtime.TorchTable(target=target)
    for key, shape, dtype, kind, tied in data["entries"]:
        table.entries.append(runtime.Entry(key, None if shape is None else tuple(shape), dtype, kind, tied))
    return table


def _wrong(pred: Prediction, table: runtime.TorchTable) -> List[str]:
    return [f"{d.what} {d.key}: predicted {d.predicted}, torch {d.torch} (line {d.line}) {d.note}".rstrip()
            for d in compare(pred, table) if d.verdict == "wrong"]


def _native_env(case: Dict[str, Any]) -> Dict[str, str]:
    folder = os.path.join(REPO, case["native"])
    return {"PYTHONPATH": os.pathsep.join(p for p in (folder, os.environ.get("PYTHONPATH", "")) if p)}


@pytest.mark.parametrize("case", [_param(c) for c in CASES])
def test_redteam_soundness(case: Dict[str, Any]) -> None:
    target, sets = case["target"], tuple(case["set"])
    # predicted before torch imports anything of the case: the static path must not depend on sys.modules
    pred = predicted(target, sets)
    # torch builds every case (a case torch cannot build is a broken fixture)
    table = built_elsewhere(target, sets, _native_env(case)) if case.get("native") else built(target, sets)
    assert not isinstance(pred, str), f"{target}: the predictor stops although torch builds it: {pred}"
    wrong = _wrong(pred, table)
    assert not wrong, f"{target}: concrete claims torch contradicts (complete={pred.complete}): {wrong}"
    if pred.complete:
        diffs = compare(pred, table)
        assert not diffs, f"{target}: complete but differs from torch: {[d.to_json() for d in diffs]}"
        assert sorted(k.key for k in pred.non_persistent) == sorted(e.key for e in table.non_persistent)
    else:
        assert pred.unresolved, f"{target}: incomplete without any reason"
        for u in pred.unresolved:
            assert u.line > 0 and u.message, f"{target}: a reason without a line: {u}"
    for env in case.get("envs", []):
        if case.get("native"):
            env = {**env, **_native_env(case)}
        other = built_elsewhere(target, sets, env)
        assert not _wrong(pred, other), f"{target} under {env}: {_wrong(pred, other)}"
        if pred.complete:
            assert not compare(pred, other), f"{target}: complete, but torch under {env} differs"
    for seed in case.get("hash_seeds", []):
        other = built_elsewhere(target, sets, {"PYTHONHASHSEED": str(seed)})
        assert not _wrong(pred, other), f"{target} with PYTHONHASHSEED={seed}: {_wrong(pred, other)}"


def test_every_redteam_class_has_a_case() -> None:
    """Every nn.Module class torch can build without arguments in fixtures/redteam/ is a case."""
    import ast

    targets = {c["target"] for c in CASES}
    folder = os.path.join(REPO, "fixtures", "redteam")
    files = sorted(n for n in os.listdir(folder) if n.endswith(".py"))
    assert len(files) >= 30
    assert len(targets) >= 60
    for name in files:
        with open(os.path.join(folder, name), encoding="utf-8") as fh:
            tree = ast.parse(fh.read())
        classes = [n.name for n in tree.body if isinstance(n, ast.ClassDef)]
        covered = [c for c in classes if f"fixtures/redteam/{name}:{c}" in targets]
        assert covered, f"{name}: no case"


def test_soundness_check_can_fail() -> None:
    """The property catches a wrong dimension, a key that does not exist, a swapped order and a false 'complete'."""
    case = next(c for c in CASES if c["target"].endswith("diamond.py:UsesDiamond"))
    target, sets = case["target"], tuple(case["set"])
    table = built(target, sets)
    pred = predicted(target, sets)
    assert isinstance(pred, Prediction)
    sure = [k for k in pred.keys if k.condition is None and k.shape and isinstance(k.shape[0], int)]
    assert len(sure) >= 2
    bad = copy.deepcopy(pred)
    spec = next(k for k in bad.keys if k.key == sure[0].key)
    spec.shape = (spec.shape[0] + 1,) + tuple(spec.shape[1:])
    assert any(sure[0].key in w for w in _wrong(bad, table))
    bad = copy.deepcopy(pred)
    ghost = copy.deepcopy(bad.keys[0])
    ghost.key, ghost.condition = "ghost.weight", None
    bad.keys.append(ghost)
    assert any("ghost.weight" in w for w in _wrong(bad, table))
    bad = copy.deepcopy(pred)
    i, j = bad.keys.index(next(k for k in bad.keys if k.key == sure[0].key)), \
        bad.keys.index(next(k for k in bad.keys if k.key == sure[-1].key))
    bad.keys[i], bad.keys[j] = bad.keys[j], bad.keys[i]
    assert any(w.startswith("order") for w in _wrong(bad, table))
    bad = copy.deepcopy(pred)
    bad.keys = bad.keys[:-1]
    bad.unresolved = []
    if bad.complete:  # complete is derived from what is unresolved: a dropped key is then a wrong claim
        assert any(w.startswith("missing") for w in _wrong(bad, table))


def test_environment_builds_differ() -> None:
    """The extra torch builds are real: the os.environ switch and PYTHONHASHSEED change what torch builds."""
    target = next(c["target"] for c in CASES if c["target"].endswith("env_switches.py:EnvWidth"))
    a = built_elsewhere(target, (), {"RT_WIDTH": "6", "RT_NORM": "gn"})
    b = built_elsewhere(target, (), {"RT_WIDTH": "4"})
    assert a.by_key()["fc.weight"].shape == (2, 6) and b.by_key()["fc.weight"].shape == (2, 4)
    target = next(c["target"] for c in CASES if c["target"].endswith("moduledict_keys.py:SetOrder"))
    orders = {tuple(built_elsewhere(target, (), {"PYTHONHASHSEED": str(s)}).keys()) for s in range(4)}
    assert len(orders) > 1
