"""SDL009 substring-filtered-partial-load."""

from __future__ import annotations

from typing import Iterable, Tuple

from statedict_lint.rules._base import Context, Node, Rule
from statedict_lint.rules import sdl902_state_dict_key_substring_filter as sdl902
from statedict_lint.rules.sdl902_state_dict_key_substring_filter import flows_into_partial_load, substring_filters


class SubstringFilteredPartialLoad(Rule):
    code = "SDL009"
    hint = sdl902.StateDictKeySubstringFilter.hint + r"""|load_state_dict"""
    message = ("state_dict keys selected by {how} {lit!r} (also matches {other!r}) and loaded with strict=False "
               "(line {line}): the extra layers are loaded or dropped silently; compare a whole dotted "
               "component, e.g. k.startswith({fix!r})")
    needs = ("load_state_dict",)
    what = ("Flags a filter on state_dict keys that tests a name ending in a digit by substring "
            "(`\"fc1\" in k`) or a container index by a prefix without its dot (`k.startswith(\"blocks.1\")`) — "
            "the pattern of SDL902 — when the filtered dict reaches `load_state_dict(..., strict=False)` in the "
            "same function: a dict comprehension passed inline or through a name (its nearest binding), or a "
            "`for` loop over the state_dict that deletes or pops from it (or fills another dict) which is "
            "then loaded. A literal whose last number is 0 cannot collide and is not flagged.")
    why = ("`\"fc1\" in k` is also true for `fc10.weight`, `k.startswith(\"blocks.1\")` for `blocks.10` to "
           "`blocks.19`. With `strict=False` nothing reports the difference: layers meant to stay at their "
           "initialisation are overwritten, or layers meant to load keep random weights, and the model "
           "trains or evaluates from a state nobody intended.")
    example = """\
head = {k: v for k, v in ckpt.items() if "fc1" in k}
model.load_state_dict(head, strict=False)
"""
    use_instead = """\
head = {k: v for k, v in ckpt.items() if k.startswith("fc1.")}
model.load_state_dict(head, strict=False)
"""
    valid = [
        "import torch\nsd = {k: v for k, v in state_dict.items() if k.startswith('fc1.')}\n"
        "model.load_state_dict(sd, strict=False)\n",
        "import torch\nsd = {k: v for k, v in state_dict.items() if 'fc1' in k}\nmodel.load_state_dict(sd)  # strict\n",
        "import torch\nsd = {k: v for k, v in state_dict.items() if 'fc1' in k}\nprint(len(sd))  # not loaded\n",
        "import torch\nsd = {k: v for k, v in state_dict.items() if 'fc1' in k}\nsd = clean(state_dict)\n"
        "model.load_state_dict(sd, strict=False)  # another dict by then\n",
    ]
    invalid = [
        "import torch\nhead = {k: v for k, v in ckpt.items() if 'fc1' in k}\n"
        "model.load_state_dict(head, strict=False)\n",
        "import torch\n"
        "model.load_state_dict({k: v for k, v in model_dict.items() if 'layer1' not in k}, strict=False)\n",
        "import torch\ndef load(model, path):\n"
        "    state_dict = torch.load(path, map_location='cpu', weights_only=True)\n"
        "    for k in list(state_dict):\n        if k.startswith('blocks.1'):\n            del state_dict[k]\n"
        "    model.load_state_dict(state_dict, strict=False)\n",
    ]

    def check(self, ctx: Context) -> Iterable[Tuple[Node, str]]:
        for loop, test, msg, _key in substring_filters(ctx, "{how}\0{lit}\0{other}\0{fix}"):
            load = flows_into_partial_load(ctx, loop, test)
            if load is None:
                continue
            how, lit, other, fix = msg.split("\0")
            yield test, self.message.format(how=how, lit=lit, other=other, fix=fix, line=load.lineno)
