"""Bad Hugging Face folders: one clear line on stderr, exit 2, never a traceback (no transformers import)."""

from __future__ import annotations

import json
import os
import sys

import pytest

from statedict_lint.cli import main

TENSOR_FILE = {"w": {"dtype": "F32", "shape": [2, 2], "data_offsets": [0, 16]}}


def weights(folder):
    """A minimal safetensors file (header + 16 bytes), written without torch."""
    header = json.dumps(TENSOR_FILE).encode()
    with open(os.path.join(folder, "model.safetensors"), "wb") as fh:
        fh.write(len(header).to_bytes(8, "little") + header + b"\0" * 16)


def run(capsys, argv):
    rc = main(argv)
    cap = capsys.readouterr()
    return rc, cap.err.strip().splitlines()


@pytest.mark.parametrize("command", ["check", "keys"])
@pytest.mark.parametrize("config,needle", [
    (None, "no config.json"),
    ("{not json", "is not JSON"),
    ("[1, 2]", "must hold a JSON object"),
    (json.dumps({"architectures": ["NoSuchModelForAnything"], "model_type": "bert"}), "NoSuchModelForAnything is not defined"),
    (json.dumps({"model_type": "no-such-type"}), "'no-such-type' is not in transformers"),
    (json.dumps({"model_type": "../../etc"}), "is not a transformers model type"),
    (json.dumps({"architectures": "BertModel"}), "must be a list of class names"),
    (json.dumps({"hidden_size": 4}), "names neither `architectures` nor `model_type`"),
], ids=["no-config", "not-json", "not-object", "unknown-arch", "unknown-type", "traversal", "arch-not-list",
        "nothing"])
def test_bad_folder_is_one_line_exit_2(tmp_path, capsys, command, config, needle):
    pytest.importorskip("transformers")  # (only its source is read)
    weights(tmp_path)
    if config is not None:
        (tmp_path / "config.json").write_text(config)
    rc, err = run(capsys, [command, str(tmp_path)])
    assert rc == 2
    assert len(err) == 1 and needle in err[0], err


def test_transformers_not_installed(tmp_path, capsys, monkeypatch):
    weights(tmp_path)
    (tmp_path / "config.json").write_text(json.dumps({"architectures": ["BertModel"], "model_type": "bert"}))
    monkeypatch.setattr(sys, "path", [p for p in sys.path
                                      if not os.path.isfile(os.path.join(p or ".", "transformers", "__init__.py"))])
    rc, err = run(capsys, ["check", str(tmp_path)])
    assert rc == 2
    assert len(err) == 1 and "transformers is not installed" in err[0], err


def test_check_needs_a_checkpoint_or_a_folder(tmp_path, capsys):
    rc, err = run(capsys, ["check", "model.py:Net"])
    assert rc == 2 and len(err) == 1 and "Hugging Face folder" in err[0]
