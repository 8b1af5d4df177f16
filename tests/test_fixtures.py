"""Every fixture model against real torch, as listed in fixtures/cases.json.

For each case the class is predicted statically (``statedict_lint.predict.api.predict``, bindings parsed
exactly like ``keys --set``) and built with torch on the meta device through ``statedict_lint.verify.runtime``
under the same bindings. The expectations:

* ``exact``: the prediction is complete and equals torch: keys in order, shapes, dtypes, parameter or buffer,
  tied aliases, and the set of non-persistent buffers.
* ``incomplete``: the prediction says it is incomplete, names each expected reason in an unresolved
  message with a source line, and every concrete claim it makes (a key that exists, a dimension, a dtype,
  parameter or buffer, the relative order of the keys it is sure of) holds in every torch build of the case.
* ``symbolic``: substituting ``env`` for the free variables gives exactly torch's state_dict built with
  ``env`` (or ``torch_set``) as bindings.

The comparison here is written independently of ``statedict-lint verify`` on purpose.
"""

from __future__ import annotations

import functools
import json
import os
import re
from typing import Any, Dict, List, Optional, Tuple

import pytest

pytest.importorskip("torch")

from statedict_lint.verify import runtime  # noqa: E402
from statedict_lint.predict.api import module_classes, predict  # noqa: E402
from statedict_lint.predict.expand import expand  # noqa: E402
from statedict_lint.predict.template import Prediction  # noqa: E402

from conftest import REPO, case_bindings, repo_target  # noqa: E402
CASES_PATH = os.path.join(REPO, "fixtures", "cases.json")
with open(CASES_PATH, encoding="utf-8") as _fh:
    CASES: List[Dict[str, Any]] = json.load(_fh)["cases"]


def _id(case: Dict[str, Any]) -> str:
    target = case["target"].replace("fixtures/", "")
    return f"{target}[{case['name']}]" if case.get("name") else target


@functools.lru_cache(maxsize=None)
def predicted(target: str, sets: Tuple[str, ...]) -> Prediction:
    path, cls = repo_target(target)
    return predict(path, cls, case_bindings(sets))


@functools.lru_cache(maxsize=None)
def built(target: str, sets: Tuple[str, ...]) -> runtime.TorchTable:
    import torch

    path, cls = repo_target(target)
    dtype = torch.get_default_dtype()
    try:  # a fixture may change torch's default dtype at import (fixtures/import_time.py), as real code does
        table = runtime.build(path, cls, case_bindings(sets))
    finally:
        torch.set_default_dtype(dtype)
    assert table.device == "meta", f"{target}: meta construction failed: {table.meta_error}"
    return table


def _shape(s: Any) -> Optional[tuple]:
    return None if s is None else tuple(s)


def _torch_rows(table: runtime.TorchTable) -> List[tuple]:
    return [(e.key, e.shape, e.dtype, e.kind, e.tied_to) for e in table.entries]


