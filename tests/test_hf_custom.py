"""Hugging Face folders with their own code (config.json's ``auto_map``, loaded with trust_remote_code=True):
`keys DIR` / `check DIR` predict DIR/<module>.py:<Class> statically -- never imported -- and `check` gives
``from_pretrained(..., trust_remote_code=True, local_files_only=True, output_loading_info=True)``'s verdict.

Each folder is written the way a Hub repository with custom code is: the test imports its own tiny modeling /
configuration files, registers them for the auto classes and calls ``save_pretrained``, which copies the .py
files beside config.json. The folder is hostile input: a link out of it is never followed.
"""

from __future__ import annotations

import importlib
import json
import os
import sys
import textwrap
import uuid

import pytest

transformers = pytest.importorskip("transformers")
torch = pytest.importorskip("torch")

from statedict_lint.cli import main  # noqa: E402

CONFIG = '''
from transformers import PretrainedConfig


class TinyConfig(PretrainedConfig):
    model_type = "{model_type}"

    def __init__(self, hidden=8, layers=2, vocab=11, num_labels=3, **kwargs):
        self.hidden = hidden
        self.layers = layers
        self.vocab = vocab
        super().__init__(num_labels=num_labels, **kwargs)
'''

MODELING = '''
import torch
import torch.nn as nn
from transformers import PreTrainedModel

from .configuration_tiny import TinyConfig


class TinyPreTrained(PreTrainedModel):
    config_class = TinyConfig
    base_model_prefix = "tiny"


class TinyModel(TinyPreTrained):
    def __init__(self, config):
        super().__init__(config)
        self.emb = nn.Embedding(config.vocab, config.hidden)
        self.layers = nn.ModuleList([nn.Linear(config.hidden, config.hidden) for _ in range(config.layers)])
        self.block_sparse_moe = nn.Linear(config.hidden, 2, bias=False)
        self.register_buffer("scale", torch.ones(config.hidden))
        self.post_init()


class TinyForSequenceClassification(TinyPreTrained):
    def __init__(self, config):
        super().__init__(config)
        self.tiny = TinyModel(config)
        self.head = nn.Linear(config.hidden, config.num_labels)
        self.post_init()
'''


@pytest.fixture(scope="module", autouse=True)
def quiet():
    from transformers.utils import logging

    logging.set_verbosity_error()
    torch.manual_seed(0)


def write_folder(tmp_path, cls_name="TinyForSequenceClassification", auto="AutoModelForSequenceClassification",
                 model_type="tiny-custom", **cfg):
    """A folder as save_pretrained writes it for custom code: config.json with auto_map, the weights, the .py."""
    pkg = f"tinypkg_{uuid.uuid4().hex[:8]}"
    src = tmp_path / "src" / pkg
    src.mkdir(parents=True)
    (src / "__init__.py").write_text("")
    (src / "configuration_tiny.py").write_text(textwrap.dedent(CONFIG.format(model_type=model_type)))
    (src / "modeling_tiny.py").write_text(textwrap.dedent(MODELING))
    sys.path.insert(0, str(tmp_path / "src"))
    try:
        conf = importlib.import_module(f"{pkg}.configuration_tiny")
        mod = importlib.import_module(f"{pkg}.modeling_tiny")
    finally:
        sys.path.remove(str(tmp_path / "src"))
    conf.TinyConfig.register_for_auto_class()
    cls = getattr(mod, cls_name)
    cls.register_for_auto_class(auto)
    folder = tmp_path / "folder"
    cls(conf.TinyConfig(**cfg)).save_pretrained(str(folder))
    return str(folder), cls


def truth(folder, auto="AutoModelForSequenceClassification"):
    model, info = getattr(transformers, auto).from_pretrained(
        folder, trust_remote_code=True, local_files_only=True, output_loading_info=True)
    return model, (sorted(info["missing_keys"]), sorted(info["unexpected_keys"]),
                   sorted(k for k, *_ in info["mismatched_keys"]))


