"""Stages pass data, not text to parse back (issue 9 step 7): ``check`` builds its SDL312 notes from
``compare.Unsure`` items (message, path, line, key), and ``explain`` reads the key of a size mismatch from the
finding's data, whatever its message says."""

from __future__ import annotations

import json
import os

import pytest

torch = pytest.importorskip("torch")

from statedict_lint.check import compare  # noqa: E402
from statedict_lint.cli import main  # noqa: E402
from statedict_lint.commands.check import report_findings  # noqa: E402

from conftest import REPO  # noqa: E402

CNN = os.path.join(REPO, "fixtures", "checkpoints", "small_cnn.py")


def test_unsure_note_keeps_its_location_whatever_the_path(tmp_path, capsys, monkeypatch):
    """A folder name with ': ' in it made the old 'path:line: msg' regex split at the wrong colon."""
    d = tmp_path / "runs: 12"
    d.mkdir()
    src = d / "m.py"
    src.write_text("import torch.nn as nn\nfrom somewhere_unknown import make_layer\n\n\nclass M(nn.Module):\n"
                   "    def __init__(self):\n        super().__init__()\n        self.fc = nn.Linear(4, 2)\n"
                   "        self.body = make_layer()\n", encoding="utf-8")
    ck = str(tmp_path / "m.pt")
    torch.save({"fc.weight": torch.zeros(2, 4), "fc.bias": torch.zeros(2), "body.weight": torch.zeros(3)}, ck)
    monkeypatch.chdir(tmp_path)
    assert main(["check", f"{src}:M", ck, "--format", "sarif"]) == 1
    log = json.loads(capsys.readouterr().out)
    notes = [r for r in log["runs"][0]["results"] if r["ruleId"] == "SDL312"]
    located = [r for r in notes if "locations" in r]
    assert located, notes
    (loc,) = located[0]["locations"]
    assert loc["physicalLocation"]["region"]["startLine"] == 9  # self.body = make_layer()
    assert loc["physicalLocation"]["artifactLocation"]["uri"].endswith("m.py")
    assert not located[0]["message"]["text"].startswith(str(d))  # the path is the location, not message text
    assert main(["check", f"{src}:M", ck]) == 1
    out = capsys.readouterr().out
    assert "unsure: runs: 12/m.py:9: " in out  # text: relative to the working directory


def test_report_findings_reads_unsure_fields():
    res = compare.Comparison("m.py:M", "ck.pt", "")
    res.unsure = [compare.Unsure("shape not fully known", "/nowhere/x:y/model.txt", 7, key="a.weight"),
                  compare.Unsure("no value for n: shapes that depend on it are not checked")]
    located, bare = report_findings(res)
    assert (located.code, located.path, located.line, located.message) == \
        ("SDL312", "/nowhere/x:y/model.txt", 7, "shape not fully known")
    assert located.extra == {"key": "a.weight"} and located.severity == "note"
    assert (bare.path, bare.line) == ("", 0)
    assert res.to_json()["unsure"] == ["/nowhere/x:y/model.txt:7: shape not fully known",
                                       "no value for n: shapes that depend on it are not checked"]


def test_explain_reads_the_key_from_the_finding_not_its_message(tmp_path, capsys, monkeypatch):
    """Reword the size-mismatch message: the explanation of each mismatch must not depend on its wording."""
    path = str(tmp_path / "ck.pt")
    torch.save({k: v for k, v in _cnn(num_classes=1000).state_dict().items()}, path)
    real = compare._finding

    def reworded(kind, message, *args, **extra):
        if kind == "size":
            message = f"shapes differ at {extra['key']}"
        return real(kind, message, *args, **extra)

    monkeypatch.setattr(compare, "_finding", reworded)
    assert main(["check", f"{CNN}:SmallCNN", path, "--format", "json"]) == 1
    data = json.loads(capsys.readouterr().out)
    members = [m for f in data["findings"] for m in f.get("extra", {}).get("members", [f["message"]])
               if m.startswith("shapes differ at ")]
    assert len(members) == 2
    assert all("`num_classes` is 10 here (the default of __init__, line 18)" in m for m in members), members


def _cnn(**kw):
    from conftest import load_module_from_path

    return load_module_from_path(CNN).SmallCNN(**kw)


def test_verify_names_the_line_behind_a_missing_key_from_data_not_message_text(tmp_path):
    """verify's judge explains a key the incomplete prediction leaves out by ``Unresolved.key`` (the most specific
    prefix), never by backquoted names found in a message."""
    from statedict_lint.predict.api import predict
    from statedict_lint.predict.template import Prediction, Unresolved
    from statedict_lint.verify.oracle import _behind

    pred = Prediction("m.py:M")
    pred.unresolved = [
        Unresolved(3, "a state_dict hook: the keys saved up to `M` are not known", key=""),
        Unresolved(5, "`stem.*`: unknown", key="stem"),
        Unresolved(7, "text that names `stem.fc.weight` but explains nothing", key=None),
        Unresolved(9, "`stem.fc.*`: unknown", key="stem.fc"),
        Unresolved(11, "`stem.fcx`: unknown", key="stem.fcx"),
    ]
    assert _behind(pred, "stem.fc.weight")[0] == 9
    assert _behind(pred, "stem.conv.weight")[0] == 5
    assert _behind(pred, "head.bias")[0] == 3
    pred.unresolved = pred.unresolved[2:3]
    assert _behind(pred, "stem.fc.weight") == (0, "not predicted (the prediction is incomplete)")

    src = tmp_path / "m.py"
    src.write_text("import torch.nn as nn\nfrom somewhere_unknown import make_layer\n\n\nclass M(nn.Module):\n"
                   "    def __init__(self):\n        super().__init__()\n        self.fc = nn.Linear(4, 2)\n"
                   "        self.body = make_layer()\n", encoding="utf-8")
    real = predict(str(src), "M", {})
    assert [u.line for u in real.unresolved if u.key is not None and u.explains("body.weight")] == [9], \
        [(u.line, u.key, u.message) for u in real.unresolved]
    assert not any(u.explains("fc.weight") for u in real.unresolved)