def _claims_violations(pred: Prediction, table: runtime.TorchTable) -> List[str]:
    """Every concrete claim of an (incomplete or symbolic) prediction that torch contradicts."""
    real = table.by_key()
    order = {k: i for i, k in enumerate(table.keys())}
    wrong: List[str] = []

    def check(spec: Any, key: str, e: runtime.Entry) -> None:
        if spec.kind != e.kind:
            wrong.append(f"{key}: predicted {spec.kind}, torch has a {e.kind}")
        if spec.kind == "extra_state":
            return
        if spec.dtype is not None and spec.dtype != e.dtype:
            wrong.append(f"{key}: predicted dtype {spec.dtype}, torch {e.dtype}")
        if spec.shape is not None and e.shape is not None:
            if len(spec.shape) != len(e.shape):
                wrong.append(f"{key}: predicted rank {len(spec.shape)} {spec.shape}, torch {e.shape}")
            else:
                for d, t in zip(spec.shape, e.shape):
                    if isinstance(d, int) and not isinstance(d, bool) and d != t:
                        wrong.append(f"{key}: predicted shape {spec.shape}, torch {e.shape}")
                        break

    sure: List[str] = []
    for spec in pred.keys:
        if "{" in spec.key:  # a repeated key: every torch key matching the pattern must fit the claims
            pattern = re.compile("^" + re.sub(r"\\\{[^{}]*\\\}", r"\\d+", re.escape(spec.key)) + "$")
            for key, e in real.items():
                if pattern.match(key):
                    check(spec, key, e)
            continue
        e = real.get(spec.key)
        if e is None:
            if spec.condition is None:
                wrong.append(f"{spec.key}: predicted to exist unconditionally, torch has no such key")
            continue
        check(spec, spec.key, e)
        if spec.condition is None:
            sure.append(spec.key)
    positions = [order[k] for k in sure]
    if positions != sorted(positions):
        wrong.append(f"order of the keys predicted for sure differs from torch: {sure} vs torch "
                     f"{[k for k in table.keys() if k in set(sure)]}")
    for np_spec in pred.non_persistent:
        if np_spec.key in real and "{" not in np_spec.key and np_spec.condition is None:
            wrong.append(f"{np_spec.key}: predicted non-persistent, but torch has it in the state_dict")
    return wrong


@pytest.mark.parametrize("case", CASES, ids=[_id(c) for c in CASES])
def test_fixture_case(case: Dict[str, Any]) -> None:
    if "einops" in case["target"]:
        pytest.importorskip("einops")
    target = case["target"]
    sets = tuple(case["set"])
    pred = predicted(target, sets)
    expect = case["expect"]
    if expect == "exact":
        problems = [f"line {u.line}: {u.message}" for u in pred.unresolved]
        assert pred.complete, f"{target}: prediction incomplete: {problems or [k.key for k in pred.keys]}"
        table = built(target, sets)
        mine = [(k.key, _shape(k.shape), k.dtype, k.kind, k.tied_to) for k in pred.keys]
        theirs = _torch_rows(table)
        if mine != theirs:
            missing = [r for r in theirs if r[0] not in {m[0] for m in mine}]
            extra = [m for m in mine if m[0] not in {r[0] for r in theirs}]
            different = [(m, r) for m in mine for r in theirs if m[0] == r[0] and m != r]
            raise AssertionError(f"{target}: prediction differs from torch\n  not predicted: {missing[:5]}\n"
                                 f"  predicted, not in torch: {extra[:5]}\n  different: {different[:5]}\n"
                                 f"  order: {[m[0] for m in mine] == [r[0] for r in theirs]}")
        assert sorted(k.key for k in pred.non_persistent) == sorted(e.key for e in table.non_persistent)
        assert not _claims_violations(pred, table)  # the same check the honest cases get
    elif expect == "incomplete":
        assert not pred.complete, f"{target}: expected an honest incomplete prediction"
        assert pred.unresolved, f"{target}: incomplete without any reason given"
        for u in pred.unresolved:
            assert u.line > 0 and u.message, f"{target}: a reason without a line: {u}"
        for want in case["reasons"]:
            assert any(want in u.message for u in pred.unresolved), \
                f"{target}: no unresolved message mentions {want!r}: {[u.message for u in pred.unresolved]}"
        assert case["torch_sets"], "an incomplete case needs torch builds to judge its claims against"
        for torch_sets in case["torch_sets"]:
            table = built(target, tuple(torch_sets))
            wrong = _claims_violations(pred, table)
            assert not wrong, f"{target}: wrong concrete claims against torch built with {torch_sets}: {wrong}"
    elif expect == "symbolic":
        env = case["env"]
        assert not pred.complete
        assert pred.variables(), f"{target}: expected a symbolic prediction"
        assert set(pred.variables()) <= set(env), f"{target}: free variables {pred.variables()} not all in env"
        rows = expand(pred, env)
        assert rows is not None, f"{target}: the symbolic prediction cannot be expanded with {env}"
        torch_set = case.get("torch_set") or [f"{k}={v!r}" for k, v in env.items()]
        table = built(target, sets + tuple(torch_set))
        mine = [(k, _shape(s), d, spec.kind) for k, s, d, spec in rows]
        theirs = [(e.key, e.shape, e.dtype, e.kind) for e in table.entries]
        assert mine == theirs
        assert not _claims_violations(pred, table)
    else:
        raise AssertionError(f"unknown expectation {expect!r}")


