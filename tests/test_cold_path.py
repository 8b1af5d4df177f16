"""The cold `keys FILE.py:CLASS --no-cache` path does only what a plain nn.Module needs, and its shortcuts
(text filters before parses) never change an answer.

Speed itself is measured in bench/bench_keys.py (docs/benchmarks.md), not here: these tests assert what is
skipped and that skipping is exact.
"""

from __future__ import annotations

import os
import subprocess
import sys

from statedict_lint.hf.bind import mentions, quick_config_class

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
GPT = os.path.join(ROOT, "fixtures", "gpt.py")

# (hf.source is read by the library models, predict/libs; hashlib, OpenSSL's, only by caches)
NOT_NEEDED = ("statedict_lint.hf.facts", "statedict_lint.hf.loading", "statedict_lint.hf.conversion", "hashlib")


def test_keys_of_a_plain_module_imports_no_hugging_face_machinery_and_no_hashing():
    code = ("import sys; from statedict_lint.cli import main; "
            f"rc = main(['keys', {GPT + ':GPT'!r}, '--no-cache', '--set', 'config.n_layer=2']); "
            f"bad = sorted(m for m in sys.modules if m in {NOT_NEEDED!r}); "
            "print('IMPORTED', bad); sys.exit(rc)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert out.returncode == 0, out.stderr
    assert "transformer.h.1.attn.c_attn.weight" in out.stdout  # the prediction ran
    assert "IMPORTED []" in out.stdout


def test_mentions_is_a_sound_filter():
    assert mentions("from x import PreTrainedModel", "PreTrainedModel")
    assert not mentions("import torch\nclass A: pass\n", "PreTrainedModel", "transformers")
    # Python reads identifiers in NFKC form: a non-ASCII text may name the word without spelling it
    assert mentions("from x import \uff30reTrainedModel", "PreTrainedModel")


MODEL = """\
from transformers.modeling_utils import {name}
from .configuration_x import XConfig


class XModel({name}):
    config_class = XConfig

    def __init__(self, cfg):
        super().__init__(cfg)
"""


def test_quick_config_class_still_reads_a_pretrained_model_spelled_in_another_unicode_form(tmp_path):
    plain = tmp_path / "plain.py"
    plain.write_text(MODEL.format(name="PreTrainedModel"), encoding="utf-8")
    wide = tmp_path / "wide.py"
    wide.write_text(MODEL.format(name="\uff30reTrainedModel"), encoding="utf-8")  # Python: PreTrainedModel
    assert quick_config_class(str(plain), "XModel") == ("XConfig", "cfg")
    assert quick_config_class(str(wide), "XModel") == ("XConfig", "cfg")
    other = tmp_path / "other.py"
    other.write_text(MODEL.format(name="PreTrainedModel").replace("PreTrainedModel", "Base"), encoding="utf-8")
    assert quick_config_class(str(other), "XModel") is None


def test_keys_freezes_what_its_imports_made_once_and_leaves_the_collector_on():
    code = ("import gc, sys; from statedict_lint.cli import main; argv = ['keys', %r, '--no-cache', '--format', "
            "'json', '--set', 'config.n_layer=1']; assert main(argv) == 0; first = gc.get_freeze_count(); "
            "assert main(argv) == 0; print('FROZEN', first, gc.get_freeze_count(), gc.isenabled())") % (GPT + ":GPT")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert out.returncode == 0, out.stderr
    _, first, second, enabled = out.stdout.strip().splitlines()[-1].split()
    assert int(first) > 10_000  # modules and classes moved out of the collector's way
    assert int(second) == int(first)  # a second run imports nothing: it freezes nothing (no garbage kept)
    assert enabled == "True"  # the collector is off only while modules import


def _position_lines(module, nodes):
    from libcst.metadata import MetadataWrapper, PositionProvider

    pos = MetadataWrapper(module, unsafe_skip_copy=True).resolve(PositionProvider)
    return {id(n): pos[n].start.line for n in nodes}


def test_the_fast_line_map_finds_every_statement_and_call_at_libcsts_own_positions():
    """source/loader's walk (leaves skipped, str fields skipped) against libcst's visitor and PositionProvider."""
    import ast
    import pathlib

    import libcst as cst

    from statedict_lint.source import loader

    class Visitor(cst.CSTVisitor):
        def __init__(self) -> None:
            self.stmts, self.calls = [], []

        def on_visit(self, node) -> bool:
            if isinstance(node, loader._STMT_TYPES):
                self.stmts.append(node)
            elif isinstance(node, cst.Call):
                self.calls.append(node)
            return True

    files = sorted(pathlib.Path(ROOT, "fixtures").rglob("*.py")) + \
        sorted(pathlib.Path(ROOT, "statedict_lint", "predict").rglob("*.py"))
    assert len(files) > 20
    for f in files:
        text = f.read_text(encoding="utf-8")
        module = cst.parse_module(text)
        stmts, calls = [], []
        loader._cst_nodes(module, stmts, calls)
        v = Visitor()
        module.visit(v)
        assert [id(n) for n in stmts] == [id(n) for n in v.stmts], f
        assert [id(n) for n in calls] == [id(n) for n in v.calls], f
        assert loader._line_map(module, text, ast.parse(text)) == _position_lines(module, stmts + calls), f
