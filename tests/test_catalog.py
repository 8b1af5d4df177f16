"""The catalog of torch.nn layers (``statedict_lint/predict/catalog/torch_nn.py``) against real torch.

(a) stub == torch: the catalog file is executed as a real module and every class is built next to the
    torch class, on the meta device, over a table of argument combinations; keys, order, shapes, dtypes,
    parameter/buffer kind and non-persistent buffers must be identical. Signatures must match too.
(b) STATELESS is true and complete: every name is a torch.nn layer without state, and every layer
    exported by torch.nn is a catalog class, stateless, a container, or excluded with a reason.
(c) predictor == torch: the same table, written as model source, through ``predict()``.
"""

from __future__ import annotations

import ast
import importlib.util
import inspect
import sys
import uuid
from typing import Any, Dict, List, Optional, Tuple

import pytest

torch = pytest.importorskip("torch")
nn = torch.nn

# torch warns about nested tensors in TransformerEncoder and the deprecated NLLLoss2d; not our concern here
pytestmark = pytest.mark.filterwarnings("ignore::UserWarning", "ignore::FutureWarning")

from statedict_lint.predict.catalog import CATALOG_PATH, STATELESS, catalog_classes, catalog_source  # noqa: E402
from torch.nn.parameter import UninitializedBuffer, UninitializedParameter  # noqa: E402