def test_cases_cover_the_fixtures() -> None:
    """At least 40 distinct fixture classes, every fixture model file has a case, every case names a real class."""
    classes = {c["target"] for c in CASES}
    assert len(classes) >= 40
    files = {t.rsplit(":", 1)[0] for t in classes}
    on_disk = set()
    for root, _dirs, names in os.walk(os.path.join(REPO, "fixtures")):
        for n in names:
            if n.endswith(".py") and n != "__init__.py" and "checkpoints" not in root and "redteam" not in root:
                on_disk.add(os.path.relpath(os.path.join(root, n), REPO).replace(os.sep, "/"))
    # pkg/layers.py is reached through pkg/model.py's relative imports; fixtures/redteam/ has its own cases.json
    # (tests/test_redteam.py)
    assert on_disk - files <= {"fixtures/pkg/layers.py"}, sorted(on_disk - files)
    for target in sorted(classes):
        path, cls = repo_target(target)
        assert cls in {name for name, _line in module_classes(path)}, target
    incomplete = [c for c in CASES if c["expect"] == "incomplete"]
    assert len(incomplete) >= 5


def test_claims_check_can_fail() -> None:
    """The honest-case check must catch a wrong concrete claim (a guard against a check that never fails)."""
    case = next(c for c in CASES
                if c["target"].endswith("incomplete_branch.py:BranchOnFlag") and c["expect"] == "incomplete")
    pred = predicted(case["target"], tuple(case["set"]))
    table = built(case["target"], tuple(case["torch_sets"][0]))
    assert not _claims_violations(pred, table)
    import copy

    bad = copy.deepcopy(pred)
    head = next(k for k in bad.keys if k.key == "head.weight")
    head.shape = (head.shape[0] + 1,) + tuple(head.shape[1:])
    assert any("head.weight" in w for w in _claims_violations(bad, table))
    bad = copy.deepcopy(pred)
    bad.keys.append(copy.deepcopy(head))
    bad.keys[-1].key = "ghost.weight"
    assert any("ghost.weight" in w for w in _claims_violations(bad, table))
    bad = copy.deepcopy(pred)
    sure = [k for k in bad.keys if k.condition is None]
    i, j = bad.keys.index(sure[0]), bad.keys.index(sure[-1])
    bad.keys[i], bad.keys[j] = bad.keys[j], bad.keys[i]
    assert any("order" in w for w in _claims_violations(bad, table))


# -- regressions found while reviewing the fixtures, each judged by torch -----------------------------------

