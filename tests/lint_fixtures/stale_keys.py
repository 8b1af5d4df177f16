"""A model and its weight-surgery helpers after a rename (fixture for SDL201, the predictor-backed rule)."""
import torch
import torch.nn as nn


class Block(nn.Module):
    def __init__(self, dim):
        super().__init__()
        self.norm = nn.LayerNorm(dim)
        self.mlp = nn.Sequential(nn.Linear(dim, 4 * dim), nn.GELU(), nn.Linear(4 * dim, dim))


class Encoder(nn.Module):
    def __init__(self, dim=32, depth=2, num_classes=10):
        super().__init__()
        self.embed = nn.Linear(3, dim)
        self.blocks = nn.ModuleList([Block(dim) for _ in range(depth)])
        self.head = nn.Linear(dim, num_classes)  # was `self.fc` in v1
        self.register_buffer("mask", torch.ones(dim), persistent=False)


def zero_head():
    model = Encoder()
    sd = model.state_dict()
    sd["fc.weight"].zero_()  # SDL201
    sd["head.bias"].zero_()
    sd["blocks.1.mlp.2.weight"].mul_(0.5)
    sd["blocks.2.mlp.2.weight"].mul_(0.5)  # SDL201
    sd.pop("mask")  # SDL201
    model.load_state_dict(sd)
    return model


def convert_v1(path):
    model = Encoder(dim=32, depth=3)
    old = torch.load(path, map_location="cpu", weights_only=True)
    new = {}
    new["embed.weight"] = old["embed.weight"]
    new["embed.bias"] = old["embed.bias"]
    new["blocks.2.norm.weight"] = old["blocks.2.ln.weight"]
    new["blocks.2.norm.bias"] = old["blocks.2.ln.bias"]
    new["fc.weight"] = old["fc.weight"]  # SDL201
    model.load_state_dict(new)


def resize(depth, path):
    model = Encoder(depth=depth)  # depth unknown here: nothing is claimed
    sd = model.state_dict()
    sd["blocks.7.norm.weight"].fill_(1.0)
    partial = {}
    partial["fc.weight"] = torch.zeros(10, 32)
    Encoder().load_state_dict(partial, strict=False)  # SDL001, SDL901
    torch.save(sd, path)
