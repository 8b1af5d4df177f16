"""transformers models predicted from source against transformers itself.

For every architecture of tests/hf_zoo.py: the config is written with ``save_pretrained`` (config.json holds
only what differs from the class defaults, as on the Hub), each class is built by transformers on the meta
device, and the prediction from source -- config.json bound as from_pretrained binds it -- must list the
same keys in the same order, with the same shapes, dtypes and ties, and say ``complete``. Architectures
listed in PARTIAL must make no false claim: every key they name exists with that shape and dtype, and the
result says it is incomplete.

statedict-lint itself never imports transformers (tests/test_no_torch_import.py); only this test does.
"""

from __future__ import annotations

import inspect
import json
import os

import pytest

transformers = pytest.importorskip("transformers")
torch = pytest.importorskip("torch")

from hf_zoo import ZOO  # noqa: E402

from statedict_lint.hf.bind import config_bindings  # noqa: E402
from statedict_lint.predict.api import predict  # noqa: E402

# architectures whose prediction is honest but not complete, and why
PARTIAL = {
    "DetrModel": "the backbone comes from AutoBackbone / timm and its BatchNorms are swapped by replace_batch_norm",
    "DetrForObjectDetection": "as DetrModel",
}

CASES = [(mt, c) for mt, (_cc, _kw, classes) in ZOO.items() for c in classes]


@pytest.fixture(scope="module")
def configs(tmp_path_factory):
    from transformers.utils import logging

    logging.set_verbosity_error()
    out = {}
    root = tmp_path_factory.mktemp("hfcfg")
    for mt, (cc, kw, _classes) in ZOO.items():
        cfg = getattr(transformers, cc)(**kw)
        d = root / mt.replace("-", "_")
        cfg.save_pretrained(str(d))
        with open(d / "config.json", encoding="utf-8") as fh:
            out[mt] = (cfg, json.load(fh), str(d / "config.json"))
    return out


def truth(cls, cfg):
    with torch.device("meta"):
        m = cls(cfg)
    sd = m.state_dict()
    objs = dict(m.named_parameters(remove_duplicate=False))
    objs.update(dict(m.named_buffers(remove_duplicate=False)))
    first, ties = {}, {}
    for k in sd:
        ident = id(objs.get(k, k))
        if ident in first:
            ties[k] = first[ident]
        else:
            first[ident] = k
    rows = [(k, list(v.shape), str(v.dtype).replace("torch.", "")) for k, v in sd.items()]
    return rows, ties


@pytest.mark.parametrize("model_type,cls_name", CASES, ids=[c for _m, c in CASES])
def test_prediction_matches_transformers(configs, model_type, cls_name):
    cfg, data, where = configs[model_type]
    cls = getattr(transformers, cls_name)
    want, want_ties = truth(cls, cfg)
    path = inspect.getsourcefile(cls)
    b, _how = config_bindings(path, cls_name, data, where)
    pred = predict(path, cls_name, b)
    got = [(k.key, list(k.shape) if k.shape is not None else None, k.dtype) for k in pred.keys]
    got_ties = {k.key: k.tied_to for k in pred.keys if k.tied_to}
    if cls_name in PARTIAL:
        assert not pred.complete, f"{cls_name} is listed as partial but claims to be complete"
        table = {k: (s, d) for k, s, d in want}
        for key, shape, dtype in got:
            assert key in table, f"{cls_name}: predicted key {key} does not exist"
            s, d = table[key]
            assert dtype in (None, d), f"{cls_name}: {key} dtype {dtype}, transformers {d}"
            if shape is not None:
                assert len(shape) == len(s) and all(a is None or a == b for a, b in zip(shape, s)), \
                    f"{cls_name}: {key} shape {shape}, transformers {s}"
        for key, src in got_ties.items():
            assert want_ties.get(key) == src, f"{cls_name}: tie {key} -> {src} is not real"
        return
    assert got == want
    assert got_ties == want_ties
    assert pred.complete, [u.message for u in pred.unresolved]


def test_config_json_defaults_aliases_and_labels_apply(configs, tmp_path):
    """GPT-2's n_embd reaches config.hidden_size (attribute_map), an absent key takes the class default
    (n_inner=None -> 4*hidden), id2label decides num_labels, a sub-config dict becomes its class."""
    cfg, data, where = configs["gpt2"]
    cls = transformers.GPT2ForSequenceClassification
    data = dict(data, id2label={"0": "a", "1": "b", "2": "c"})
    path = inspect.getsourcefile(cls)
    b, _ = config_bindings(path, cls.__name__, data, where)
    keys = {k.key: k for k in predict(path, cls.__name__, b).keys}
    assert keys["score.weight"].shape == (3, 32)
    assert keys["transformer.h.0.mlp.c_fc.weight"].shape == (32, 128)  # Conv1D(4 * hidden, hidden): weight [in, out]
    assert keys["transformer.wpe.weight"].shape == (64, 32)


