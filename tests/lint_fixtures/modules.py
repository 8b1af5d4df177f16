"""nn.Module definitions in the style of timm / lucidrains (fixture for SDL101 / SDL102)."""
import math

import torch
from torch import nn


class MLP(nn.Module):
    def __init__(self, dims):
        super().__init__()
        self.layers = [nn.Linear(a, b) for a, b in zip(dims, dims[1:])]  # SDL101
        self.norms = nn.ModuleList([nn.LayerNorm(d) for d in dims[1:]])

    def forward(self, x):
        for layer, norm in zip(self.layers, self.norms):
            x = norm(layer(x))
        return x


class MultiHead(nn.Module):
    def __init__(self, dim, tasks):
        super().__init__()
        self.heads = {t: nn.Linear(dim, n) for t, n in tasks.items()}  # SDL101
        self.good_heads = nn.ModuleDict({t: nn.Linear(dim, n) for t, n in tasks.items()})
        self.pair = (nn.Linear(dim, dim), nn.Linear(dim, dim))  # SDL101


class LayerScales(nn.Module):
    def __init__(self, depth, dim):
        super().__init__()
        self.gammas = []  # SDL101
        for _ in range(depth):
            self.gammas.append(nn.Parameter(1e-5 * torch.ones(dim)))
        blocks = []
        for _ in range(depth):
            blocks.append(nn.Linear(dim, dim))
        self.blocks = nn.Sequential(*blocks)
        self.stages = []
        for _ in range(depth):
            self.stages.append(nn.Linear(dim, dim))
        self.stages = nn.ModuleList(self.stages)
        self.sizes = [dim] * depth


class SinusoidalPositions(nn.Module):
    def __init__(self, max_len, dim):
        super().__init__()
        pe = torch.zeros(max_len, dim)
        position = torch.arange(0, max_len).unsqueeze(1)
        div = torch.exp(torch.arange(0, dim, 2) * (-math.log(10000.0) / dim))
        pe[:, 0::2] = torch.sin(position * div)
        pe[:, 1::2] = torch.cos(position * div)
        self.pe = torch.zeros(max_len, dim)  # SDL102
        self.register_buffer("table", pe, persistent=False)
        self.mask = torch.ones(max_len, max_len).tril().bool()  # SDL102
        self.scale = nn.Parameter(torch.ones(1))
        self.cache = torch.zeros(1)
        self.register_buffer("cache", self.cache)

    def forward(self, x):
        return x + self.pe[: x.shape[1]].to(x.device)


class Derived(SinusoidalPositions):
    def __init__(self, max_len, dim):
        super().__init__(max_len, dim)
        self.extra = torch.randn(dim)  # SDL102
        self.weights = [nn.Parameter(torch.zeros(dim)), nn.Parameter(torch.zeros(dim))]  # SDL101


class NotAModule:
    """A plain helper: holding layers in a list here is not this rule's business."""

    def __init__(self, dim):
        self.layers = [nn.Linear(dim, dim)]
        self.buffer = torch.zeros(dim)