REGRESSIONS = '''
import os
from collections import OrderedDict
import torch
import torch.nn as nn


class ConvBNAct(nn.Sequential):  # super().__init__(*layers) in a Sequential subclass (was predicted empty)
    def __init__(self, c_in=3, c_out=4, act=nn.SiLU):
        super().__init__(nn.Conv2d(c_in, c_out, 3, bias=False), nn.BatchNorm2d(c_out), act())


class OldStyle(nn.Sequential):
    def __init__(self):
        nn.Sequential.__init__(self, nn.Linear(2, 3), nn.ReLU(), nn.Linear(3, 1))


class Stack(nn.ModuleList):
    def __init__(self, n=3):
        super().__init__([nn.Linear(i + 1, 1) for i in range(n)])
        self.append(nn.LayerNorm(4))


class Uses(nn.Module):
    def __init__(self):
        super().__init__()
        self.a = ConvBNAct()
        self.b = OldStyle()
        self.c = Stack()


class Added(nn.Module):  # ModuleList + iterable, Sequential + Sequential (was a plain attribute: keys lost)
    def __init__(self):
        super().__init__()
        a = nn.ModuleList([nn.Linear(1, 2)])
        self.both = a + nn.ModuleList([nn.Linear(2, 3), nn.Linear(3, 4)])
        self.more = a + [nn.LayerNorm(5)]
        self.seq = nn.Sequential(nn.Linear(1, 1), nn.ReLU()) + nn.Sequential(nn.Linear(1, 2))


class ParamDicts(nn.Module):  # ParameterDict sorts a plain dict by key, keeps an OrderedDict's order
    def __init__(self):
        super().__init__()
        self.a = nn.ParameterDict({"z": nn.Parameter(torch.ones(2)), "y": nn.Parameter(torch.ones(1))})
        self.b = nn.ParameterDict(OrderedDict([("z", nn.Parameter(torch.ones(2))), ("y", nn.Parameter(torch.ones(1)))]))
        self.c = nn.ModuleDict({"z": nn.Linear(1, 1), "a": nn.Linear(2, 2)})


class DelPop(nn.Module):  # del/pop on ModuleList and Sequential renumber like torch (slices too)
    def __init__(self):
        super().__init__()
        self.a = nn.Sequential(OrderedDict([("conv", nn.Conv2d(1, 2, 1)), ("act", nn.ReLU()), ("fc", nn.Linear(2, 3))]))
        del self.a[1]
        self.b = nn.ModuleList([nn.Linear(i + 1, 1) for i in range(6)])
        del self.b[1:3]
        self.c = nn.Sequential(*[nn.Linear(i + 1, 1) for i in range(5)])
        del self.c[::2]
        self.d = nn.ModuleList([nn.Linear(1, 1), nn.Linear(2, 2), nn.Linear(3, 3)])
        self.e = self.d.pop(0)
        self.f = nn.Sequential(nn.Linear(1, 1), nn.Linear(2, 2))
        self.g = self.f.pop(-1)


class DictOps(nn.Module):  # ModuleDict del/pop/clear
    def __init__(self):
        super().__init__()
        self.d = nn.ModuleDict({"a": nn.Linear(1, 1), "b": nn.Linear(2, 2), "c": nn.Linear(3, 3)})
        del self.d["a"]
        self.x = self.d.pop("b")
        self.e = nn.ModuleDict({"q": nn.Linear(1, 1)})
        self.e.clear()


class BufferOverChild(nn.Module):  # register_buffer under a child's name: torch raises KeyError
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(2, 2)
        self.register_buffer("fc", torch.zeros(2))


class BufferOverAttribute(nn.Module):
    def __init__(self):
        super().__init__()
        self.scale = 2.0
        self.register_buffer("scale", torch.ones(1))


class HalfBuffer(nn.Module):  # register_buffer under a name nn.Module already has: torch raises KeyError
    def __init__(self):
        super().__init__()
        self.register_buffer("half", torch.ones(3))


class ComplexRope(nn.Module):  # a non-persistent buffer of unknown shape leaves the state_dict settled
    def __init__(self, dim=8):
        super().__init__()
        self.proj = nn.Linear(dim, dim)
        freqs = torch.outer(torch.arange(4.0), torch.ones(dim // 2))
        self.register_buffer("rope", torch.polar(torch.ones_like(freqs), freqs), persistent=False)
'''


def test_regressions_against_torch(write_model: Any) -> None:
    path = write_model(REGRESSIONS)
    for cls in ("ConvBNAct", "OldStyle", "Stack", "Uses", "ComplexRope", "Added", "ParamDicts", "DelPop", "DictOps"):
        pred = predict(path, cls, {})
        table = runtime.build(path, cls, {})
        assert pred.complete, (cls, pred.unresolved)
        assert [(k.key, _shape(k.shape), k.dtype, k.kind) for k in pred.keys] == \
            [(e.key, e.shape, e.dtype, e.kind) for e in table.entries], cls
    from statedict_lint.errors import UserError

    for cls, name in (("HalfBuffer", "half"), ("BufferOverChild", "fc"), ("BufferOverAttribute", "scale")):
        with pytest.raises(UserError, match=f"attribute '{name}' already exists"):
            predict(path, cls, {})
        with pytest.raises(UserError, match="already exists"):
            runtime.build(path, cls, {})


