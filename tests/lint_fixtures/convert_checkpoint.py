"""Convert an original checkpoint to our layout (fixture for SDL902 and the loading rules)."""
import sys

import torch
from safetensors.torch import load_file


def convert(path, out):
    state_dict = torch.load(path, map_location="cpu", weights_only=True)
    new_state = {}
    for k, v in state_dict.items():
        if "fc1" in k:  # SDL902
            new_state[k.replace("fc1", "mlp.fc1")] = v
        elif k.startswith("blocks.1"):  # SDL902
            continue
        elif k.startswith("blocks.0") or k.startswith("blocks.2."):
            new_state[k] = v
        elif k.startswith("module."):
            new_state[k[len("module."):]] = v
        elif "head" in k:
            continue
        else:
            new_state[k] = v
    torch.save(new_state, out)


def drop_decoder(model):
    sd = model.state_dict()
    return {k: v for k, v in sd.items() if "layer4" not in k}  # SDL902


def from_safetensors(path):
    weights = load_file(path)
    keep = [k for k in weights.keys() if k.startswith("encoder.layers.3")]  # SDL902
    return keep


def not_a_state_dict(names):
    # plain strings, not state_dict keys: silent
    return [n for n in names if "fc1" in n]


if __name__ == "__main__":
    convert(sys.argv[1], sys.argv[2])
