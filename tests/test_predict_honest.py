"""When the predictor cannot know, it says so (line + reason) and claims nothing false.

Symbolic predictions are checked against torch by substituting values for the free variables.
"""

from __future__ import annotations

import re
import textwrap
from typing import Any, Dict, List

import pytest

torch = pytest.importorskip("torch")

from conftest import load_module_from_path, torch_table  # noqa: E402
from statedict_lint.predict.api import predict  # noqa: E402
from statedict_lint.predict.expand import expand as expand_prediction  # noqa: E402
from statedict_lint.predict.symbolic import Sym  # noqa: E402

HEADER = "import torch\nimport torch.nn as nn\n"


def _src(body: str) -> str:
    return HEADER + textwrap.dedent(body)


def expand(pred: Any, env: Dict[str, int]) -> List[tuple]:
    rows = expand_prediction(pred, env)
    assert rows is not None
    return [(k, s, d) for k, s, d, _ in rows]


def test_layer_type_from_unbound_parameter(write_model: Any) -> None:
    path = write_model(_src('''
        class M(nn.Module):
            def __init__(self, norm_layer, dim=8):
                super().__init__()
                self.fc = nn.Linear(dim, dim)
                self.norm = norm_layer(dim)
    '''))
    pred = predict(path, "M", {})
    assert not pred.complete
    assert [k.key for k in pred.keys] == ["fc.weight", "fc.bias"]
    msgs = [u for u in pred.unresolved if "norm" in u.message]
    assert msgs and msgs[0].line == 8, pred.unresolved
    # binding the parameter settles it, and the result equals torch
    from statedict_lint.predict.bindings import NameRef

    pred2 = predict(path, "M", {"norm_layer": NameRef("nn.LayerNorm")})
    assert pred2.complete
    mod = load_module_from_path(path)
    with torch.device("meta"):
        expected = torch_table(mod.M(nn_layer := torch.nn.LayerNorm))  # noqa: F841
    assert [(k.key, tuple(k.shape), k.dtype) for k in pred2.keys] == expected


def test_unknown_condition_gives_conditional_keys(write_model: Any) -> None:
    path = write_model(_src('''
        class M(nn.Module):
            def __init__(self, use_bn, dim=4):
                super().__init__()
                self.conv = nn.Conv2d(3, dim, 3, bias=not use_bn)
                if use_bn:
                    self.norm = nn.BatchNorm2d(dim)
                else:
                    self.norm = nn.Identity()
                self.head = nn.Linear(dim, 2)
    '''))
    pred = predict(path, "M", {})
    assert not pred.complete
    by_key = {k.key: k for k in pred.keys}
    assert by_key["conv.weight"].condition is None and by_key["conv.weight"].shape == (4, 3, 3, 3)
    assert by_key["conv.bias"].condition is not None
    assert by_key["norm.running_mean"].condition is not None and "use_bn" in by_key["norm.running_mean"].condition
    assert by_key["head.weight"].condition is None
    mod = load_module_from_path(path)
    for use_bn in (True, False):
        with torch.device("meta"):
            real = {k: (s, d) for k, s, d in torch_table(mod.M(use_bn))}
        for k in pred.keys:  # every unconditional claim holds on both branches
            if k.condition is None:
                assert real[k.key] == (tuple(k.shape), k.dtype)
        assert set(real) <= set(by_key)  # nothing torch has is silently missing


def test_loop_over_unbound_list(write_model: Any) -> None:
    path = write_model(_src('''
        class M(nn.Module):
            def __init__(self, dims):
                super().__init__()
                self.stem = nn.Linear(3, 3)
                layers = []
                for a, b in zip(dims[:-1], dims[1:]):
                    layers.append(nn.Linear(a, b))
                self.body = nn.Sequential(*layers)
    '''))
    pred = predict(path, "M", {})
    assert not pred.complete
    assert [k.key for k in pred.keys if k.condition is None] == ["stem.weight", "stem.bias"]
    assert any(u.line for u in pred.unresolved)
    pred2 = predict(path, "M", {"dims": [3, 5, 2]})
    assert pred2.complete
    mod = load_module_from_path(path)
    with torch.device("meta"):
        assert [(k.key, tuple(k.shape), k.dtype) for k in pred2.keys] == torch_table(mod.M([3, 5, 2]))


