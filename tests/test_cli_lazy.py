"""The CLI imports only the command it runs: `inspect` loads no predictor, no libcst, no other command."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from statedict_lint.cli import COMMANDS, main


def test_inspect_imports_only_its_command(tmp_path):
    torch = pytest.importorskip("torch")
    p = str(tmp_path / "ck.pt")
    torch.save({"w": torch.zeros(2)}, p)
    code = ("import sys; from statedict_lint.cli import main; rc = main(['inspect', %r]); "
            "bad = sorted(m for m in sys.modules if m.split('.')[0] in ('torch', 'libcst', 'numpy', 'flake8') "
            "or m.startswith(('statedict_lint.predict', 'statedict_lint.rules')) "
            "or (m.startswith('statedict_lint.commands.') and m != 'statedict_lint.commands.inspect')); "
            "print('IMPORTED', bad); sys.exit(rc)") % p
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env={**os.environ})
    assert out.returncode == 0, out.stderr
    assert "IMPORTED []" in out.stdout


def test_help_still_lists_every_command(capsys):
    with pytest.raises(SystemExit):
        main(["--help"])
    out = capsys.readouterr().out
    here = os.path.dirname(sys.modules["statedict_lint.cli"].__file__)
    shipped = [c for c in COMMANDS if os.path.exists(os.path.join(here, "commands", f"{c}.py"))]
    assert shipped and all(c in out for c in shipped)


def test_unknown_command_is_a_usage_error(capsys):
    assert main(["no-such-command"]) == 2
    assert "invalid choice" in capsys.readouterr().err
