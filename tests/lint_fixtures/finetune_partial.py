"""A detector fine-tuning script in the style of yolov5 and nanoGPT (fixture for SDL009, SDL004, SDL102, SDL001).

Each line that should produce a finding ends with a comment naming the expected code(s).
"""
import argparse
from copy import deepcopy

import torch
import torch.nn as nn


class CausalSelfAttention(nn.Module):
    def __init__(self, n_embd, block_size, learn_bias=False):
        super().__init__()
        self.c_attn = nn.Linear(n_embd, 3 * n_embd)
        self.mask = torch.tril(torch.ones(block_size, block_size))  # SDL102
        self.bias = torch.zeros(n_embd)  # SDL102
        if learn_bias:
            self.bias = nn.Parameter(self.bias)
        self.register_buffer("causal", torch.tril(torch.ones(block_size, block_size)).view(1, 1, block_size, block_size))


class Detector(nn.Module):
    def __init__(self, nc=80):
        super().__init__()
        self.backbone = nn.Sequential(nn.Conv2d(3, 16, 3), nn.ReLU())
        self.head = nn.Conv2d(16, nc, 1)


def de_parallel(model):
    return model.module if hasattr(model, "module") else model


def intersect_dicts(da, db, exclude=()):
    return {k: v for k, v in da.items() if k in db and all(x not in k for x in exclude) and v.shape == db[k].shape}


def transfer(model, weights, log):
    ckpt = torch.load(weights, map_location="cpu", weights_only=True)
    csd = intersect_dicts(ckpt["model"], model.state_dict(), exclude=["anchor"])
    # matched against the model's keys before, reported right after: no SDL001
    model.load_state_dict(csd, strict=False)  # SDL901
    log.info(f"Transferred {len(csd)}/{len(model.state_dict())} items from {weights}")


def load_backbone(model, weights, verbose=False):
    state = torch.load(weights, map_location="cpu", weights_only=True)
    backbone = {k: v for k, v in state.items() if "layer1" in k}  # SDL009
    missing, unexpected = model.load_state_dict(backbone, strict=False)  # SDL001, SDL901
    if verbose:
        print(missing, unexpected)


def train(opt):
    model = Detector(nc=opt.nc)
    ema = deepcopy(model)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01)
    for epoch in range(opt.epochs):
        ckpt = {
            "epoch": epoch,
            "model": deepcopy(de_parallel(model)).half(),
            "ema_state": ema.state_dict(),
            "optimizer": optimizer.state_dict(),
        }
        torch.save(ckpt, "last.pt")  # SDL004
        torch.save(ckpt, "best.pt")  # the same dict again: one finding


def freeze_backbone(model, compile_model=True):
    if compile_model:
        model = torch.compile(model)
    for name, p in model.named_parameters():
        if name.startswith("backbone."):  # SDL012
            p.requires_grad = False
        if "head" in name:  # a substring still matches the prefixed name
            p.requires_grad = True
    return model


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--nc", type=int, default=80)
    parser.add_argument("--epochs", type=int, default=1)
    train(parser.parse_args())