def test_bound_attribute_through_getattr_and_computed_index() -> None:
    """getattr(args, "use_norm", False) sees `--set args.use_norm=True`; `blocks.{depth}` expands."""
    pred = predicted("fixtures/configs.py:GetattrNet", ("args.in_dim=7", "args.use_norm=True"))
    assert "norm.weight" in [k.key for k in pred.keys]
    assert all(k.condition is None for k in pred.keys)
    pred = predicted("fixtures/mlp.py:ResidualMLP", ())
    rows = expand(pred, {"dim": 2, "depth": 3})
    assert rows is not None and rows[-1][0] == "blocks.3.bias"


def test_installed_third_party_package_followed_on_sys_path(tmp_path: Any, monkeypatch: Any) -> None:
    """A layer library found on sys.path (as pip would place it), imported by the model through its package
    __init__ re-exports and relative imports inside it: the predictor reads its source, torch imports it."""
    site = tmp_path / "site-packages" / "tinylayers"
    site.mkdir(parents=True)
    (site / "__init__.py").write_text("from .norms import RMSNorm\nfrom .mlp import GatedMLP\n"
                                      "__all__ = ['RMSNorm', 'GatedMLP']\n")
    (site / "norms.py").write_text(
        "import torch\nfrom torch import nn\n\n\n"
        "class RMSNorm(nn.Module):\n"
        "    def __init__(self, dim, eps=1e-6, affine=True):\n"
        "        super().__init__()\n"
        "        self.eps = eps\n"
        "        self.weight = nn.Parameter(torch.ones(dim)) if affine else None\n")
    (site / "mlp.py").write_text(
        "import functools\nfrom torch import nn\nfrom .norms import RMSNorm\n\n\n"
        "class GatedMLP(nn.Module):\n"
        "    def __init__(self, dim, hidden=None, norm_layer=functools.partial(RMSNorm, eps=1e-5), bias=False):\n"
        "        super().__init__()\n"
        "        hidden = hidden or 4 * dim\n"
        "        self.norm = norm_layer(dim)\n"
        "        self.w12 = nn.Linear(dim, 2 * hidden, bias=bias)\n"
        "        self.w3 = nn.Linear(hidden, dim, bias=bias)\n")
    model = tmp_path / "project" / "model.py"
    model.parent.mkdir()
    model.write_text(
        "import torch.nn as nn\nimport tinylayers\nfrom tinylayers import GatedMLP\n\n\n"
        "class Tower(nn.Module):\n"
        "    def __init__(self, dim=16, depth=2):\n"
        "        super().__init__()\n"
        "        self.blocks = nn.ModuleList([GatedMLP(dim, hidden=24) for _ in range(depth)])\n"
        "        self.norm = tinylayers.RMSNorm(dim, affine=False)\n"
        "        self.head = nn.Linear(dim, 3)\n")
    monkeypatch.syspath_prepend(str(tmp_path / "site-packages"))
    pred = predict(str(model), "Tower", {})
    assert pred.complete, pred.unresolved
    table = runtime.build(str(model), "Tower", {})
    assert [(k.key, _shape(k.shape), k.dtype, k.kind) for k in pred.keys] == \
        [(e.key, e.shape, e.dtype, e.kind) for e in table.entries]
    assert any(k.path.endswith(os.path.join("tinylayers", "mlp.py")) for k in pred.keys)


def test_keys_text_never_states_a_total_for_an_incomplete_prediction(capsys: Any) -> None:
    """EinMix is not modelled: the other keys are concrete, but their sum is not the model's size."""
    pytest.importorskip("einops")
    from statedict_lint.cli import main

    assert main(["keys", os.path.join(REPO, "fixtures", "third_party_einops.py") + ":MLPMixerLite", "--no-cache"]) == 0
    out = capsys.readouterr().out
    assert "INCOMPLETE" in out and "not known in total" in out
    assert "size:" not in out
