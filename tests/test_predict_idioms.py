"""The predictor against real torch, one idiom of real model code per case.

Each case is a small model source; the test predicts its state_dict statically and builds it with torch
on the meta device, then asserts identical keys, order, shapes and dtypes, and a complete prediction.
"""

from __future__ import annotations

import textwrap
from typing import Any, Dict

import pytest

torch = pytest.importorskip("torch")

from conftest import load_module_from_path, torch_table  # noqa: E402
from statedict_lint.predict.api import predict  # noqa: E402

HEADER = "import math\nimport copy\nimport functools\nfrom collections import OrderedDict\nfrom dataclasses import dataclass, field\nimport torch\nimport torch.nn as nn\n"

CASES: Dict[str, Dict[str, Any]] = {
    "defaults_and_keywords": dict(src='''
class M(nn.Module):
    def __init__(self, d_in, d_out=7, *, hidden=5, bias=False):
        super().__init__()
        self.fc1 = nn.Linear(d_in, hidden, bias=bias)
        self.fc2 = nn.Linear(hidden, d_out)
''', cls="M", kwargs={"d_in": 3}, bindings={"d_in": 3}),
    "args_kwargs_passthrough": dict(src='''
class Base(nn.Module):
    def __init__(self, dim, mult=2, **kwargs):
        super().__init__()
        self.proj = nn.Linear(dim, dim * mult, **kwargs)

class M(Base):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.norm = nn.LayerNorm(self.proj.out_features)
''', cls="M", kwargs={"dim": 4, "mult": 3, "bias": False}, bindings={"dim": 4, "mult": 3, "bias": False}),
    "classmethods_class_attributes_and_deep_call_chains": dict(src='''
class Base(nn.Module):
    _tied: dict = None          # an annotated class attribute whose value is None
    width_mult = 2

    @classmethod
    def can_widen(cls):
        return cls.__name__ != "Base" and cls.width_mult > 1

    def __init__(self):
        super().__init__()
        self.widen = self.can_widen()   # classmethod through the instance: binds the class
        self.keys = self._tied or {}


def deep(n, dim):
    if n == 0:
        return nn.Linear(dim, dim)
    return [deep(n - 1, dim)][0]      # a long call chain (transformers' init helpers nest deeply)


class M(Base):
    width_mult = 3

    def __init__(self, dim=4):
        super().__init__()
        self.fc = nn.Linear(dim, dim * self.width_mult if self.widen else dim)
        self.deep = deep(110, dim)
        if hasattr(self, "_tied") and self._tied is None:
            self.extra = nn.Linear(dim, 1)
''', cls="M", kwargs={}, bindings={}),
    "enum_members_are_values": dict(src='''
from enum import Enum

class Format(str, Enum):
    NCHW = "NCHW"
    NLC = "NLC"

class PatchEmbed(nn.Module):
    def __init__(self, dim=8, output_fmt=None):
        super().__init__()
        self.proj = nn.Conv2d(3, dim, 4, 4)
        if output_fmt is not None:
            self.output_fmt = Format(output_fmt)   # an enum member: a value, never state
        else:
            self.output_fmt = Format.NCHW
        self.norm = nn.LayerNorm(dim)

class M(nn.Module):
    def __init__(self):
        super().__init__()
        self.a = PatchEmbed()
        self.b = PatchEmbed(output_fmt="NLC")
''', cls="M", kwargs={}, bindings={}),
    "feature_probes_with_dir": dict(src='''
import torch.nn.functional as F

_has_hardswish = "hardswish" in dir(torch.nn.functional)   # timm's activation factory

class HardSwish(nn.Module):
    def __init__(self):
        super().__init__()
        self.register_buffer("three", torch.tensor(3.0))    # only the fallback holds state

class M(nn.Module):
    def __init__(self):
        super().__init__()
        act = nn.Hardswish if _has_hardswish else HardSwish
        self.act = act()
        self.fc = nn.Linear(2, 2)
''', cls="M", kwargs={}, bindings={}),
    "itertools_product_tables": dict(src='''
import itertools

class M(nn.Module):
    def __init__(self, resolution=3):
        super().__init__()
        points = list(itertools.product(range(resolution), range(resolution)))
        offsets = {}
        for p1 in points:
            for p2 in points:
                off = (abs(p1[0] - p2[0]), abs(p1[1] - p2[1]))
                if off not in offsets:
                    offsets[off] = len(offsets)
        self.biases = nn.Parameter(torch.zeros(2, len(offsets)))
        for i, j in itertools.product(range(2), range(3)):
            self.register_buffer(f"b{i}{j}", torch.zeros(i + 1, j + 1))
''', cls="M", kwargs={}, bindings={}),
    "config_object_dataclass": dict(src='''
@dataclass
class Cfg:
    hidden_size: int = 16
    layers: int = 2
    vocab: int = 11
    tie: bool = True
    extra: list = field(default_factory=lambda: [1, 2])

class M(nn.Module):
    def __init__(self, cfg: Cfg = Cfg()):
        super().__init__()
        self.emb = nn.Embedding(cfg.vocab, cfg.hidden_size)
        self.blocks = nn.ModuleList([nn.Linear(cfg.hidden_size, cfg.hidden_size) for _ in range(cfg.layers)])
        self.head = nn.Linear(cfg.hidden_size, cfg.vocab, bias=False)
        self.extra = nn.Linear(len(cfg.extra), 1)
        if cfg.tie:
            self.head.weight = self.emb.weight
''', cls="M", kwargs={}, bindings={}),
    "getattr_default_and_dict_config": dict(src='''
class M(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        d = cfg["dim"]
        self.a = nn.Linear(d, getattr(self, "missing", 3))
        self.b = nn.Linear(cfg.get("other", 4), d)
''', cls="M", kwargs={"cfg": {"dim": 6}}, bindings={"cfg": {"dim": 6}}),
    "module_constants_and_globals": dict(src='''
HIDDEN = 12
LAYERS = [HIDDEN, HIDDEN * 2, 8]

class M(nn.Module):
    def __init__(self):
        super().__init__()
        self.layers = nn.Sequential(*[nn.Linear(a, b) for a, b in zip(LAYERS[:-1], LAYERS[1:])])
''', cls="M", kwargs={}, bindings={}),
    "non_module_attributes_and_math": dict(src='''
class M(nn.Module):
    def __init__(self, dim=32, heads=4, ratio=2.5):
        super().__init__()
        self.head_dim = dim // heads
        inner = int(dim * ratio)
        self.scale = self.head_dim ** -0.5
        self.qkv = nn.Linear(dim, self.head_dim * heads * 3)
        self.ff = nn.Linear(dim, inner)
        self.out = nn.Linear(math.ceil(inner / 2) * 2, dim)
        self.shape = (dim, heads) + (1,)
        self.tail = nn.Linear(sum(self.shape), max(self.shape))
''', cls="M", kwargs={}, bindings={}),
    "fstring_names_setattr_add_module": dict(src='''
class M(nn.Module):
    def __init__(self, n=3):
        super().__init__()
        for i in range(n):
            setattr(self, f"layer{i}", nn.Linear(i + 1, 2))
        self.add_module("extra", nn.Conv2d(3, 4, 3))
        self.register_module("more", nn.BatchNorm2d(4))
''', cls="M", kwargs={}, bindings={}),
    "if_else_on_known_values": dict(src='''
class M(nn.Module):
    def __init__(self, norm="ln", dim=8, use_bias=True):
        super().__init__()
        if norm == "bn":
            self.norm = nn.BatchNorm1d(dim)
        elif norm == "ln":
            self.norm = nn.LayerNorm(dim, elementwise_affine=use_bias)
        else:
            self.norm = nn.Identity()
        self.proj = nn.Linear(dim, dim) if use_bias else nn.Linear(dim, dim, bias=False)
''', cls="M", kwargs={"norm": "bn"}, bindings={"norm": "bn"}),
    "loops_comprehensions_zip_enumerate": dict(src='''
class M(nn.Module):
    def __init__(self, dims=(3, 5, 7)):
        super().__init__()
        layers = []
        for i, (a, b) in enumerate(zip(dims[:-1], dims[1:])):
            layers.append(nn.Linear(a, b))
            if i < len(dims) - 2:
                layers.append(nn.ReLU())
        self.mlp = nn.Sequential(*layers)
        extra = [nn.Linear(d, d) for d in dims if d > 3]
        extra += [nn.LayerNorm(dims[-1])]
        extra.extend([nn.Dropout(0.1), nn.Linear(7, 1)])
        self.extra = nn.ModuleList(extra)
''', cls="M", kwargs={}, bindings={}),
    "module_dict_variants": dict(src='''
class M(nn.Module):
    def __init__(self):
        super().__init__()
        self.heads = nn.ModuleDict({"cls": nn.Linear(4, 2), "box": nn.Linear(4, 4)})
        self.more = nn.ModuleDict(dict(a=nn.Linear(1, 1), b=nn.BatchNorm1d(3)))
        self.seq = nn.Sequential(OrderedDict([("conv", nn.Conv2d(1, 2, 3)), ("act", nn.ReLU()), ("bn", nn.BatchNorm2d(2))]))
        self.pl = nn.ParameterList([nn.Parameter(torch.zeros(3)), nn.Parameter(torch.ones(2, 2))])
        self.pd = nn.ParameterDict({"alpha": nn.Parameter(torch.zeros(1)), "beta": nn.Parameter(torch.zeros(4, dtype=torch.float64))})
        self.heads["extra"] = nn.Linear(2, 2)
''', cls="M", kwargs={}, bindings={}),
    "helper_methods_make_layer": dict(src='''
class BasicBlock(nn.Module):
    expansion = 1
    def __init__(self, inplanes, planes, stride=1, downsample=None):
        super().__init__()
        self.conv1 = nn.Conv2d(inplanes, planes, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.downsample = downsample

class ResNetLike(nn.Module):
    def __init__(self, block, layers, num_classes=10):
        super().__init__()
        self.inplanes = 8
        self.layer1 = self._make_layer(block, 8, layers[0])
        self.layer2 = self._make_layer(block, 16, layers[1], stride=2)
        self.fc = nn.Linear(16 * block.expansion, num_classes)

    def _make_layer(self, block, planes, blocks, stride=1):
        downsample = None
        if stride != 1 or self.inplanes != planes * block.expansion:
            downsample = nn.Sequential(nn.Conv2d(self.inplanes, planes * block.expansion, 1, stride, bias=False),
                                       nn.BatchNorm2d(planes * block.expansion))
        layers = [block(self.inplanes, planes, stride, downsample)]
        self.inplanes = planes * block.expansion
        for _ in range(1, blocks):
            layers.append(block(self.inplanes, planes))
        return nn.Sequential(*layers)
''', cls="ResNetLike", kwargs="block=mod.BasicBlock, layers=[2, 1]", bindings={"block": "NAME:BasicBlock", "layers": [2, 1]}),
    "module_level_factory_function": dict(src='''
def conv_bn(cin, cout, k=3):
    return nn.Sequential(nn.Conv2d(cin, cout, k, padding=k // 2, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True))

class M(nn.Module):
    def __init__(self):
        super().__init__()
        self.stem = conv_bn(3, 8)
        self.body = nn.Sequential(*[conv_bn(8, 8, k) for k in (1, 3)])
''', cls="M", kwargs={}, bindings={}),
    "deepcopy_and_list_clones": dict(src='''
class M(nn.Module):
    def __init__(self, n=3):
        super().__init__()
        layer = nn.Linear(4, 4)
        self.clones = nn.ModuleList([copy.deepcopy(layer) for _ in range(n)])
        self.shared = nn.ModuleList([nn.LayerNorm(2)] * 2)
''', cls="M", kwargs={}, bindings={}),
    "multiple_inheritance_and_torch_subclass": dict(src='''
class Mixin:
    def extra_layers(self, d):
        self.mix = nn.Linear(d, d)

class MyLinear(nn.Linear):
    def __init__(self, a, b):
        super().__init__(a, b, bias=False)
        self.scale = nn.Parameter(torch.ones(b))

class M(nn.Module, Mixin):
    def __init__(self):
        super().__init__()
        self.extra_layers(3)
        self.lin = MyLinear(3, 5)
''', cls="M", kwargs={}, bindings={}),
    "layer_classes_as_arguments_and_partial": dict(src='''
class Block(nn.Module):
    def __init__(self, dim, norm_layer=nn.LayerNorm, act_layer=nn.GELU):
        super().__init__()
        self.norm = norm_layer(dim)
        self.act = act_layer()
        self.fc = nn.Linear(dim, dim)

class M(nn.Module):
    def __init__(self, norm_layer=None):
        super().__init__()
        norm_layer = norm_layer or functools.partial(nn.LayerNorm, eps=1e-6, elementwise_affine=False)
        self.a = Block(4, norm_layer=norm_layer)
        self.b = Block(4, norm_layer=nn.BatchNorm1d)
        self.c = Block(4)
''', cls="M", kwargs={}, bindings={}),
    "property_with_setter": dict(src='''
class Cfg:
    def __init__(self):
        self._types = ["a", "b", "a"]
        self.num_layers = 7  # the setter ignores it: the count comes from the list

    @property
    def num_layers(self):
        return len(self._types)

    @num_layers.setter
    def num_layers(self, value):
        pass


class M(nn.Module):
    def __init__(self):
        super().__init__()
        cfg = Cfg()
        self.layers = nn.ModuleList([nn.Linear(2, 2) for _ in range(cfg.num_layers)])
''', cls="M", kwargs={}, bindings={}),
    "float_ops_on_integer_tensors": dict(src='''
class M(nn.Module):
    def __init__(self, n=4, d=3):
        super().__init__()
        a = torch.arange(1, n + 1)[None, :].expand(d, -1).contiguous()
        self.A_log = nn.Parameter(torch.log(a))  # Mamba/Jamba: float32, not int64
        self.register_buffer("inv", 1.0 / torch.arange(0, n, 2))
        self.register_buffer("sq", torch.arange(n).sqrt())
        self.register_buffer("ex", torch.exp(torch.ones(2, dtype=torch.int32)))
        self.register_buffer("keep", torch.arange(n).abs())
''', cls="M", kwargs={}, bindings={}),
    "parameters_and_tensor_factories": dict(src='''
class M(nn.Module):
    def __init__(self, dim=6, n=4):
        super().__init__()
        self.cls_token = nn.Parameter(torch.zeros(1, 1, dim))
        self.pos = nn.Parameter(torch.randn(1, n + 1, dim) * 0.02)
        self.scale = nn.Parameter(torch.ones(dim, dtype=torch.float16))
        self.register_buffer("idx", torch.arange(n))
        self.register_buffer("fidx", torch.arange(0.0, 2.0, 0.5))
        self.register_buffer("eye", torch.eye(3, 4))
        self.register_buffer("mask", torch.tril(torch.ones(n, n)).view(1, 1, n, n))
        self.register_buffer("full", torch.full((2, 3), 7))
        self.register_buffer("lin", torch.linspace(0, 1, 5))
        self.register_buffer("t", torch.tensor([[1, 2], [3, 4]]))
        self.register_buffer("tf", torch.tensor([1.0, 2.0]).float())
        self.register_buffer("tl", torch.ones(3).long())
        self.register_buffer("ex", torch.zeros(3)[None, :, None].expand(2, -1, 5))
        self.register_buffer("un", torch.zeros(3, 4).unsqueeze(0).T)
        self.register_buffer("rs", torch.zeros(2, 6).reshape(3, -1))
        self.register_buffer("np", torch.zeros(3), persistent=False)
        self.register_buffer("legacy", torch.Tensor(2, 3))
        self.register_parameter("w", nn.Parameter(torch.empty(dim, dim, dtype=torch.float64)))
        self.plain = torch.zeros(5)
        self.nonebuf = None
        self.register_buffer("maybe", None)
''', cls="M", kwargs={}, bindings={}),
    "nn_buffer": dict(src='''
class M(nn.Module):
    def __init__(self):
        super().__init__()
        self.a = nn.Buffer(torch.zeros(3))
        self.b = nn.Buffer(torch.ones(2, dtype=torch.int32), persistent=False)
        self.c = nn.Linear(2, 2)
''', cls="M", kwargs={}, bindings={}),
    "tied_weights": dict(src='''
class M(nn.Module):
    def __init__(self, vocab=10, dim=4):
        super().__init__()
        self.emb = nn.Embedding(vocab, dim)
        self.head = nn.Linear(dim, vocab, bias=False)
        self.head.weight = self.emb.weight
''', cls="M", kwargs={}, bindings={}),
    "order_reassign_and_delete": dict(src='''
class M(nn.Module):
    def __init__(self):
        super().__init__()
        self.a = nn.Linear(1, 1)
        self.b = nn.Linear(2, 2)
        self.c = nn.Linear(3, 3)
        self.a = nn.Linear(4, 4)
        del self.b
        self.b = nn.Linear(5, 5)
        self.p = nn.Parameter(torch.zeros(1))
        self.register_buffer("buf", torch.zeros(2))
        self.q = nn.Parameter(torch.zeros(3))
''', cls="M", kwargs={}, bindings={}),
    "weight_norm_hooks_and_parametrizations": dict(src='''
from torch.nn.utils import weight_norm, spectral_norm
from torch.nn.utils import parametrizations as P

class M(nn.Module):
    def __init__(self):
        super().__init__()
        self.a = weight_norm(nn.Conv1d(2, 3, 5))
        self.b = spectral_norm(nn.Linear(4, 6))
        self.c = P.weight_norm(nn.Linear(3, 2))
        self.d = P.spectral_norm(nn.Conv2d(2, 4, 3))
''', cls="M", kwargs={}, bindings={}),
    "extra_state": dict(src='''
class Quant(nn.Module):
    def __init__(self):
        super().__init__()
        self.w = nn.Parameter(torch.zeros(2))
        self.inner = nn.Linear(2, 2)

    def get_extra_state(self):
        return {"scale": 1.0}

    def set_extra_state(self, state):
        pass

class M(nn.Module):
    def __init__(self):
        super().__init__()
        self.q = Quant()
''', cls="M", kwargs={}, bindings={}),
    "import_spellings": dict(src='''
from torch import nn as tnn
import torch.nn
from torch.nn import Module, Linear
from torch.nn.modules.linear import Linear as L2
from torch.nn.modules import conv

class M(Module):
    def __init__(self):
        super().__init__()
        self.a = tnn.Linear(1, 2)
        self.b = torch.nn.Linear(2, 3)
        self.c = Linear(3, 4)
        self.d = L2(4, 5)
        self.e = conv.Conv2d(1, 1, 1)
        self.f = torch.nn.modules.linear.Linear(5, 6)
''', cls="M", kwargs={}, bindings={}),
    "module_cast_and_dtype_arg": dict(src='''
class M(nn.Module):
    def __init__(self):
        super().__init__()
        self.a = nn.Linear(2, 2, dtype=torch.float16)
        self.b = nn.Linear(2, 2).half()
        self.c = nn.BatchNorm1d(3).to(torch.float64)
''', cls="M", kwargs={}, bindings={}),
    "while_loop_and_try": dict(src='''
class M(nn.Module):
    def __init__(self, size=32):
        super().__init__()
        blocks = []
        ch = 3
        while size > 4:
            blocks.append(nn.Conv2d(ch, ch * 2, 3))
            ch *= 2
            size //= 2
        self.blocks = nn.Sequential(*blocks)
        try:
            self.head = nn.Linear(ch, 1)
        except Exception:
            self.head = None
''', cls="M", kwargs={}, bindings={}),
    "global_set_from_cli": dict(src='''
import argparse
parser = argparse.ArgumentParser()
parser.add_argument("--hidden", type=int, default=64)
args = parser.parse_args()
HIDDEN = args.hidden

class M(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(HIDDEN, 2)
''', cls="M", kwargs=None, bindings={"HIDDEN": 16}, globals={"HIDDEN": 16}),
    "modulelist_append_insert_and_sequential_append": dict(src='''
class M(nn.Module):
    def __init__(self):
        super().__init__()
        self.ml = nn.ModuleList()
        for i in range(3):
            self.ml.append(nn.Linear(i + 1, 1))
        self.ml.insert(1, nn.LayerNorm(7))
        self.seq = nn.Sequential()
        self.seq.append(nn.Linear(1, 1))
        self.seq.add_module("named", nn.Linear(2, 2))
        self.ml2 = nn.ModuleList([nn.Linear(1, 1)])
        self.ml2 += [nn.Linear(2, 2)]
        self.ml2.extend([nn.Linear(3, 3)])
''', cls="M", kwargs={}, bindings={}),
    "embedding_from_pretrained": dict(src='''
class M(nn.Module):
    def __init__(self):
        super().__init__()
        self.e = nn.Embedding.from_pretrained(torch.zeros(7, 3), freeze=False, padding_idx=0)
        self.b = nn.EmbeddingBag.from_pretrained(torch.zeros(5, 2, dtype=torch.float64), mode="sum")
''', cls="M", kwargs={}, bindings={}),
    "swin_relative_position_index": dict(src='''
class WindowAttention(nn.Module):
    def __init__(self, dim=8, window_size=(3, 4), num_heads=2):
        super().__init__()
        self.window_size = window_size
        self.relative_position_bias_table = nn.Parameter(
            torch.zeros((2 * window_size[0] - 1) * (2 * window_size[1] - 1), num_heads))
        coords_h = torch.arange(self.window_size[0])
        coords_w = torch.arange(self.window_size[1])
        coords = torch.stack(torch.meshgrid([coords_h, coords_w], indexing="ij"))
        coords_flatten = torch.flatten(coords, 1)
        relative_coords = coords_flatten[:, :, None] - coords_flatten[:, None, :]
        relative_coords = relative_coords.permute(1, 2, 0).contiguous()
        relative_coords[:, :, 0] += self.window_size[0] - 1
        relative_coords[:, :, 1] += self.window_size[1] - 1
        relative_coords[:, :, 0] *= 2 * self.window_size[1] - 1
        relative_position_index = relative_coords.sum(-1)
        self.register_buffer("relative_position_index", relative_position_index)
        self.register_buffer("mask", (torch.ones(4, 4) / 2).mean(dim=0, keepdim=True))
        self.register_buffer("cat", torch.cat([torch.zeros(2, 3), torch.ones(4, 3)], dim=0).long())
        self.qkv = nn.Linear(dim, dim * 3)
''', cls="WindowAttention", kwargs={}, bindings={}),
    "einops_buffers": dict(src='''
from einops import rearrange, repeat

class Attention(nn.Module):
    def __init__(self, window=3):
        super().__init__()
        pos = torch.arange(window)
        grid = torch.stack(torch.meshgrid(pos, pos, indexing="ij"))
        grid = rearrange(grid, "c i j -> (i j) c")
        rel = rearrange(grid, "i ... -> i 1 ...") if False else grid[:, None] - grid[None, :]
        rel = rel + window - 1
        idx = (rel * torch.tensor([2 * window - 1, 1])).sum(dim=-1)
        self.register_buffer("rel_pos_indices", idx, persistent=False)
        self.register_buffer("tiled", repeat(torch.zeros(window), "n -> b n", b=4))
        self.register_buffer("split", rearrange(torch.zeros(6, 5), "(a b) c -> a b c", a=2))
''', cls="Attention", kwargs={}, bindings={}),
    "module_traversal": dict(src='''
def make_features():
    return nn.Sequential(nn.Conv2d(3, 8, 3), nn.ReLU(), nn.Sequential(nn.Conv2d(8, 12, 3), nn.BatchNorm2d(12)))

class M(nn.Module):
    def __init__(self, features=None):
        super().__init__()
        features = features or make_features()
        self.features = features
        last = [m for m in features.modules() if isinstance(m, nn.Conv2d)][-1].out_channels
        self.head = nn.Linear(last, 2)
        n = sum(p.numel() for p in self.parameters())
        self.register_buffer("count", torch.tensor(n))
        for name, p in self.named_parameters():
            if name.endswith("bias"):
                nn.init.zeros_(p)
        self.names = [k for k, _ in self.named_modules()]
''', cls="M", kwargs={}, bindings={}),
    "percent_format_and_conditional_expression": dict(src='''
class M(nn.Module):
    def __init__(self, n=3, bias=False):
        super().__init__()
        for i in range(n):
            self.add_module("denselayer%d" % (i + 1), nn.Linear(i + 1, 2))
        self.add_module("%s_%02d" % ("x", 7), nn.Linear(1, 1))
        self.b = nn.Parameter(torch.zeros(3)) if bias else None
        self.c = nn.Parameter(torch.zeros(2)) if not bias else None
''', cls="M", kwargs={}, bindings={}),
    "timm_style_helpers": dict(src='''
import collections.abc
import numbers
import types
from itertools import repeat

def _ntuple(n):
    def parse(x):
        if isinstance(x, collections.abc.Iterable) and not isinstance(x, str):
            return tuple(x)
        return tuple(repeat(x, n))
    return parse
to_2tuple = _ntuple(2)

def get(layer):
    assert isinstance(layer, (type, str, types.FunctionType, functools.partial))
    if isinstance(layer, functools.partial):
        return layer.func
    return layer

class M(nn.Module):
    def __init__(self, dim=4, bias=True, norm=functools.partial(nn.LayerNorm, eps=1e-6)):
        super().__init__()
        b = to_2tuple(bias)
        self.fc1 = nn.Linear(dim, dim, bias=b[0])
        self.fc2 = nn.Linear(dim, dim, bias=b[1])
        shape = (dim,) if isinstance(dim, numbers.Integral) else tuple(dim)
        self.w = nn.Parameter(torch.ones(shape))
        self.norm = get(norm)(dim)
        self.norm2 = get(nn.BatchNorm1d)(dim)
''', cls="M", kwargs={}, bindings={}),
    "rnn_family": dict(src='''
class M(nn.Module):
    def __init__(self):
        super().__init__()
        self.lstm = nn.LSTM(4, 8, num_layers=2, bidirectional=True, batch_first=True)
        self.gru = nn.GRU(3, 5)
        self.cell = nn.LSTMCell(2, 3)
        self.mha = nn.MultiheadAttention(8, 2)
''', cls="M", kwargs={}, bindings={}),
}


