"""Model source that would make the evaluator materialize huge values ends in "too large to evaluate" with the
line -- never a hang, a MemoryError or a traceback. Each case runs `statedict-lint keys` in a subprocess whose
address space is limited, so a regression shows up as a failed run, not as a machine out of memory."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from typing import Any

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
LIMIT_BYTES = 1500 * 1024 * 1024  # far below what any of these would take when materialized

CASES = {
    "pow_tower": "n = 2 ** 10 ** 10",
    "pow_ten": "n = 10 ** 10 ** 8",
    "str_repeat": "n = len('a' * 10 ** 10)",
    "shift": "n = 1 << 10 ** 11",
    "list_doubling": "xs = [1]\nfor _ in range(40):\n    xs = xs + xs\nn = len(xs)",
    "str_doubling": "s = 'ab'\nfor _ in range(40):\n    s += s\nn = len(s)",
    "huge_dim": "n = 10 ** 5000",
    "list_repeat": "n = len([0] * 10 ** 12)",
    "tuple_mult": "n = len((1, 2) * (1 << 40))",
    "big_range_list": "n = len(list(range(10 ** 12)))",
}


def _model(stmt: str) -> str:
    body = textwrap.indent(stmt, " " * 8)
    return ("import torch\nimport torch.nn as nn\n\n\nclass M(nn.Module):\n    def __init__(self):\n"
            "        super().__init__()\n        self.keep = nn.Linear(2, 3)\n" + body +
            "\n        self.fc = nn.Linear(n, 2)\n")


RUNNER = textwrap.dedent('''
    import resource, sys
    resource.setrlimit(resource.RLIMIT_AS, ({limit}, {limit}))
    from statedict_lint.cli import main
    sys.exit(main(sys.argv[1:]))
''')


@pytest.mark.parametrize("name", sorted(CASES))
def test_huge_values_are_unknown_not_materialized(name: str, tmp_path: Any) -> None:
    path = tmp_path / "model.py"
    path.write_text(_model(CASES[name]))
    env = dict(os.environ, PYTHONPATH=REPO)
    proc = subprocess.run([sys.executable, "-c", RUNNER.format(limit=LIMIT_BYTES), "keys", f"{path}:M",
                           "--format", "json", "--no-cache"],
                          capture_output=True, text=True, env=env, timeout=300)
    assert "Traceback" not in proc.stderr and "MemoryError" not in proc.stderr, proc.stderr[-2000:]
    assert proc.returncode == 0, (proc.returncode, proc.stderr[-2000:])
    data = json.loads(proc.stdout)
    assert data["complete"] is False
    assert "keep.weight" in data["keys"] and data["keys"]["keep.weight"]["shape"] == [3, 2]
    fc = data["keys"].get("fc.weight")
    assert fc is None or fc["shape"] is None or fc["shape"][1] is None, fc
    assert any("too large" in u["message"] and u["line"] > 0 for u in data["unresolved"]), data["unresolved"]