def test_symbolic_shapes_and_repetition_match_torch(write_model: Any) -> None:
    path = write_model(_src('''
        class Block(nn.Module):
            def __init__(self, dim, mult=4):
                super().__init__()
                self.ln = nn.LayerNorm(dim)
                self.fc = nn.Linear(dim, mult * dim)
                self.proj = nn.Linear(mult * dim, dim)

        class M(nn.Module):
            def __init__(self, vocab, dim, depth):
                super().__init__()
                self.emb = nn.Embedding(vocab, dim)
                self.blocks = nn.ModuleList([Block(dim) for _ in range(depth)])
                self.head = nn.Linear(dim, vocab // 2)
                self.register_buffer("pos", torch.arange(dim * 2))
    '''))
    pred = predict(path, "M", {})
    keys = {k.key: k for k in pred.keys}
    assert "blocks.{i}.fc.weight" in keys
    fc = keys["blocks.{i}.fc.weight"]
    assert [str(d) for d in fc.shape] == ["4*dim", "dim"]
    assert {p: str(c) for p, c in fc.repeat.items()} == {"i": "depth"}
    assert not pred.complete  # symbolic
    assert pred.to_json()["keys"]["blocks.{i}.fc.weight"]["shape"] == ["4*dim", "dim"]
    mod = load_module_from_path(path)
    for env in ({"vocab": 10, "dim": 6, "depth": 3}, {"vocab": 7, "dim": 2, "depth": 1}):
        with torch.device("meta"):
            expected = torch_table(mod.M(**env))
        assert expand(pred, env) == expected


def test_unresolvable_import_is_reported_not_guessed(write_model: Any) -> None:
    path = write_model(_src('''
        from not_installed_pkg.layers import FancyNorm

        class M(nn.Module):
            def __init__(self):
                super().__init__()
                self.fc = nn.Linear(2, 2)
                self.norm = FancyNorm(2)
    '''))
    pred = predict(path, "M", {})
    assert [k.key for k in pred.keys] == ["fc.weight", "fc.bias"]
    assert not pred.complete
    assert any("not_installed_pkg" in u.message for u in pred.unresolved), pred.unresolved


def test_relative_imports_across_files(tmp_path: Any) -> None:
    pkg = tmp_path / "proj" / "models"
    pkg.mkdir(parents=True)
    (tmp_path / "proj" / "__init__.py").write_text("")
    (pkg / "__init__.py").write_text("from .blocks import Block\n")
    (pkg / "blocks.py").write_text(HEADER + textwrap.dedent('''
        from ..consts import WIDTH

        class Block(nn.Module):
            def __init__(self, dim=WIDTH):
                super().__init__()
                self.fc = nn.Linear(dim, dim * 2)
    '''))
    (tmp_path / "proj" / "consts.py").write_text("WIDTH = 5\n")
    (pkg / "net.py").write_text(HEADER + textwrap.dedent('''
        from . import Block
        from proj.models.blocks import Block as B2

        class Net(nn.Module):
            def __init__(self):
                super().__init__()
                self.a = Block()
                self.b = B2(3)
    '''))
    pred = predict(str(pkg / "net.py"), "Net", {})
    assert pred.complete, pred.unresolved
    assert [(k.key, k.shape) for k in pred.keys] == [
        ("a.fc.weight", (10, 5)), ("a.fc.bias", (10,)), ("b.fc.weight", (6, 3)), ("b.fc.bias", (6,))]
    assert pred.keys[0].path.endswith("blocks.py") and pred.keys[0].line == 9


def test_bad_inputs_raise_user_errors(write_model: Any) -> None:
    from statedict_lint.errors import UserError

    path = write_model("class M(:\n")
    with pytest.raises(UserError, match="syntax error"):
        predict(path, "M", {})
    good = write_model(_src('''
        class M(nn.Module):
            def __init__(self, n):
                super().__init__()
                assert n > 0, "n must be positive"
                self.fc = nn.Linear(n, n)

        class NotAModule:
            pass
    '''), name="good.py")
    with pytest.raises(UserError, match="no class `Missing`"):
        predict(good, "Missing", {})
    with pytest.raises(UserError, match="not a torch.nn.Module"):
        predict(good, "NotAModule", {})
    with pytest.raises(UserError, match=r"fails .*good.py:7"):
        predict(good, "M", {"n": 0})
    with pytest.raises(UserError, match="neither a parameter"):
        predict(good, "M", {"bogus": 1})