# ------------------------------------------------------------------------------------------------
# The argument table: class name -> argument source texts (evaluated with `torch` and `nn` in scope).
TABLE: Dict[str, List[str]] = {
    "Linear": ["3, 4", "3, 4, bias=False", "3, 4, dtype=torch.float16",
               "in_features=2, out_features=5, bias=True, dtype=torch.float64"],
    "NonDynamicallyQuantizableLinear": ["3, 4", "3, 4, bias=False"],
    "Bilinear": ["2, 3, 4", "2, 3, 4, bias=False, dtype=torch.float64"],
    "LazyLinear": ["4", "4, bias=False", "4, dtype=torch.float16"],
    "Conv1d": ["4, 6, 3", "4, 6, 3, groups=2, bias=False", "4, 6, (3,), padding='same'",
               "4, 6, 3, padding_mode='circular', dtype=torch.float64"],
    "Conv2d": ["3, 8, 3", "4, 8, (3, 5), stride=2, groups=4", "4, 8, 1, bias=False, dtype=torch.float16",
               "in_channels=2, out_channels=4, kernel_size=[2, 3], padding=1, padding_mode='reflect'"],
    "Conv3d": ["2, 4, 3", "4, 8, (1, 2, 3), groups=2, bias=False"],
    "ConvTranspose1d": ["4, 6, 3", "4, 6, 3, groups=2, bias=False"],
    "ConvTranspose2d": ["4, 6, (2, 3), groups=2",
                        "3, 5, 4, stride=2, padding=1, output_padding=1, dtype=torch.float64"],
    "ConvTranspose3d": ["4, 6, 3, groups=2", "2, 4, (1, 2, 3), bias=False"],
    "LazyConv1d": ["8, 3", "8, 3, groups=2, bias=False"],
    "LazyConv2d": ["8, 3", "8, (3, 1), bias=False, dtype=torch.float16"],
    "LazyConv3d": ["8, 3"],
    "LazyConvTranspose1d": ["8, 3", "8, 3, bias=False"],
    "LazyConvTranspose2d": ["8, 3", "8, 3, dtype=torch.float64"],
    "LazyConvTranspose3d": ["8, 3"],
    "BatchNorm1d": ["5", "5, affine=False", "5, track_running_stats=False",
                    "5, affine=False, track_running_stats=False",
                    "5, dtype=torch.float16", "5, bias=False"],
    "BatchNorm2d": ["4", "4, momentum=None, dtype=torch.float64"],
    "BatchNorm3d": ["4", "4, 1e-3, 0.01, False"],
    "SyncBatchNorm": ["6", "6, affine=False"],
    "InstanceNorm1d": ["5", "5, affine=True", "5, track_running_stats=True",
                       "5, affine=True, track_running_stats=True, bias=False"],
    "InstanceNorm2d": ["4", "4, affine=True, dtype=torch.float16"],
    "InstanceNorm3d": ["4", "4, track_running_stats=True"],
    "LazyBatchNorm1d": ["", "affine=False", "track_running_stats=False", "dtype=torch.float16", "bias=False"],
    "LazyBatchNorm2d": [""],
    "LazyBatchNorm3d": ["", "affine=False, track_running_stats=False"],
    "LazyInstanceNorm1d": [""],
    "LazyInstanceNorm2d": ["affine=False"],
    "LazyInstanceNorm3d": ["track_running_stats=False"],
    "LayerNorm": ["8", "(3, 4)", "[3, 4], elementwise_affine=False", "8, bias=False", "8, dtype=torch.bfloat16"],
    "GroupNorm": ["2, 8", "2, 8, affine=False", "4, 8, bias=False"],
    "RMSNorm": ["8", "(2, 4), eps=1e-6", "8, elementwise_affine=False", "8, dtype=torch.float16"],
    "Embedding": ["10, 4", "10, 4, padding_idx=0", "10, 4, padding_idx=-1, dtype=torch.float16",
                  "4, 3, _weight=torch.zeros(4, 3, dtype=torch.float64)"],
    "EmbeddingBag": ["10, 4", "10, 4, mode='sum', padding_idx=2"],
    "RNNBase": ["'LSTM', 3, 5", "'GRU', 3, 5, 2, bidirectional=True"],
    "RNN": ["3, 5", "3, 5, 2, 'relu'", "3, 5, num_layers=2, bias=False, bidirectional=True",
            "3, 5, dtype=torch.float64"],
    "LSTM": ["3, 5", "3, 5, 2, bidirectional=True, proj_size=2", "3, 5, num_layers=3, bias=False, proj_size=4",
             "input_size=4, hidden_size=6, batch_first=True, dtype=torch.float16"],
    "GRU": ["3, 5", "3, 5, 2, False, bidirectional=True"],
    "RNNCellBase": ["3, 5, True, 2"],
    "RNNCell": ["3, 5", "3, 5, bias=False, nonlinearity='relu'"],
    "LSTMCell": ["3, 5", "3, 5, False"],
    "GRUCell": ["3, 5", "3, 5, dtype=torch.float64"],
    "PReLU": ["", "8", "num_parameters=3, init=0.1, dtype=torch.float16"],
    "MultiheadAttention": ["8, 2", "8, 2, bias=False", "8, 2, kdim=3, vdim=5", "8, 2, add_bias_kv=True",
                           "8, 4, kdim=8, vdim=8, add_bias_kv=True, bias=False, dtype=torch.float16", "8, 2, vdim=4"],
    "TransformerEncoderLayer": ["8, 2, 16", "8, 2, 16, norm_first=True, bias=False", "8, 2, 16, activation='gelu'",
                                "8, 2, 16, activation=nn.PReLU()", "8, 2, 16, activation=nn.GELU()"],
    "TransformerDecoderLayer": ["8, 2, 16", "8, 2, 16, bias=False, dtype=torch.float64"],
    "TransformerEncoder": ["nn.TransformerEncoderLayer(8, 2, 16), 2",
                           "nn.TransformerEncoderLayer(8, 2, 16), 3, norm=nn.LayerNorm(8), enable_nested_tensor=False"],
    "TransformerDecoder": ["nn.TransformerDecoderLayer(8, 2, 16), 2",
                           "nn.TransformerDecoderLayer(8, 2, 16), 1, nn.LayerNorm(8)"],
    "Transformer": ["8, 2, 1, 1, 16",
                    "d_model=8, nhead=2, num_encoder_layers=2, num_decoder_layers=1, dim_feedforward=12, bias=False, "
                    "norm_first=True",
                    "8, 2, 1, 1, 16, custom_encoder=nn.Linear(8, 8)"],
    "AdaptiveLogSoftmaxWithLoss": ["16, 20, [5, 10]", "16, 20, (4, 8, 12), div_value=2.0, head_bias=True",
                                   "32, 10, [3]"],
    "CrossEntropyLoss": ["", "weight=torch.ones(5)", "torch.ones(3, dtype=torch.float64), label_smoothing=0.1"],
    "NLLLoss": ["", "weight=torch.ones(4)"],
    "NLLLoss2d": ["torch.ones(2)"],
    "BCELoss": ["", "torch.ones(3)"],
    "MultiLabelSoftMarginLoss": ["", "weight=torch.ones(3)"],
    "MultiMarginLoss": ["", "p=2, weight=torch.ones(4)"],
    "BCEWithLogitsLoss": ["", "pos_weight=torch.ones(3)",
                          "weight=torch.ones(2), pos_weight=torch.ones(2, dtype=torch.float16)"],
    "LinearCrossEntropyLoss": ["8, 5", "8, 5, bias=True", "8, 5, out_features=(2, 3), weight=torch.ones(5)"],
}

