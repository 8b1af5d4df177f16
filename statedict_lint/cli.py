"""Command-line entry point: `statedict-lint COMMAND ...`.

Each command lives in ``statedict_lint/commands/<name>.py`` and exposes ``add_parser(subparsers)``
(registering its options and ``set_defaults(run=...)``) and a ``run(args) -> int``. Command modules
import nothing heavy at module level (never torch), so `--help` and the static commands stay fast.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from typing import List, NoReturn, Optional

from statedict_lint import __version__
from statedict_lint.errors import UserError

DESCRIPTION = """\
Static analysis for PyTorch state_dicts. statedict-lint reads a model's source (never importing torch or
your code) and predicts the state_dict keys, shapes and dtypes of an nn.Module class; it reads checkpoints
header-only (no pickled code runs) and tells whether load_state_dict(strict=True) would succeed and why not;
it lints training code for checkpoint pitfalls and reviews state_dict changes in pull requests."""

EPILOG = """\
examples:
  statedict-lint keys model.py:GPT --set config.n_layer=12      predicted keys, shapes, dtypes
  statedict-lint check model.py:GPT ckpt.pt                     will ckpt.pt load? if not, the fix
  statedict-lint lint src/                                      checkpoint pitfalls (also a flake8 plugin)
  statedict-lint diff main                                      state_dict changes since main (breaking: exit 1)
  statedict-lint lock --check                                   CI: the state_dict contract is unchanged
  statedict-lint migrate old.pt --map rename.json -o new.pt     rename keys without touching tensor data

exit codes: 0 ok, 1 findings (a failing load, breaking change, lint finding), 2 usage or input error.
Run `statedict-lint COMMAND --help` for a command's options."""

COMMANDS = ["keys", "verify", "inspect", "check", "lint", "diff", "lock", "migrate"]


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:  # one line, exit 2
        raise UserError(f"{self.prog}: {message}")


def build_parser(only: Optional[str] = None) -> argparse.ArgumentParser:
    """The parser; with ``only``, just that command's (imports one command module, not all: `inspect` must
    not pay for the predictor's imports)."""
    parser = _Parser(prog="statedict-lint", description=DESCRIPTION, epilog=EPILOG,
                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", action="version", version=f"statedict-lint {__version__}")
    parser.add_argument("--color", choices=["auto", "always", "never"], default="auto",
                        help="colour in text output: auto (on a terminal, unless NO_COLOR is set), always, never; "
                             "accepted before or after COMMAND")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    for name in COMMANDS:
        if only is not None and name != only:
            continue
        try:
            mod = importlib.import_module(f"statedict_lint.commands.{name}")
        except ModuleNotFoundError as exc:
            if exc.name == f"statedict_lint.commands.{name}":
                continue  # command not shipped yet
            raise
        mod.add_parser(sub)
    return parser


def _take_color(argv: List[str]) -> List[str]:
    """Apply ``--color MODE`` / ``--color=MODE`` wherever it is (before a ``--``) and drop it from argv: every
    command's text output honours it without each parser declaring it."""
    from statedict_lint import term

    out: List[str] = []
    i = 0
    mode = "auto"
    while i < len(argv):
        a = argv[i]
        if a == "--":
            out.extend(argv[i:])
            break
        if a == "--color" or a.startswith("--color="):
            value = a.partition("=")[2] if "=" in a else (argv[i + 1] if i + 1 < len(argv) else "")
            if value not in term.MODES:
                raise UserError(f"--color: expected one of {', '.join(term.MODES)}, got {value!r}")
            mode = value
            i += 1 if "=" in a else 2
            continue
        out.append(a)
        i += 1
    term.set_mode(mode)
    return out


def main(argv: Optional[List[str]] = None) -> int:
    if argv is None:
        argv = sys.argv[1:]
    try:
        argv = _take_color(list(argv))
        parser = build_parser(argv[0] if argv and argv[0] in COMMANDS else None)
        args = parser.parse_args(argv)
        if not getattr(args, "run", None):
            parser.print_help(sys.stderr)
            return 2
        return int(args.run(args))
    except UserError as exc:
        from statedict_lint.report.escape import text  # messages quote keys and names from files: one line

        print(f"statedict-lint: error: {text(str(exc))}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        return 0
