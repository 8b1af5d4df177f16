"""Torch reached through aliases and from-imports: the import map must resolve them all."""
import torch as T
import torch.nn as tnn
from torch import load as tload, save
from torch.optim import AdamW


class Tiny(tnn.Module):
    def __init__(self):
        super().__init__()
        self.proj = tnn.Linear(4, 4)
        self.blocks = [tnn.Linear(4, 4), tnn.ReLU()]  # SDL101
        self.bias = T.zeros(4)  # SDL102


def run(path):
    model = Tiny()
    opt = AdamW(model.parameters())
    sd = tload(path, weights_only=True)  # SDL002
    model.load_state_dict(sd, False)  # SDL001, SDL901
    model.load_state_dict(sd, strict=True, assign=True)  # SDL007
    save(model, "tiny.pt")  # SDL004
    return opt