# Catalog classes that exist only as bases of table entries (exercised through their subclasses).
BASES_ONLY = {"_ConvNd", "_ConvTransposeNd", "_NormBase", "_BatchNorm", "_InstanceNorm", "_LazyNormBase", "_Loss",
              "_WeightedLoss"}

# Where torch keeps a catalog class that torch.nn does not export.
TORCH_HOME = {"NonDynamicallyQuantizableLinear": "torch.nn.modules.linear"}

CONTAINERS = {"Module", "Sequential", "ModuleList", "ModuleDict", "ParameterList", "ParameterDict"}

# Layers exported by torch.nn (from torch.nn.modules) that are neither catalog entries nor stateless.
EXCLUDED = {
    "Container": "deprecated (torch warns on use) container whose children come from **kwargs; "
                 "the evaluator does not model it, so it stays unknown",
}

# Constructor arguments for stateless layers that have required ones.
STATELESS_ARGS: Dict[str, str] = {
    "AdaptiveAvgPool1d": "2", "AdaptiveAvgPool2d": "2", "AdaptiveAvgPool3d": "2", "AdaptiveMaxPool1d": "2",
    "AdaptiveMaxPool2d": "2", "AdaptiveMaxPool3d": "2", "AvgPool1d": "2", "AvgPool2d": "2", "AvgPool3d": "2",
    "ChannelShuffle": "2", "CircularPad1d": "1", "CircularPad2d": "1", "CircularPad3d": "1",
    "ConstantPad1d": "1, 0.0", "ConstantPad2d": "1, 0.0", "ConstantPad3d": "1, 0.0", "Fold": "4, 2",
    "FractionalMaxPool2d": "2, output_size=2", "FractionalMaxPool3d": "2, output_size=2", "LPPool1d": "2, 2",
    "LPPool2d": "2, 2", "LPPool3d": "2, 2", "MaxPool1d": "2", "MaxPool2d": "2", "MaxPool3d": "2",
    "MaxUnpool1d": "2", "MaxUnpool2d": "2", "MaxUnpool3d": "2", "PixelShuffle": "2", "PixelUnshuffle": "2",
    "ReflectionPad1d": "1", "ReflectionPad2d": "1", "ReflectionPad3d": "1", "ReplicationPad1d": "1",
    "ReplicationPad2d": "1", "ReplicationPad3d": "1", "Threshold": "0.1, 0.0", "Unflatten": "1, (2, 2)",
    "Unfold": "2", "ZeroPad1d": "1", "ZeroPad2d": "1", "ZeroPad3d": "1", "CrossMapLRN2d": "3",
    "LocalResponseNorm": "3", "Softmax": "dim=1", "LogSoftmax": "dim=1", "Softmin": "dim=1",
}

# Documented signature differences between the catalog and torch 2.13 (none changes the state).
SIGNATURE_EXCEPTIONS = {
    # torch declares (self, *args, **kwargs) and documents these overloads; the catalog spells them out
    "RNN": "overload", "LSTM": "overload", "GRU": "overload",
    # torch's default is the function F.relu, the catalog writes "relu" (no torch.nn.functional in the catalog)
    "Transformer": "activation", "TransformerEncoderLayer": "activation", "TransformerDecoderLayer": "activation",
}
RNN_OVERLOADS = {
    "RNN": ["input_size", "hidden_size", "num_layers", "nonlinearity", "bias", "batch_first", "dropout",
            "bidirectional", "device", "dtype"],
    "LSTM": ["input_size", "hidden_size", "num_layers", "bias", "batch_first", "dropout", "bidirectional",
             "proj_size", "device", "dtype"],
    "GRU": ["input_size", "hidden_size", "num_layers", "bias", "batch_first", "dropout", "bidirectional",
            "device", "dtype"],
}

CASES: List[Tuple[str, str]] = [(name, args) for name, argss in TABLE.items() for args in argss]
CASE_IDS = [f"{name}({args})" for name, args in CASES]


# ------------------------------------------------------------------------------------------------
# helpers


