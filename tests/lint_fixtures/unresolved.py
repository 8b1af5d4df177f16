"""Look-alikes that cannot be resolved to torch: every rule must stay silent here."""
from mylib import load, save
from mylib import nn
from mylib.optim import Adam

import numpy as np


class Model(nn.Module):  # not torch.nn: unknown base
    def __init__(self):
        super().__init__()
        self.layers = [nn.Linear(2, 2)]
        self.table = np.zeros(3)


def helper(model, path):
    opt = Adam(model.parameters())
    sd = load(path)
    model.load_state_dict(sd, assign=True)
    save(model, path)
    save({"model": model.state_dict(), "epoch": 3}, path)
    return opt


def shadowed(torch, path):
    # `torch` is a parameter here, but imports are file-wide: still nothing imported as torch
    return torch.load(path)