def test_catalog_layer_lines_point_at_user_code(write_model: Any) -> None:
    path = write_model(_src('''
        class M(nn.Module):
            def __init__(self):
                super().__init__()
                self.layers = nn.ModuleDict(dict(
                    a=nn.Linear(2, 2),
                    b=nn.Linear(3, 3),
                ))
    '''))
    pred = predict(path, "M", {})
    lines = {k.key: k.line for k in pred.keys}
    assert lines["layers.a.weight"] == 8 and lines["layers.b.bias"] == 9
    assert all(re.search(r"model\.py$", k.path) for k in pred.keys)


def test_symbolic_names_and_conditional_expression(write_model: Any) -> None:
    path = write_model(_src('''
        class Block(nn.Module):
            def __init__(self, n, bias):
                super().__init__()
                for i in range(n):
                    self.add_module("denselayer%d" % (i + 1), nn.Linear(4, 4))
                self.weight = nn.Parameter(torch.ones(4))
                self.bias = nn.Parameter(torch.zeros(4)) if bias else None
    '''))
    pred = predict(path, "Block", {})
    by_key = {k.key: k for k in pred.keys}
    assert by_key["denselayer{i + 1}.weight"].repeat["i"] == Sym.var("n")
    assert by_key["bias"].condition is not None and "bias" in by_key["bias"].condition
    assert by_key["weight"].condition is None
    mod = load_module_from_path(path)
    for bias in (True, False):
        with torch.device("meta"):
            expected = torch_table(mod.Block(3, bias))
        rows = [r for r in expand(pred, {"n": 3}) if bias or r[0] != "bias"]
        assert rows == expected


def test_order_depending_on_a_branch_is_not_claimed(write_model: Any) -> None:
    path = write_model(_src('''
        class M(nn.Module):
            def __init__(self, flip):
                super().__init__()
                if flip:
                    self.a = nn.Linear(1, 1)
                    self.b = nn.Linear(2, 2)
                else:
                    self.b = nn.Linear(2, 2)
                    self.a = nn.Linear(1, 1)
                self.c = nn.Linear(3, 3)
                if flip:
                    self.c = nn.Linear(3, 3)
    '''))
    pred = predict(path, "M", {})
    by_key = {k.key: k for k in pred.keys}
    assert by_key["a.weight"].condition is not None and by_key["b.weight"].condition is not None
    assert by_key["c.weight"].condition is None  # set on both paths, same position
    assert not pred.complete


def test_attribute_carried_across_symbolic_iterations_is_unknown(write_model: Any) -> None:
    path = write_model(_src('''
        class M(nn.Module):
            def __init__(self, depth, dim=4):
                super().__init__()
                self.dim = dim
                self.layers = nn.ModuleList()
                for _ in range(depth):
                    self.layers.append(nn.Linear(self.dim, self.dim * 2))
                    self.dim = self.dim * 2
    '''))
    pred = predict(path, "M", {})
    k = next(k for k in pred.keys if k.key == "layers.{i}.weight")
    assert k.shape is None or all(d is None for d in k.shape)  # varies with i: not claimed
    assert not pred.complete
    mod = load_module_from_path(path)
    with torch.device("meta"):
        real = dict((n, s) for n, s, _ in torch_table(mod.M(3)))
    assert real["layers.1.weight"] == (16, 8)


def test_sequence_annotated_parameter_is_never_an_int(write_model: Any) -> None:
    """timm's ResNetV2(layers: List[int]) passes `layers` to a helper that raises for an int: an unbound
    list must not be taken for an int (the predictor used to report that the constructor raises)."""
    path = write_model(_src('''
        from typing import List

        def stage_rates(depths, stagewise=False):
            if isinstance(depths, int):
                if stagewise:
                    raise ValueError("stagewise needs a list of depths")
                return [0.0] * depths
            return [[0.0] * d for d in depths]

        class M(nn.Module):
            def __init__(self, layers: List[int], dim: int = 4):
                super().__init__()
                self.rates = stage_rates(layers, stagewise=True)
                self.stages = nn.ModuleList([nn.Linear(dim, dim) for _ in layers])
    '''))
    pred = predict(path, "M", {})
    assert not pred.complete
    pred2 = predict(path, "M", {"layers": [2, 3]})
    mod = load_module_from_path(path)
    with torch.device("meta"):
        real = torch_table(mod.M([2, 3]))
    assert pred2.complete
    assert [(k.key, k.shape, k.dtype) for k in pred2.keys] == real