def run(capsys, *argv):
    rc = main(list(argv))
    cap = capsys.readouterr()
    return rc, cap.out, cap.err


def sets(doc):
    fp = doc["from_pretrained"]
    return sorted(fp["newly_initialized"]), sorted(fp["unused"]), sorted(m["key"] for m in fp["mismatched"])


def test_keys_of_a_folder_with_its_own_code(tmp_path, capsys):
    folder, _cls = write_folder(tmp_path, hidden=6, layers=3, vocab=13)
    with open(os.path.join(folder, "config.json"), encoding="utf-8") as fh:
        assert json.load(fh)["auto_map"]["AutoModelForSequenceClassification"] == \
            "modeling_tiny.TinyForSequenceClassification"
    model, _ = truth(folder)
    rc, out, err = run(capsys, "keys", folder, "--format", "json")
    assert rc == 0
    doc = json.loads(out)
    assert doc["complete"] is True
    assert [(k, v["shape"]) for k, v in doc["keys"].items()] == \
        [(k, list(v.shape)) for k, v in model.state_dict().items()]
    assert doc["target"].endswith("modeling_tiny.py:TinyForSequenceClassification")
    assert "auto_map['AutoModelForSequenceClassification']" in err and "never imported" in err


def test_check_of_a_folder_with_its_own_code_gives_from_pretrained_verdict(tmp_path, capsys):
    """Also: custom code gets no conversion mapping (PreTrainedModel.is_custom_code), so a model_type of
    transformers' table ('mixtral' renames `.block_sparse_moe.`) does not rename the folder's keys."""
    folder, _cls = write_folder(tmp_path, model_type="mixtral", hidden=6, layers=3, vocab=13)
    _model, want = truth(folder)
    rc, out, _err = run(capsys, "check", folder, "--format", "json")
    doc = json.loads(out)
    assert sets(doc) == want == ([], [], [])
    assert not doc["from_pretrained"]["renamed"]
    assert rc == 0


def test_check_of_a_folder_whose_config_grew(tmp_path, capsys):
    folder, _cls = write_folder(tmp_path, hidden=6, layers=3, vocab=13)
    path = os.path.join(folder, "config.json")
    with open(path, encoding="utf-8") as fh:
        cfg = json.load(fh)
    cfg["layers"] = 4
    cfg["id2label"] = {str(i): f"L{i}" for i in range(5)}
    cfg.pop("label2id", None)
    with open(path, "w", encoding="utf-8") as fh:
        json.dump(cfg, fh)
    model, info = transformers.AutoModelForSequenceClassification.from_pretrained(
        folder, trust_remote_code=True, local_files_only=True, output_loading_info=True, ignore_mismatched_sizes=True)
    want = (sorted(info["missing_keys"]), sorted(info["unexpected_keys"]),
            sorted(k for k, *_ in info["mismatched_keys"]))
    rc, out, _err = run(capsys, "check", folder, "--format", "json")
    doc = json.loads(out)
    assert sets(doc) == want
    assert want[0] == ["tiny.layers.3.bias", "tiny.layers.3.weight"]
    assert want[2] == (["head.bias", "head.weight"] if model.config.num_labels != 3 else [])
    assert rc == 1


def test_auto_model_entry_when_no_architectures(tmp_path, capsys):
    folder, _cls = write_folder(tmp_path, cls_name="TinyModel", auto="AutoModel", hidden=6, layers=2, vocab=13)
    path = os.path.join(folder, "config.json")
    with open(path, encoding="utf-8") as fh:
        cfg = json.load(fh)
    cfg.pop("architectures")
    with open(path, "w", encoding="utf-8") as fh:
        json.dump(cfg, fh)
    _model, want = truth(folder, "AutoModel")
    rc, out, _err = run(capsys, "check", folder, "--format", "json")
    assert sets(json.loads(out)) == want == ([], [], [])
    assert rc == 0