def _kwargs(case: Dict[str, Any], mod: Any) -> Dict[str, Any]:
    kw = case["kwargs"]
    if kw is None:
        return {}
    if isinstance(kw, str):
        return eval(f"dict({kw})", {"mod": mod})  # noqa: S307 - test-only, fixed strings
    return dict(kw)


def _bindings(case: Dict[str, Any]) -> Dict[str, Any]:
    from statedict_lint.predict.bindings import NameRef

    out = {}
    for k, v in case["bindings"].items():
        out[k] = NameRef(v[5:]) if isinstance(v, str) and v.startswith("NAME:") else v
    return out


@pytest.mark.parametrize("name", sorted(CASES))
def test_idiom_matches_torch(name: str, write_model: Any, monkeypatch: Any) -> None:
    case = CASES[name]
    src = HEADER + textwrap.dedent(case["src"])
    if case.get("globals"):
        monkeypatch.setattr("sys.argv", ["prog"])
    path = write_model(src)
    pred = predict(path, case["cls"], _bindings(case))
    mod = load_module_from_path(path)
    for g, v in (case.get("globals") or {}).items():
        setattr(mod, g, v)
    with torch.device("meta"):
        model = getattr(mod, case["cls"])(**_kwargs(case, mod))
    expected = torch_table(model)
    got = [(k.key, tuple(k.shape) if k.shape is not None else None, k.dtype) for k in pred.keys]
    if any(k.kind == "extra_state" for k in pred.keys):
        expected = [(k, s, d) for k, s, d in expected]
    assert got == expected, f"\nunresolved: {pred.unresolved}"
    assert pred.complete, pred.unresolved
    np_expected = sorted(n for n, _ in model.named_buffers() if n not in dict(model.state_dict()))
    assert sorted(k.key for k in pred.non_persistent) == np_expected
