"""`statedict-lint lint [PATHS]`: the SDL rules without flake8 (for ruff users, CI and pre-commit).

Exit 1 on findings, 0 on none, 2 on bad input (one line on stderr). No path lints ``.``; ``-`` reads the
source from stdin (``--stdin-display-name`` names it). Honours ``# noqa`` and ``# noqa: SDL001`` like
flake8. Results are cached in the user's cache folder (``statedict_lint.usercache``), keyed by the file's
path and content and what the rules read about the file's project, and checked against everything else
the rules read (the files and module lookups of SDL201's predictions). A summary line
``N findings in M files`` goes to stderr.
"""

from __future__ import annotations

import os
import sys
from typing import Any, Dict, List, Optional

from statedict_lint.rules.lintrun import Cache, check_codes, enabled_codes, lint_bytes, lint_paths


def add_parser(sub: Any) -> None:
    p = sub.add_parser("lint", help="check Python files for checkpoint loading/saving pitfalls (SDL rules)",
                       description="Run the SDL lint rules on Python files and folders (recursively).")
    p.add_argument("paths", nargs="*", metavar="PATH",
                   help="files or folders (default: the current folder); - reads one file from stdin")
    p.add_argument("--stdin-display-name", default="stdin", metavar="NAME",
                   help="the file name to report (and judge the file by) when reading stdin with -")
    p.add_argument("--format", choices=["text", "json", "github", "sarif", "markdown"], default="text")
    p.add_argument("--select", default=None, help="comma-separated codes or prefixes to enable (e.g. SDL0,SDL101)")
    p.add_argument("--ignore", default=None, help="comma-separated codes or prefixes to disable")
    p.add_argument("--extend-select", default=None, help="enable these in addition (e.g. SDL901)")
    p.add_argument("--exclude", default=None, help="comma-separated glob patterns of paths to skip")
    p.add_argument("--lock", metavar="FILE", default=None,
                   help="statedict.lock for SDL800 lock-drift (default: config `lock`, $STATEDICT_LINT_LOCK, else "
                        "the nearest statedict.lock above each file)")
    p.add_argument("--no-cache", action="store_true", help="do not read or write the lint cache")
    p.add_argument("--show-source", action="store_true", help=argparse_suppress())
    p.add_argument("--list-rules", action="store_true", help="print the rules and exit")
    p.set_defaults(run=run)


def argparse_suppress() -> str:
    import argparse

    return argparse.SUPPRESS


def _codes(value: Optional[str]) -> Optional[List[str]]:
    if value is None:
        return None
    return [c.strip().upper() for c in value.replace(" ", ",").split(",") if c.strip()]


def run(args: Any) -> int:
    from statedict_lint.rules import config as lintconfig
    from statedict_lint.report import render
    from statedict_lint.rules.engine import all_rules, is_enabled

    from statedict_lint.errors import UserError
    from statedict_lint.rules.session import LintOptions, LintSession

    cfg_path, cfg = lintconfig.find_config(".")

    lock = getattr(args, "lock", None)
    if lock is None and cfg.get("lock") and cfg_path:
        lock = os.path.join(os.path.dirname(cfg_path), cfg["lock"][0])
    if lock is not None and not os.path.isfile(lock):
        raise UserError(f"--lock {lock}: " + ("not a regular file" if os.path.exists(lock) else "no such file"))
    session = LintSession(LintOptions(lock=os.path.abspath(lock) if lock else None))
    select = _codes(args.select)
    if select is None:
        select = cfg.get("select", [])
        check_codes(select, f"{cfg_path}: select")
    else:
        check_codes(select, "--select")
    ignore = _codes(args.ignore)
    if ignore is None:
        ignore = cfg.get("ignore", [])
        check_codes(ignore, f"{cfg_path}: ignore")
    else:
        check_codes(ignore, "--ignore")
    check_codes(_codes(args.extend_select) or [], "--extend-select")
    check_codes(cfg.get("extend-select", []), f"{cfg_path}: extend-select")
    extend_select = (_codes(args.extend_select) or []) + cfg.get("extend-select", [])
    exclude = ([e.strip() for e in args.exclude.split(",") if e.strip()] if args.exclude
               else cfg.get("exclude", []))
    if args.list_rules:
        for r in all_rules():
            state = "on " if is_enabled(r, select, ignore, extend_select) else "off"
            sys.stdout.write(f"{r.code} {state} {r.name}: {r.message}\n")
        return 0
    paths = list(args.paths) or ["."]
    stats: Dict[str, int] = {}
    if "-" in paths:
        if paths != ["-"]:
            raise UserError("- (stdin) cannot be combined with other paths")
        from statedict_lint.limits import MAX_SOURCE_BYTES
        from statedict_lint.rules.engine import too_large

        raw = sys.stdin.buffer.read(MAX_SOURCE_BYTES + 1) if hasattr(sys.stdin, "buffer") else \
            sys.stdin.read(MAX_SOURCE_BYTES + 1).encode("utf-8")
        if len(raw) > MAX_SOURCE_BYTES:  # the same bound as a file's
            findings = [too_large(args.stdin_display_name, len(raw), "bytes")]
        else:
            findings = lint_bytes(raw, args.stdin_display_name, all_rules(),
                                  enabled_codes(select, ignore, extend_select), Cache(False), session)
        stats["files"] = 1
    else:
        findings = lint_paths(paths, select, ignore, extend_select, exclude, use_cache=not args.no_cache,
                              stats=stats, session=session)
    text = render(findings, args.format)
    if text:
        sys.stdout.write(text if text.endswith("\n") else text + "\n")
    sys.stdout.flush()
    sys.stderr.write(summary(findings, stats.get("files", 0)) + "\n")
    return 1 if findings else 0


def summary(findings: List[Any], checked: int) -> str:
    """``3 findings in 2 files (41 files checked)``; ``no findings (41 files checked)``."""
    def n(k: int, word: str) -> str:
        return f"{k} {word}{'' if k == 1 else 's'}"

    if not findings:
        return f"no findings ({n(checked, 'file')} checked)"
    files = len({f.path for f in findings})
    return f"{n(len(findings), 'finding')} in {n(files, 'file')} ({n(checked, 'file')} checked)"