def _load_stub() -> Any:
    name = f"sdl_catalog_{uuid.uuid4().hex}"
    spec = importlib.util.spec_from_file_location(name, CATALOG_PATH)
    assert spec and spec.loader
    mod = importlib.util.module_from_spec(spec)
    sys.modules[name] = mod
    spec.loader.exec_module(mod)
    return mod


STUB = _load_stub()


class _StubNN:
    """`nn` as seen by table arguments on the catalog side: catalog classes first, then torch.nn."""

    def __getattr__(self, name: str) -> Any:
        v = STUB.__dict__.get(name)
        if isinstance(v, type) and issubclass(v, nn.Module):
            return v
        return getattr(nn, name)


def torch_class(name: str) -> Any:
    home = TORCH_HOME.get(name)
    if home is not None:
        return getattr(importlib.import_module(home), name)
    return getattr(nn, name)


def build(cls: Any, args: str, nn_ns: Any) -> Any:
    with torch.device("meta"):
        return eval(f"__cls({args})", {"torch": torch, "nn": nn_ns, "__cls": cls})


Row = Tuple[str, Optional[tuple], str, str, str]


def table(module: Any) -> Tuple[List[Row], List[Row]]:
    """(state_dict rows, non-persistent buffer rows); a row is (key, shape|None, dtype, kind, lazy-type)."""
    sd = module.state_dict(keep_vars=True)
    params = {k for k, _ in module.named_parameters(remove_duplicate=False)}
    rows: List[Row] = []

    def row(k: str, v: Any) -> Row:
        lazy = isinstance(v, (UninitializedParameter, UninitializedBuffer))
        shape = None if lazy else tuple(v.shape)
        return (k, shape, str(v.dtype).replace("torch.", ""), "parameter" if k in params else "buffer",
                type(v).__name__ if lazy else "")

    for k, v in sd.items():
        rows.append(row(k, v))
    non_persistent = [row(k, v) for k, v in module.named_buffers(remove_duplicate=False) if k not in sd]
    return rows, non_persistent


# ------------------------------------------------------------------------------------------------
# (a) stub == torch


@pytest.mark.parametrize("name,args", CASES, ids=CASE_IDS)
def test_stub_equals_torch(name: str, args: str) -> None:
    real = build(torch_class(name), args, nn)
    stub = build(getattr(STUB, name), args, _StubNN())
    assert table(stub) == table(real)


@pytest.mark.parametrize("name", sorted(TABLE))
def test_table_exercises_state(name: str) -> None:
    # a catalog entry whose every table row builds an empty state_dict would prove nothing
    assert any(table(build(torch_class(name), args, nn))[0] for args in TABLE[name])


def test_every_catalog_class_is_in_the_table() -> None:
    classes = set(catalog_classes())
    assert classes - BASES_ONLY == set(TABLE), "add argument combinations to TABLE for new catalog classes"
    assert BASES_ONLY <= classes


def _params(sig: inspect.Signature) -> List[Tuple[str, Any, Any]]:
    return [(p.name, p.kind, p.default) for p in list(sig.parameters.values())[1:]]


@pytest.mark.parametrize("name", sorted(set(catalog_classes()) - BASES_ONLY))
def test_signature_equals_torch(name: str) -> None:
    ours = inspect.signature(getattr(STUB, name).__init__)
    theirs = inspect.signature(torch_class(name).__init__)
    why = SIGNATURE_EXCEPTIONS.get(name)
    if why == "overload":
        assert [p.name for p in list(ours.parameters.values())[1:]] == RNN_OVERLOADS[name]
        return
    mine, real = _params(ours), _params(theirs)
    if why == "activation":
        import torch.nn.functional as F

        real = [(n, k, "relu" if d is F.relu else d) for n, k, d in real]
    assert mine == real