def _edit_config(folder, **changes):
    path = os.path.join(folder, "config.json")
    with open(path, encoding="utf-8") as fh:
        cfg = json.load(fh)
    cfg.update(changes)
    with open(path, "w", encoding="utf-8") as fh:
        json.dump(cfg, fh)


@pytest.mark.parametrize("case", ["link-out", "other-repo", "missing-module", "not-module-dot-class", "fifo",
                                  "not-an-object"])
def test_hostile_auto_map_is_one_clear_line(tmp_path, capsys, case):
    folder, _cls = write_folder(tmp_path, hidden=6, layers=2, vocab=13)
    mod = os.path.join(folder, "modeling_tiny.py")
    if case == "link-out":
        outside = tmp_path / "outside.py"
        outside.write_text(open(mod, encoding="utf-8").read())
        os.remove(mod)
        os.symlink(outside, mod)
    elif case == "other-repo":
        _edit_config(folder, auto_map={"AutoModelForSequenceClassification":
                                       "someone/repo--modeling_tiny.TinyForSequenceClassification"})
    elif case == "missing-module":
        os.remove(mod)
    elif case == "not-module-dot-class":
        _edit_config(folder, auto_map={"AutoModelForSequenceClassification": "a.b.TinyForSequenceClassification"})
    elif case == "fifo":
        os.remove(mod)
        os.mkfifo(mod)
    else:
        _edit_config(folder, auto_map=["modeling_tiny.TinyForSequenceClassification"])
    capsys.readouterr()
    for cmd in ("keys", "check"):
        rc, out, err = run(capsys, cmd, folder)
        assert rc == 2 and out == ""
        lines = [line for line in err.splitlines() if line.strip()]
        assert len(lines) == 1 and lines[0].startswith("statedict-lint: error:") and "Traceback" not in err, err


def test_an_import_that_links_out_of_the_folder_is_not_followed(tmp_path, capsys):
    folder, _cls = write_folder(tmp_path, hidden=6, layers=2, vocab=13)
    conf = os.path.join(folder, "configuration_tiny.py")
    outside = tmp_path / "elsewhere" / "configuration_tiny.py"
    outside.parent.mkdir()
    outside.write_text(open(conf, encoding="utf-8").read())
    os.remove(conf)
    os.symlink(outside, conf)
    rc, out, _err = run(capsys, "keys", folder, "--format", "json", "--no-cache")
    doc = json.loads(out)
    assert rc == 0 and doc["complete"] is False  # the config class is not read: honest, never from outside
    rc, out, _err = run(capsys, "check", folder, "--format", "json")
    assert rc == 1 and json.loads(out)["deciding_verdict"] != "loads"
    os.remove(conf)  # the same file inside the folder: read, and complete
    outside.rename(conf)
    rc, out, _err = run(capsys, "keys", folder, "--format", "json", "--no-cache")
    assert json.loads(out)["complete"] is True


def test_architecture_defined_beside_the_auto_map_class(tmp_path, capsys):
    """auto_map maps only AutoModel, architectures[0] is a head the same file defines: that class, from the
    folder's file (what TinyForSequenceClassification.from_pretrained(DIR) builds)."""
    folder, cls = write_folder(tmp_path, hidden=6, layers=2, vocab=13)
    _edit_config(folder, auto_map={"AutoConfig": "configuration_tiny.TinyConfig",
                                   "AutoModel": "modeling_tiny.TinyModel"})
    _m, info = cls.from_pretrained(folder, output_loading_info=True)
    want = (sorted(info["missing_keys"]), sorted(info["unexpected_keys"]), [])
    capsys.readouterr()
    rc, out, _err = run(capsys, "check", folder)
    assert "architectures[0], defined in modeling_tiny.py" in out and rc == 0
    rc, out, _err = run(capsys, "check", folder, "--format", "json")
    doc = json.loads(out)
    assert doc["target"].endswith("modeling_tiny.py:TinyForSequenceClassification")
    assert sets(doc) == want == ([], [], [])
    assert rc == 0
