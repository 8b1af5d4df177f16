"""The one lint core shared by the flake8 plugin, `statedict-lint lint` and the pre-commit hook."""

from __future__ import annotations

import ast
import importlib
import pkgutil
import re
from typing import Dict, Iterable, List, Optional, Sequence, Tuple

from statedict_lint.codes import INTERNAL_ERROR, SYNTAX_ERROR, get
from statedict_lint.findings import Finding
from statedict_lint.limits import MAX_SOURCE_BYTES, MiB
from statedict_lint.rules._base import Context, Rule
from statedict_lint.rules.session import LintSession

_RULES: Optional[List[Rule]] = None


def all_rules() -> List[Rule]:
    """Every rule, sorted by code (one module ``sdlNNN_*.py`` per rule in this package)."""
    global _RULES
    if _RULES is None:
        import statedict_lint.rules as pkg

        found: List[Rule] = []
        for info in pkgutil.iter_modules(pkg.__path__):
            if not re.match(r"sdl\d{3}_", info.name):
                continue
            mod = importlib.import_module(f"statedict_lint.rules.{info.name}")
            for obj in vars(mod).values():
                if isinstance(obj, type) and issubclass(obj, Rule) and obj is not Rule and obj.code:
                    found.append(obj())
        found.sort(key=lambda r: r.code)
        _RULES = found
    return _RULES


def default_off_codes() -> List[str]:
    return [r.code for r in all_rules() if not r.default_enabled]


def _longest(code: str, prefixes: Sequence[str]) -> int:
    return max((len(p) for p in prefixes if p and code.startswith(p)), default=-1)


def is_enabled(rule: Rule, select: Sequence[str] = (), ignore: Sequence[str] = (),
               extend_select: Sequence[str] = ()) -> bool:
    """flake8's decision: an explicit select or ignore beats the defaults (so ``--select SDL`` turns the
    opinionated SDL9xx on, as in flake8); when both match, the most specific prefix wins."""
    sel = max(_longest(rule.code, select), _longest(rule.code, extend_select))
    ign = _longest(rule.code, ignore)
    if sel >= 0 and sel > ign:
        return True
    if ign >= 0:
        return False
    if select:
        return False
    return rule.default_enabled


def textual_prefilter(source: str, rule: Rule) -> bool:
    return any(word in source for word in rule.needs)


def run_rules(tree: ast.Module, source: str, path: str, rules: Iterable[Rule],
              session: Optional[LintSession] = None) -> List[Finding]:
    """Findings of ``rules`` on one parsed file (no noqa handling), in the lint run ``session`` (a fresh one when
    None). Never raises."""
    rules = [r for r in rules if textual_prefilter(source, r)]
    if not rules:
        return []
    if len(source) > MAX_SOURCE_BYTES:
        return [too_large(path, len(source))]
    out: List[Finding] = []
    try:
        ctx = Context(tree, source, path, [r.hint for r in rules], session)
    except RecursionError:
        return [internal_error(path, "context", RecursionError("file nested too deeply"))]
    except Exception as exc:  # pragma: no cover - defensive: never crash the host
        return [internal_error(path, "context", exc)]
    deep = False
    for rule in rules:
        try:
            for node, msg in rule.check(ctx):
                if isinstance(node, tuple):
                    line, col = node
                else:
                    line, col = getattr(node, "lineno", 1), getattr(node, "col_offset", 0)
                out.append(Finding(code=rule.code, message=msg or rule.message, path=path, line=line,
                                   col=col, severity=rule.severity,
                                   name=rule.name))
        except RecursionError:  # one line for the file, not one per rule
            if not deep:
                out.append(internal_error(path, "the rules", RecursionError("file nested too deeply")))
            deep = True
        except Exception as exc:  # an internal error is one clear finding, never a traceback
            out.append(internal_error(path, rule.code, exc))
    out.sort(key=Finding.sort_key)
    return out


def too_large(path: str, size: int, unit: str = "characters") -> Finding:
    return syntax_error(path, 1, f"cannot parse file: {size:,} {unit}, larger than the {MAX_SOURCE_BYTES // MiB} MiB "
                           "limit for one source file; not checked")


def syntax_error(path: str, line: int, message: str) -> Finding:
    """SDL998: the file cannot be parsed or read; it is not checked."""
    c = get(SYNTAX_ERROR)
    return Finding(code=c.code, path=path, line=line, col=0, severity=c.severity, name=c.name, message=message)


def internal_error(path: str, where: str, exc: BaseException) -> Finding:
    c = get(INTERNAL_ERROR)
    return Finding(code=c.code, path=path, line=1, col=0, severity=c.severity, name=c.name,
                   message=f"statedict-lint internal error in {where} ({type(exc).__name__}: {exc}); "
                           "this file was not fully checked, please report it")


# -- noqa, as flake8 reads it ----------------------------------------------------------------------
NOQA_RE = re.compile(r"#\s*noqa(?::[\s]?(?P<codes>[A-Z]+[0-9]+(?:[,\s]+)?)+)?", re.IGNORECASE)
_CODE_RE = re.compile(r"[A-Z]+[0-9]+", re.IGNORECASE)
NOQA_FILE_RE = re.compile(r"#\s*flake8[:=]\s*noqa(?!:)", re.IGNORECASE)


def noqa_map(lines: Sequence[str]) -> Dict[int, Optional[Tuple[str, ...]]]:
    """line (1-based) -> None for a bare ``# noqa`` or the codes listed after ``# noqa:``."""
    out: Dict[int, Optional[Tuple[str, ...]]] = {}
    for i, line in enumerate(lines, 1):
        if "noqa" not in line.lower():
            continue
        m = NOQA_RE.search(line)
        if not m:
            continue
        if m.group("codes") is None:
            out[i] = None
        else:
            out[i] = tuple(c.upper() for c in _CODE_RE.findall(m.group(0)[m.group(0).index(":"):]))
    return out


def suppressed(f: Finding, noqa: Dict[int, Optional[Tuple[str, ...]]]) -> bool:
    if f.line not in noqa:
        return False
    codes = noqa[f.line]
    return codes is None or f.code.startswith(codes)


def lint_source(source: str, path: str = "<string>", rules: Optional[Iterable[Rule]] = None,
                honour_noqa: bool = True, session: Optional[LintSession] = None) -> List[Finding]:
    """Parse and lint one file's text: the CLI path. A syntax error is one SDL998 finding."""
    rules = list([r for r in all_rules() if r.default_enabled] if rules is None else rules)
    if not any(textual_prefilter(source, r) for r in rules):
        return []
    lines = source.splitlines()
    if honour_noqa and any(NOQA_FILE_RE.search(ln) for ln in lines if "flake8" in ln):
        return []
    if len(source) > MAX_SOURCE_BYTES:
        return [too_large(path, len(source))]
    try:
        tree = ast.parse(source, filename=path)
    except (SyntaxError, ValueError) as exc:
        line = getattr(exc, "lineno", 1) or 1
        return [syntax_error(path, line, f"cannot parse file: {getattr(exc, 'msg', exc)}")]
    except (RecursionError, MemoryError):  # a 3,000-term `1+1+...`: Python's parser gives up, we say so once
        return [syntax_error(path, 1, "cannot parse file: an expression nested too deeply for Python's parser")]
    found = run_rules(tree, source, path, rules, session)
    if honour_noqa and found:
        nq = noqa_map(lines)
        found = [f for f in found if not suppressed(f, nq)]
    return found
