"""Regression tests for false positives found by running the rules over real public model code.

Each test is a pattern seen in real code (written here from scratch, in the style of what was seen) on
which a rule used to fire although the code is correct, next to the nearest variant that is a real bug
and must still be flagged. The review itself, finding by finding, is docs/lint-precision.md.
"""

from __future__ import annotations

from statedict_lint.rules.engine import all_rules, lint_source

RULES = {r.code: r for r in all_rules()}


def codes(src, *which):
    return sorted((f.line, f.code) for f in lint_source(src, "x.py", [RULES[c] for c in which]))


# -- SDL101: a plain list whose elements are registered one by one ----------------------------------------

CONV_BLOCK = '''\
import torch
from torch import nn


class ConvNormAct(nn.Module):
    def __init__(self, cin, cout):
        super().__init__()
        self.layers = [
            nn.Conv2d(cin, cout, 3, padding=1, bias=False),
            nn.GroupNorm(8, cout),
            nn.ReLU(inplace=True),
        ]
        for i, layer in enumerate(self.layers):
            {register}

    def forward(self, x):
        for layer in self.layers:
            x = layer(x)
        return x
'''


def test_sdl101_silent_when_elements_are_added_with_add_module():
    # state_dict() has 0.weight, 1.weight, 1.bias: the list is only a second handle on registered modules
    assert codes(CONV_BLOCK.replace("{register}", "self.add_module(str(i), layer)"), "SDL101") == []


def test_sdl101_silent_when_elements_are_set_with_setattr():
    assert codes(CONV_BLOCK.replace("{register}", "setattr(self, f'layer{i}', layer)"), "SDL101") == []


def test_sdl101_still_flags_a_loop_that_registers_nothing():
    src = CONV_BLOCK.replace("{register}", "print(i, layer)")
    assert codes(src, "SDL101") == [(8, "SDL101")]


def test_sdl101_registration_on_another_object_does_not_count():
    src = CONV_BLOCK.replace("{register}", "registry.add_module(str(i), layer)")
    assert codes(src, "SDL101") == [(8, "SDL101")]


def test_sdl101_still_flags_an_appended_list_never_registered():
    # the other shape seen in real code: projections appended in a loop and never wrapped
    src = '''\
from torch import nn


class PixelDecoder(nn.Module):
    def __init__(self, in_dim, hidden, levels, force_proj=False):
        super().__init__()
        self.proj = []
        for _ in range(levels):
            if in_dim != hidden or force_proj:
                self.proj.append(nn.Conv2d(in_dim, hidden, kernel_size=1))
            else:
                self.proj.append(nn.Identity())
'''
    assert codes(src, "SDL101") == [(7, "SDL101")]


# -- SDL001 / SDL901: strict=False after the function checked the keys itself ------------------------------

SHARDED = '''\
import json
import os

import torch


def load_sharded(model, folder, strict=True):
    with open(os.path.join(folder, "model.bin.index.json")) as fh:
        index = json.load(fh)
    {check}
    for shard in sorted(set(index["weight_map"].values())):
        state = torch.load(os.path.join(folder, shard), map_location="cpu", weights_only=True)
        model.load_state_dict(state, strict=False)
        del state
'''

CHECK = '''names = set(model.state_dict())
    missing_keys = sorted(names - set(index["weight_map"]))
    unexpected_keys = sorted(set(index["weight_map"]) - names)
    if strict and (missing_keys or unexpected_keys):
        raise RuntimeError(f"missing {missing_keys}, unexpected {unexpected_keys}")'''


def test_sdl001_silent_when_the_keys_were_accounted_for_before_a_sharded_load():
    assert codes(SHARDED.replace("{check}", CHECK), "SDL001", "SDL901") == []


def test_sdl001_still_flags_the_same_loader_without_the_check():
    src = SHARDED.replace("{check}", "pass")
    assert codes(src, "SDL001", "SDL901") == [(13, "SDL001"), (13, "SDL901")]


def test_sdl001_accounting_after_the_load_does_not_count():
    src = '''\
import torch


def finetune(model, state):
    model.load_state_dict(state, strict=False)
    missing_keys = set(model.state_dict()) - set(state)
    return missing_keys
'''
    assert codes(src, "SDL001") == [(5, "SDL001")]


def test_sdl001_an_earlier_load_result_is_not_an_own_check():
    src = '''\
import torch


def load_two(backbone, head, sd_a, sd_b):
    missing, unexpected = backbone.load_state_dict(sd_a, strict=False)
    head.load_state_dict(sd_b, strict=False)
    return missing, unexpected
'''
    assert codes(src, "SDL001") == [(6, "SDL001")]


# -- SDL002: state without device tensors (LR scheduler, grad scaler) -------------------------------------

RESUME = '''\
import os

import torch


class Runner:
    def resume(self, ckpt_dir):
        self.model.load_state_dict(torch.load(os.path.join(ckpt_dir, "model.pt"), weights_only=True))
        self.optimizer.load_state_dict(
            torch.load(os.path.join(ckpt_dir, "optimizer.pt"), map_location="cpu", weights_only=True)
        )
        self.lr_scheduler.load_state_dict(torch.load(os.path.join(ckpt_dir, "scheduler.pt"), weights_only=True))
        self.scaler.load_state_dict(
            torch.load(os.path.join(ckpt_dir, "scaler.pt"), weights_only=True)
        )
'''


