"""Constructor bindings given on the command line: ``--set NAME=VALUE`` and ``--config PARAM=FILE.json``.

A binding maps a name to a Python value:

* ``n_layer`` -> a constructor parameter (or, when the class has no such parameter, a module global);
* ``config.n_embd`` -> an attribute of constructor parameter ``config``.

VALUE is a Python literal (``2``, ``[2, 2, 2, 2]``, ``'gelu'``, ``True``, ``None``). A bare identifier
that is not a literal (``BasicBlock``, ``nn.LayerNorm``) becomes a ``NameRef``: the name of a class or
function visible in the model's file, resolved by the predictor (and by ``verify`` in the imported
module). A call of such a name with literal arguments (``GPTConfig(n_layer=2)``) becomes a ``CallRef``,
evaluated statically by the predictor and for real by ``verify``.
"""

from __future__ import annotations

import ast
import json
import os
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Dict, Iterable, Optional, TextIO

from statedict_lint.errors import UserError

if TYPE_CHECKING:
    from statedict_lint.predict.template import Prediction

_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$")


@dataclass(frozen=True)
class NameRef:
    """A dotted name to resolve in the model's module (``BasicBlock``, ``nn.GELU``)."""

    name: str


@dataclass(frozen=True)
class CallRef:
    """A call of a name visible in the model's module with literal arguments: ``GPTConfig(n_layer=2)``."""

    text: str


def _is_simple_call(node: ast.AST) -> bool:
    def ok(n: ast.AST) -> bool:
        if isinstance(n, ast.Name):
            return True
        if isinstance(n, ast.Attribute):
            return ok(n.value)
        if isinstance(n, ast.Call):
            return _is_simple_call(n)
        try:
            ast.literal_eval(n)
            return True
        except (ValueError, TypeError, SyntaxError, RecursionError):
            return False

    return isinstance(node, ast.Call) and isinstance(node.func, (ast.Name, ast.Attribute)) and ok(node.func) and \
        all(ok(a) for a in node.args) and all(k.arg is not None and ok(k.value) for k in node.keywords)


def parse_value(text: str) -> Any:
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError, MemoryError, RecursionError):
        pass
    if _NAME.match(text.strip()):
        return NameRef(text.strip())
    try:
        tree = ast.parse(text.strip(), mode="eval")
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        tree = None
    if tree is not None and _is_simple_call(tree.body):
        return CallRef(text.strip())
    raise UserError(f"cannot read value {text!r}: give a Python literal, a name, or a call like Config(n=2)")


def parse_set(item: str) -> tuple:
    if "=" not in item:
        raise UserError(f"malformed --set {item!r}: expected NAME=VALUE")
    name, _, value = item.partition("=")
    name = name.strip()
    if not _NAME.match(name) or name.count(".") > 1:
        raise UserError(f"malformed --set {item!r}: NAME must be PARAM or PARAM.ATTR")
    return name, parse_value(value.strip())


def parse_config(item: str) -> Dict[str, Any]:
    if "=" not in item:
        raise UserError(f"malformed --config {item!r}: expected PARAM=FILE.json")
    param, _, path = item.partition("=")
    param = param.strip()
    if not re.match(r"^[A-Za-z_][A-Za-z0-9_]*$", param):
        raise UserError(f"malformed --config {item!r}: PARAM must be a parameter name")
    from statedict_lint.limits import MAX_CONFIG_BYTES, read_regular_text

    if not os.path.lexists(path):
        raise UserError(f"--config: no such file: {path}")
    text = read_regular_text(path, MAX_CONFIG_BYTES, "--config file")  # no FIFO, no /dev/zero, bounded
    try:
        data = json.loads(text)
    except (ValueError, RecursionError) as exc:
        raise UserError(f"--config: cannot read {path}: {str(exc).splitlines()[0]}") from None
    if not isinstance(data, dict):
        raise UserError(f"--config: {path} must hold a JSON object")
    return {f"{param}.{k}": v for k, v in data.items() if isinstance(k, str) and k.isidentifier()}


def collect(sets: Optional[Iterable[str]], configs: Optional[Iterable[str]]) -> Dict[str, Any]:
    """--config files first, then --set items (which override them)."""
    out: Dict[str, Any] = {}
    for item in configs or ():
        out.update(parse_config(item))
    for item in sets or ():
        name, value = parse_set(item)
        out[name] = value
    return out


def add_arguments(parser: Any) -> None:
    parser.add_argument("--set", dest="sets", action="append", default=[], metavar="NAME=VALUE",
                        help="bind a constructor parameter (n_layer=2), an attribute of one "
                             "(config.n_embd=64) or a module global; VALUE is a Python literal or a name")
    parser.add_argument("--config", dest="configs", action="append", default=[], metavar="PARAM=FILE.json",
                        help="bind every key of a JSON object as an attribute of parameter PARAM")


def warn_unread(pred: Prediction, stream: Optional[TextIO] = None) -> None:
    """Print a warning per binding the class never reads (``--set config.n_embed=...`` for ``n_embd``): the
    prediction would otherwise be quietly symbolic in the value the user meant to give."""
    import sys

    for w in pred.warnings:
        (stream or sys.stderr).write(f"statedict-lint: warning: {w}\n")


def split_target(target: str) -> tuple:
    """``path/to/model.py:ClassName`` -> (path, class name)."""
    path, sep, cls = target.rpartition(":")
    if not sep or not path or not cls:
        raise UserError(f"target {target!r} must be FILE.py:ClassName")
    if not re.match(r"^[A-Za-z_][A-Za-z0-9_]*$", cls):
        raise UserError(f"target {target!r}: {cls!r} is not a class name")
    return path, cls