def test_other_transformers_version_gets_an_honest_answer(tmp_path):
    """A transformers whose version is not modelled: the overrides stay off, the source is read as it is, and
    the result says which version it is and that it is not modelled -- never a claim from the modelled one."""
    real = os.path.dirname(inspect.getsourcefile(transformers))
    site = tmp_path / "site"
    pkg = site / "transformers"
    (pkg / "models" / "bert").mkdir(parents=True)
    (pkg / "__init__.py").write_text('__version__ = "4.30.0"\n')
    (pkg / "models" / "__init__.py").write_text("")
    (pkg / "models" / "bert" / "__init__.py").write_text("")
    (pkg / "modeling_utils.py").write_text(
        "import torch.nn as nn\n\n\nclass PreTrainedModel(nn.Module):\n"
        "    def __init__(self, config, *inputs, **kwargs):\n        super().__init__()\n        self.config = config\n\n"
        "    def post_init(self):\n        pass\n")
    for name in ("modeling_bert.py", "configuration_bert.py"):
        src = os.path.join(real, "models", "bert", name)
        (pkg / "models" / "bert" / name).write_text(open(src, encoding="utf-8").read())
    path = str(pkg / "models" / "bert" / "modeling_bert.py")
    pred = predict(path, "BertModel", {})
    assert not pred.complete
    assert any("transformers 4.30.0 is not a modelled version" in u.message for u in pred.unresolved)


def test_warm_keys_equals_cold_for_a_transformers_class(configs, tmp_path, monkeypatch, capsys):
    """A cache hit holds what a fresh evaluation knows, also the nested PreTrainedModels (``modules``) that
    from_pretrained's rules read; `keys DIR` prints the same cold and warm."""
    from statedict_lint.cli import main
    from statedict_lint.predict import cache
    from statedict_lint.predict.api import predict_cached

    monkeypatch.setenv("STATEDICT_LINT_CACHE_DIR", str(tmp_path / "cache"))
    cfg, data, where = configs["bert"]
    cls = transformers.BertForSequenceClassification
    path = inspect.getsourcefile(cls)
    b, _how = config_bindings(path, cls.__name__, data, where)
    fresh = predict(path, cls.__name__, b)
    assert fresh.modules.get("bert", "").endswith(".BertModel")
    predict_cached(path, cls.__name__, b)
    hit = cache.lookup(path, cls.__name__, b)
    assert hit is not None and hit == fresh and list(hit.modules.items()) == list(fresh.modules.items())
    folder = tmp_path / "folder"
    folder.mkdir()
    (folder / "config.json").write_text(json.dumps(dict(data, architectures=[cls.__name__])))
    for fmt in ("json", "text"):
        monkeypatch.setenv("STATEDICT_LINT_CACHE_DIR", str(tmp_path / f"cache-{fmt}"))
        outs = []
        for _ in range(2):  # cold, then warm
            assert main(["keys", str(folder), "--format", fmt]) == 0
            outs.append(capsys.readouterr().out)
            assert len(os.listdir(tmp_path / f"cache-{fmt}" / "predict")) == 1
        assert outs[0] == outs[1] and "classifier.weight" in outs[0]


@pytest.mark.parametrize("extra", [dict(num_labels=3), dict(num_labels=5), dict()], ids=["num3", "num5", "none"])
def test_num_labels_beside_id2label_as_transformers_decides(configs, extra):
    """config.json with id2label (5 labels) and an explicit num_labels: transformers sets num_labels last, so
    a disagreeing one wins and id2label is rebuilt."""
    cfg, data, where = configs["bert"]
    data = dict(data, id2label={str(i): f"L{i}" for i in range(5)}, **extra)
    cls = transformers.BertForSequenceClassification
    real = transformers.BertConfig(**data)
    path = inspect.getsourcefile(cls)
    b, _ = config_bindings(path, cls.__name__, data, where)
    keys = {k.key: k for k in predict(path, cls.__name__, b).keys}
    assert keys["classifier.weight"].shape == (real.num_labels, 32)


@pytest.mark.parametrize("cls_name", ["MixtralForCausalLM", "LlamaForCausalLM", "GPT2LMHeadModel", "BertLMHeadModel"])
def test_quick_config_class_reads_heads_with_generation_mixin(cls_name):
    """The ast-only reader (what a warm `keys DIR` uses instead of the evaluator) sees through GenerationMixin
    and agrees with the evaluator on the configuration class and parameter."""
    from statedict_lint.hf.bind import config_class, quick_config_class

    path = inspect.getsourcefile(getattr(transformers, cls_name))
    quick = quick_config_class(path, cls_name)
    name, _qual, param = config_class(path, cls_name)
    assert quick == (name, param) == (getattr(transformers, cls_name).config_class.__name__, "config")