def test_stateless_value_of_unknown_type_added_as_child_is_not_an_error(write_model: Any) -> None:
    """`self.add_module("act", act_layer())` where act_layer comes from a lookup the predictor cannot see
    into: no key either way, and no claim that the constructor fails."""
    path = write_model(_src('''
        import torch.nn.functional as F

        _has_hardswish = "hardswish" in dir(F)   # undecidable here: both branches are stateless classes

        class HardSwish(nn.Module):
            def forward(self, x):
                return x * F.relu6(x + 3.0) / 6.0

        ACTS = {"relu": nn.ReLU, "hard_swish": nn.Hardswish if _has_hardswish else HardSwish}

        def get_act(name):
            return ACTS[name]

        class M(nn.Module):
            def __init__(self, act="hard_swish", dim=4):
                super().__init__()
                self.add_module("fc", nn.Linear(dim, dim))
                self.add_module("act", get_act(act)())
    '''))
    pred = predict(path, "M", {})
    mod = load_module_from_path(path)
    with torch.device("meta"):
        real = torch_table(mod.M())
    assert [(k.key, k.shape, k.dtype) for k in pred.keys] == real


def test_helper_unrolling_a_huge_loop_is_given_up_alone(write_model: Any) -> None:
    """timm's TinyVit: a helper fills a bias table with a 196 x 196 loop. The helper call is abandoned on its
    own (noted, incomplete), and the rest of the model is still predicted -- every key true in torch."""
    path = write_model(_src('''
        import itertools

        class Attn(nn.Module):
            def __init__(self, dim=4, resolution=30):
                super().__init__()
                self.qkv = nn.Linear(dim, 3 * dim)
                self.resolution = resolution
                self.register_buffer("idxs", torch.zeros(resolution ** 2, resolution ** 2, dtype=torch.long),
                                     persistent=False)
                self._init_buffers()
                self.proj = nn.Linear(dim, dim)

            def _init_buffers(self):
                points = list(itertools.product(range(self.resolution), range(self.resolution)))
                offsets, idxs = {}, []
                for p1 in points:
                    for p2 in points:
                        off = (abs(p1[0] - p2[0]), abs(p1[1] - p2[1]))
                        if off not in offsets:
                            offsets[off] = len(offsets)
                        idxs.append(offsets[off])

        class M(nn.Module):
            def __init__(self):
                super().__init__()
                self.blocks = nn.ModuleList([Attn() for _ in range(3)])
                self.head = nn.Linear(4, 2)
    '''))
    pred = predict(path, "M", {})
    assert not pred.complete
    assert any("_init_buffers" in u.message for u in pred.unresolved), pred.unresolved
    assert not any("evaluation stopped" in u.message for u in pred.unresolved)
    mod = load_module_from_path(path)
    with torch.device("meta"):
        real = torch_table(mod.M())
    assert [(k.key, k.shape, k.dtype) for k in pred.keys] == real


def test_raise_under_unbound_parameters_is_no_claim_of_failure(write_model: Any) -> None:
    """timm's EfficientNet(block_args) / MaxxVit(cfg): with the required argument unbound, code that would
    raise for some values must not be reported as 'construction fails' -- torch builds it fine once bound."""
    from statedict_lint.errors import UserError

    path = write_model(_src('''
        def make_stages(depths, stagewise=False):
            if isinstance(depths, int) and stagewise:
                raise ValueError("stagewise needs a list of depths")
            return [nn.Linear(4, 4) for _ in range(sum(depths))]

        class M(nn.Module):
            def __init__(self, cfg, width=4):
                super().__init__()
                self.stem = nn.Linear(3, width)
                self.stages = nn.ModuleList(make_stages(cfg.depths, stagewise=True))

        class Bad(nn.Module):
            def __init__(self, depths=3):
                super().__init__()
                self.stages = nn.ModuleList(make_stages(depths, stagewise=True))
    '''))
    pred = predict(path, "M", {})
    assert not pred.complete
    assert any("cfg left unbound" in u.message and u.line for u in pred.unresolved), pred.unresolved
    # bound, it is exact
    pred2 = predict(path, "M", {"cfg.depths": [1, 2]})
    mod = load_module_from_path(path)
    import types

    with torch.device("meta"):
        real = torch_table(mod.M(types.SimpleNamespace(depths=[1, 2])))
    assert [(k.key, k.shape, k.dtype) for k in pred2.keys] == real and pred2.complete
    # with nothing left unbound, a raise is the code's own: torch raises too
    with pytest.raises(UserError, match="fails"):
        predict(path, "Bad", {})
    with pytest.raises(ValueError), torch.device("meta"):
        mod.Bad()