def test_sdl002_silent_for_scheduler_and_scaler_state_only():
    # the model's tensors do carry a device: that load stays flagged
    assert codes(RESUME, "SDL002") == [(8, "SDL002")]


def test_sdl002_scheduler_name_must_be_the_receiver_not_the_path():
    src = "import torch\nmodel.load_state_dict(torch.load('scheduler_run/model.pt', weights_only=True))\n"
    assert codes(src, "SDL002") == [(2, "SDL002")]


# -- SDL002: a file of NumPy arrays -----------------------------------------------------------------------

SINE = '''\
import numpy as np
import torch

if __name__ == "__main__":
    np.random.seed(0)
    data = torch.load("sine.pt")
    train_x = torch.from_numpy(data[3:, :-1])
    train_y = torch.from_numpy(data[3:, 1:])
'''


def test_sdl002_silent_when_the_loaded_object_is_numpy():
    assert codes(SINE, "SDL002") == []
    assert codes(SINE, "SDL003") == [(6, "SDL003")]  # unpickling arrays still needs weights_only decided


def test_sdl002_from_numpy_on_another_name_does_not_count():
    src = SINE.replace("data[3:, :-1]", "other[3:, :-1]").replace("data[3:, 1:]", "other[3:, 1:]")
    assert codes(src, "SDL002") == [(6, "SDL002")]


# -- SDL008: the prefix named is the one the wrapper adds -------------------------------------------------

def _sdl008_messages(src):
    return [f.message for f in lint_source(src, "x.py", [RULES["SDL008"]])]


def test_sdl008_names_the_prefix_of_each_wrapper():
    for ctor, prefix in (("DDP(model, device_ids=[rank])", "'module.'"),
                         ("torch.nn.DataParallel(model)", "'module.'"),
                         ("torch.compile(model, mode='max-autotune')", "'_orig_mod.'")):
        src = ("import torch\nfrom torch.nn.parallel import DistributedDataParallel as DDP\n\n\n"
               f"def fit(model, rank, path):\n    model = {ctor}\n"
               "    torch.save({'model': model.state_dict(), 'step': 1}, path)\n")
        (msg,) = _sdl008_messages(src)
        assert f"starts with {prefix}" in msg and "(line 6)" in msg, msg


def test_sdl008_ddp_unwrapped_by_the_module_idiom_is_silent():
    # `model.module if ddp else model` is the bare model on both branches when only DDP was applied
    src = ("import torch\nfrom torch.nn.parallel import DistributedDataParallel as DDP\n\n\n"
           "def fit(model, rank, path):\n    model = DDP(model, device_ids=[rank])\n"
           "    raw = model.module if rank >= 0 else model\n"
           "    torch.save({'model': raw.state_dict(), 'step': 1}, path)\n")
    assert _sdl008_messages(src) == []


def test_sdl008_known_checkpoint_writers_count_and_other_calls_do_not():
    head = ("import torch\nimport utils\nfrom mylib import save_checkpoint, report\n\n\n"
            "def fit(model, path, accelerator):\n    model = torch.compile(model)\n")
    for line in ("    save_checkpoint({'model': model.state_dict()}, path)\n",
                 "    utils.save_on_master({'model': model.state_dict(), 'epoch': 1}, path)\n",
                 "    accelerator.save(model.state_dict(), path)\n"):
        assert len(_sdl008_messages(head + line)) == 1, line
    for line in ("    report({'model': model.state_dict()}, path)\n",
                 "    save_checkpoint({'model': model._orig_mod.state_dict()}, path)\n"):
        assert _sdl008_messages(head + line) == [], line


def test_sdl008_one_dict_written_twice_is_one_finding():
    src = ("import os\nimport torch\nimport utils\n\n\ndef fit(model, gpu, out, epoch):\n"
           "    model = torch.nn.parallel.DistributedDataParallel(model, device_ids=[gpu])\n"
           "    save_dict = {'model': model.state_dict(), 'epoch': epoch + 1}\n"
           "    utils.save_on_master(save_dict, os.path.join(out, 'checkpoint.pth'))\n"
           "    utils.save_on_master(save_dict, os.path.join(out, f'checkpoint{epoch:04}.pth'))\n")
    assert [(f.line, f.code) for f in lint_source(src, "x.py", [RULES["SDL008"]])] == [(8, "SDL008")]


# -- SDL901: one statement, one finding --------------------------------------------------------------------

def test_sdl901_one_finding_per_statement_not_per_branch():
    src = ("import torch\n\n\ndef load(model, sd, ddp):\n"
           "    res = (model.module.load_state_dict(sd, strict=False) if ddp\n"
           "           else model.load_state_dict(sd, strict=False))\n"
           "    model.load_state_dict(sd, strict=False)\n    return res\n")
    found = lint_source(src, "x.py", [RULES["SDL901"]])
    assert [(f.line, f.col) for f in found] == [(5, 11), (7, 4)]