def test_catalog_stays_inside_the_evaluator_subset() -> None:
    tree = ast.parse(catalog_source())
    imports = []
    for node in ast.walk(tree):
        assert not isinstance(node, (ast.Try, ast.Lambda, ast.With, ast.While, ast.AsyncFunctionDef, ast.Yield,
                                     ast.Global, ast.Nonlocal, ast.ClassDef)) or isinstance(node, ast.ClassDef)
        if isinstance(node, (ast.FunctionDef, ast.ClassDef)):
            assert not node.decorator_list, node.name
        if isinstance(node, ast.FunctionDef):
            assert node.name == "__init__" or node.name.startswith("_"), f"unexpected method {node.name}"
        if isinstance(node, ast.keyword):
            assert node.arg is not None, "no **kwargs splatting in the catalog"
        if isinstance(node, ast.Call):
            assert not any(isinstance(a, ast.Starred) for a in node.args), "no *args splatting in the catalog"
        if isinstance(node, ast.Attribute):
            assert node.attr not in ("functional", "reset_parameters", "_reset_parameters")
            assert not (node.attr == "init" and isinstance(node.value, ast.Attribute) and node.value.attr == "nn")
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            imports.append(ast.unparse(node))
    assert sorted(imports) == sorted([
        "import copy", "import math", "import torch",
        "from torch.nn import Module, ModuleDict, ModuleList, Parameter, ParameterList, Sequential",
        "from torch.nn.parameter import UninitializedBuffer, UninitializedParameter",
    ])
    for node in tree.body:  # top level: imports, STATELESS, helper functions, classes
        assert isinstance(node, (ast.Import, ast.ImportFrom, ast.Assign, ast.FunctionDef, ast.ClassDef, ast.Expr))
        if isinstance(node, ast.ClassDef):
            for stmt in node.body:
                assert isinstance(stmt, ast.FunctionDef) and stmt.name == "__init__", node.name
                first = stmt.body[0]
                calls_super = any(
                    isinstance(s, ast.Expr) and isinstance(s.value, ast.Call)
                    and isinstance(s.value.func, ast.Attribute) and s.value.func.attr == "__init__"
                    for s in stmt.body[:3])
                assert calls_super, f"{node.name}.__init__ must call super().__init__"
                assert first is not None


# ------------------------------------------------------------------------------------------------
# (b) STATELESS is true and complete


def test_stateless_list_is_parsed_without_torch() -> None:
    assert STATELESS == STUB.STATELESS
    assert len(STATELESS) == len(set(STATELESS))


@pytest.mark.parametrize("name", STATELESS)
def test_stateless_layers_have_no_state(name: str) -> None:
    cls = getattr(nn, name)
    assert isinstance(cls, type) and issubclass(cls, nn.Module)
    assert name not in catalog_classes()
    m = build(cls, STATELESS_ARGS.get(name, ""), nn)
    assert m.state_dict() == {}
    assert list(m.parameters()) == [] and list(m.buffers()) == []


def test_every_torch_nn_layer_is_accounted_for() -> None:
    exported = {n for n in dir(nn) if isinstance(getattr(nn, n), type) and issubclass(getattr(nn, n), nn.Module)
                and getattr(nn, n).__module__.startswith("torch.nn.modules")}
    catalog = set(catalog_classes())
    missing = sorted(n for n in exported if n not in catalog and n not in STATELESS and n not in CONTAINERS
                     and n not in EXCLUDED)
    assert missing == [], "torch.nn layers unknown to the catalog: add a class or a STATELESS entry"
    stale = sorted(n for n in set(STATELESS) | set(EXCLUDED) if n not in exported)
    assert stale == []
    public_catalog = {n for n in catalog if not n.startswith("_")} - set(TORCH_HOME)
    assert public_catalog <= exported


# ------------------------------------------------------------------------------------------------
# (c) predictor == torch

SOURCE = ("import torch\nfrom torch import nn\n\n\nclass M(nn.Module):\n    def __init__(self):\n"
          "        super().__init__()\n        self.m = {expr}\n")


def _expr(name: str, args: str) -> str:
    home = TORCH_HOME.get(name)
    prefix = f"{home}." if home else "nn."
    return f"{prefix}{name}({args})"


@pytest.mark.parametrize("name,args", CASES, ids=CASE_IDS)
def test_predictor_equals_torch(name: str, args: str, tmp_path: Any) -> None:
    api = pytest.importorskip("statedict_lint.predict.api")
    from conftest import load_module_from_path

    path = tmp_path / "model.py"
    path.write_text(SOURCE.format(expr=_expr(name, args)))
    with torch.device("meta"):
        real = load_module_from_path(str(path)).M()
    rows, non_persistent = table(real)
    pred = api.predict(str(path), "M", {})
    got = [(k.key, k.shape, k.dtype, k.kind) for k in pred.keys]
    want = [(k, shape, dtype, kind) for k, shape, dtype, kind, _ in rows]
    assert got == want
    assert [k.key for k in pred.non_persistent] == [r[0] for r in non_persistent]
    lazy = any(r[4] for r in rows)
    assert pred.complete == (not lazy), [u.message for u in pred.unresolved]