def test_raise_after_untraceable_writes_is_no_claim_of_failure(write_model: Any) -> None:
    """vit-pytorch's CvT: `kwargs = dict(locals())` split by prefix through a helper that writes into
    `groups[unknown_index][key]`. The evaluator cannot follow those writes, so the KeyError it then meets is
    not a certain failure (torch builds the model): incomplete with the reason, never 'construction fails'."""
    path = write_model(_src('''
        def group_by_prefix(prefix, d):
            groups = [dict(), dict()]
            for key in d.keys():
                ind = int(not key.startswith(prefix))
                groups[ind][key] = d[key]
            with_prefix, rest = groups
            return {k[len(prefix):]: v for k, v in with_prefix.items()}, rest

        class M(nn.Module):
            def __init__(self, s1_dim=4, s2_dim=8, channels=3):
                super().__init__()
                kwargs = dict(locals())
                layers, dim = [], channels
                for prefix in ("s1", "s2"):
                    config, kwargs = group_by_prefix(f"{prefix}_", kwargs)
                    layers.append(nn.Conv2d(dim, config["dim"], 3))
                    dim = config["dim"]
                self.layers = nn.Sequential(*layers)
    '''))
    pred = predict(path, "M", {})   # must not raise UserError
    assert not pred.complete
    assert any("construction stops here" in u.message for u in pred.unresolved), pred.unresolved
    mod = load_module_from_path(path)
    with torch.device("meta"):
        real = torch_table(mod.M())
    real_keys = {k for k, _, _ in real}
    assert all(k.key in real_keys for k in pred.keys)


def test_undecidable_not_is_a_value_not_a_dropped_branch(write_model: Any) -> None:
    """`int(not key.startswith("a"))` inside a loop over keys that cannot be known used to raise in the
    'loop runs' branch, which was then dropped as impossible: a complete prediction with a wrong shape."""
    path = write_model(_src('''
        def flags(d):
            out = []
            for key in d.keys():
                out.append(int(not key.startswith("a")))
            return out

        class M(nn.Module):
            def __init__(self, a=1):
                super().__init__()
                x = flags(dict(locals()))
                self.fc = nn.Linear(2, len(x) + 1)
    '''))
    pred = predict(path, "M", {})
    assert not pred.complete
    mod = load_module_from_path(path)
    with torch.device("meta"):
        real = dict((k, s) for k, s, _ in torch_table(mod.M()))
    for k in pred.keys:  # whatever it claims holds in torch
        assert k.key in real
        if k.shape is not None:
            assert all(not isinstance(d, int) or d == r for d, r in zip(k.shape, real[k.key]))


@pytest.mark.parametrize("expr", [
    "'{}'.format([self.fc.weight])",
    "f'{[self.fc.weight]}'",
    "f'{self.fc}'",
    "'{:.3f}'.format(self.fc.weight.std())",
    "'{0.in_features}'.format(self.fc)",
    "'{}'.format({'w': self.fc.weight})",
    "'%s' % (self.fc,)",
])
def test_formatting_values_that_are_not_plain_leaves_the_string_unknown(write_model: Any, expr: str) -> None:
    # Python would format the evaluator's own objects (a TensorSpec inside a list, a ModuleValue): a key built
    # from such a string must never be claimed, and formatting must never raise out of the evaluator
    path = write_model(_src(f'''
        class M(nn.Module):
            def __init__(self):
                super().__init__()
                self.fc = nn.Linear(2, 2)
                self.d = nn.ModuleDict({{{expr}: nn.Linear(1, 1)}})
    '''))
    pred = predict(path, "M", {})
    assert not pred.complete
    assert [k.key for k in pred.keys] == ["fc.weight", "fc.bias"]
    assert any(u.line == 8 for u in pred.unresolved), pred.unresolved


def test_internal_error_becomes_one_user_error(write_model: Any, monkeypatch: Any) -> None:
    from statedict_lint.errors import UserError
    from statedict_lint.predict import api

    path = write_model(_src('''
        class M(nn.Module):
            def __init__(self):
                super().__init__()
                self.fc = nn.Linear(2, 2)
    '''))

    def boom(*a: Any, **k: Any) -> Any:
        raise TypeError("unsupported format string passed to TensorSpec.__format__")

    monkeypatch.setattr(api, "_predict_here", boom)
    with pytest.raises(UserError, match=r"internal error .*M.*TypeError: unsupported format string"):
        api._predict(path, "M", {})