# Layers over unbound constructor parameters: the symbolic prediction, instantiated with `env`, must equal
# torch built with the same values (the catalog's loops and checks must not blur symbolic shapes).
SYMBOLIC: Dict[str, Tuple[str, Dict[str, int]]] = {
    "lstm_layers": ("nn.LSTM(d, h, n, bidirectional=True)", {"d": 3, "h": 5, "n": 3}),
    "lstm_proj": ("nn.LSTM(d, h, n, proj_size=2)", {"d": 3, "h": 5, "n": 2}),
    "gru_one_layer": ("nn.GRU(d, h, n)", {"d": 4, "h": 6, "n": 1}),
    "depthwise_conv": ("nn.Conv2d(c, c, k, groups=c)", {"c": 4, "k": 3}),
    "conv_transpose": ("nn.ConvTranspose2d(c, 2 * c, k, groups=2)", {"c": 4, "k": 2}),
    "layer_norm": ("nn.LayerNorm(d)", {"d": 8}),
    "group_norm": ("nn.GroupNorm(g, d)", {"g": 2, "d": 8}),
    "batch_norm": ("nn.BatchNorm1d(d)", {"d": 8}),
    "mha": ("nn.MultiheadAttention(d, h)", {"d": 8, "h": 2}),
    "embedding_padding": ("nn.Embedding(v, d, padding_idx=0)", {"v": 10, "d": 4}),
    "encoder": ("nn.TransformerEncoder(nn.TransformerEncoderLayer(d, h, 4 * d), n)", {"d": 8, "h": 2, "n": 3}),
}


@pytest.mark.parametrize("case", sorted(SYMBOLIC))
def test_symbolic_prediction_instantiates_to_torch(case: str, tmp_path: Any) -> None:
    api = pytest.importorskip("statedict_lint.predict.api")
    expand_mod = pytest.importorskip("statedict_lint.predict.expand")
    from conftest import load_module_from_path

    expr, env = SYMBOLIC[case]
    params = ", ".join(env)
    path = tmp_path / "model.py"
    path.write_text(SOURCE.replace("def __init__(self)", f"def __init__(self, {params})").format(expr=expr))
    with torch.device("meta"):
        real = load_module_from_path(str(path)).M(**env)
    rows, _ = table(real)
    pred = api.predict(str(path), "M", {})
    assert not any(k.shape is None or None in k.shape for k in pred.keys), [u.message for u in pred.unresolved]
    got = expand_mod.expand(pred, env)
    assert got is not None
    assert [(k, tuple(s) if s is not None else None, d) for k, s, d, _ in got] == [(r[0], r[1], r[2]) for r in rows]


def test_undecidable_layer_choice_is_reported_not_guessed(tmp_path: Any) -> None:
    # kdim == embed_dim decides between in_proj_weight and q/k/v_proj_weight: unknown when both are unbound
    api = pytest.importorskip("statedict_lint.predict.api")
    path = tmp_path / "model.py"
    path.write_text(SOURCE.replace("def __init__(self)", "def __init__(self, d, k)").format(
        expr="nn.MultiheadAttention(d, 2, kdim=k, vdim=k)"))
    pred = api.predict(str(path), "M", {})
    assert not pred.complete
    conditional = {k.key for k in pred.keys if k.condition is not None}
    assert {"m.in_proj_weight", "m.q_proj_weight", "m.k_proj_weight", "m.v_proj_weight"} <= conditional
    assert {k.key for k in pred.keys if k.condition is None} >= {"m.in_proj_bias", "m.out_proj.weight"}


def test_torch_feature_probes_exist_in_torch():
    """`hasattr(F, 'x')` / `'x' in dir(F)` are answered True for these names: each must exist in the pinned torch."""
    import importlib

    from statedict_lint.torchfacts import TORCH2_FEATURES

    for name in sorted(TORCH2_FEATURES):
        mod, _, attr = name.rpartition(".")
        try:
            owner = importlib.import_module(mod)
        except ImportError:
            owner = importlib.import_module(mod.rpartition(".")[0])
            owner = getattr(owner, mod.rpartition(".")[2])
        assert hasattr(owner, attr), name
