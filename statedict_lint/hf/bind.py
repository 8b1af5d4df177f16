"""config.json bound the way ``from_pretrained`` binds it: the model class's configuration class called with
the JSON object as keyword arguments (``BertConfig(**config)``), so the class's defaults, ``attribute_map``
aliases, sub-configs and ``num_labels``/``id2label`` apply.

The configuration class is the class attribute ``config_class`` or, as transformers 5's
``PreTrainedModel.__init_subclass__`` derives it, the annotation of ``config`` in the class body (first in
the MRO). The binding is a ``CallRef`` (``BertConfig(**{...})``) evaluated statically in the model's file.
"""

from __future__ import annotations

import math
import os
from typing import Any, Dict, Optional, Set, Tuple

from statedict_lint.predict.bindings import CallRef
from statedict_lint.errors import UserError


def _literal(value: Any, where: str) -> Any:
    """JSON -> a value whose repr is a Python literal (non-finite floats have none)."""
    if isinstance(value, float) and not math.isfinite(value):
        raise UserError(f"{where}: a non-finite number ({value}) cannot be bound")
    if isinstance(value, dict):
        return {str(k): _literal(v, where) for k, v in value.items()}
    if isinstance(value, list):
        return [_literal(v, where) for v in value]
    return value


MAX_SOURCE_BYTES = 8 * 1024 * 1024  # a modeling file is < 1 MB; larger is not one, and the loader bounds it


def _read_regular(path: str) -> Optional[str]:
    """The text of a regular file of sane size, else None (a FIFO or /dev/zero must never block or fill memory;
    the source loader reports such files itself)."""
    try:
        if not os.path.isfile(path) or os.path.getsize(path) > MAX_SOURCE_BYTES:
            return None
        with open(path, encoding="utf-8", errors="replace") as fh:
            return fh.read(MAX_SOURCE_BYTES)
    except OSError:
        return None


def mentions(text: str, *words: str) -> bool:
    """May ``text`` name one of ``words``? A text filter before a parse: true when a word occurs, or when the
    text is not ASCII (Python reads identifiers in NFKC form: ``ＰreTrainedModel`` names PreTrainedModel)."""
    return not text.isascii() or any(w in text for w in words)


def quick_config_class(path: str, cls_name: str) -> Optional[Tuple[str, str]]:
    """(config class name, config parameter) read with ``ast`` from ``path`` alone, when ``cls_name`` is, by its
    bases defined in that file, a subclass of a ``PreTrainedModel`` imported from transformers' ``modeling_utils``
    and names its config class there; None when that file alone cannot say (the evaluator decides then). Cheap:
    a warm ``keys DIR`` needs no libcst."""
    import ast

    text = _read_regular(path)
    if text is None or not mentions(text, "PreTrainedModel"):
        return None  # no import of PreTrainedModel below: no parse needed to say so
    try:
        tree = ast.parse(text, path)
    except (OSError, SyntaxError, ValueError, UnicodeDecodeError, RecursionError):
        return None
    pretrained: Set[str] = set()
    # transformers' GenerationMixin: holds no config, no __init__ (the runtime model answers it)
    mixins: Set[str] = set()
    for node in tree.body:
        if isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[-1] == "modeling_utils":
            for a in node.names:
                if a.name == "PreTrainedModel":
                    pretrained.add(a.asname or a.name)
        if isinstance(node, ast.ImportFrom) and node.level > 0 and \
                (node.module or "") in ("generation", "generation.utils"):
            mixins.update(a.asname or a.name for a in node.names if a.name == "GenerationMixin")
    classes = {n.name: n for n in tree.body if isinstance(n, ast.ClassDef)}
    config: Optional[str] = None
    param = "config"
    seen = set()
    todo = [cls_name]
    is_model = False
    first = True
    while todo:
        name = todo.pop(0)
        if name in seen:
            continue
        seen.add(name)
        cls = classes.get(name)
        if cls is None:
            return None  # a base from another file: the evaluator decides
        for stmt in cls.body:
            if config is None and isinstance(stmt, ast.AnnAssign) and isinstance(stmt.target, ast.Name) \
                    and stmt.target.id == "config" and isinstance(stmt.annotation, ast.Name):
                config = stmt.annotation.id
            if config is None and isinstance(stmt, ast.Assign) and any(
                    isinstance(t, ast.Name) and t.id == "config_class" for t in stmt.targets) \
                    and isinstance(stmt.value, ast.Name):
                config = stmt.value.id
            if first and isinstance(stmt, ast.FunctionDef) and stmt.name == "__init__":
                ps = stmt.args.posonlyargs + stmt.args.args
                if len(ps) > 1:
                    param = ps[1].arg
        first = False
        for b in cls.bases:
            if isinstance(b, ast.Name) and b.id in mixins:
                continue
            if isinstance(b, ast.Name):
                if b.id in pretrained:
                    is_model = True
                else:
                    todo.append(b.id)
            else:
                return None
    if not is_model or config is None:
        return None
    # the name must come from a file the evaluator reads (a class here or a relative import of a configuration
    # module); `from transformers import XConfig` goes through transformers' lazy __init__, which it cannot read
    local = config in classes or any(
        isinstance(n, ast.ImportFrom) and n.level > 0 and any((a.asname or a.name) == config for a in n.names)
        for n in tree.body)
    return (config, param) if local else None


def config_class_value(ev: Any, cls: Any) -> Any:
    """The configuration class of model class ``cls`` (a ClassValue): its ``config_class`` attribute or, as
    transformers 5's ``PreTrainedModel.__init_subclass__`` derives it, the annotation of ``config`` in the class
    body, first in the MRO. None when neither names a class."""
    from statedict_lint.predict.evaluator import Frame
    from statedict_lint.predict.signals import EvalRaise, GiveUp
    from statedict_lint.predict.values import ClassValue

    for c in cls.mro():
        v = c.attrs.get("config_class")
        if isinstance(v, ClassValue):
            return v
        ann = next((a for n, _d, a in c.fields if n == "config"), None)
        if ann is not None and c.scope is not None:
            frame = Frame(c.scope, None)
            frame.locals = c.scope.values
            try:
                v = ev.eval(frame, ann, c.sf or c.scope.sf)
            except (EvalRaise, GiveUp):
                v = None
            if isinstance(v, ClassValue):
                return v
    return None


def _unreadable_config(ev: Any, cls: Any) -> Optional[str]:
    """The annotation text of ``config`` when it names a class the evaluator cannot read (for the note)."""
    for c in cls.mro():
        ann = next((a for n, _d, a in c.fields if n == "config"), None)
        if ann is not None and c.sf is not None:
            return c.sf.code(ann).strip()
    return None


def config_class(path: str, cls_name: str) -> Tuple[Optional[str], Optional[str], str]:
    """(name of the config class as visible in ``path``'s module, its qualified name, config parameter name),
    or (None, None, param) when it cannot be found."""
    import libcst as cst

    from statedict_lint.predict.api import _load
    from statedict_lint.predict.values import ClassValue, FunctionValue

    ev, scope = _load(path)
    found, cls = scope.lookup(cls_name)
    if not found or not isinstance(cls, ClassValue):
        return None, None, "config"
    param = "config"
    init, _ = cls.find("__init__")
    if isinstance(init, FunctionValue) and isinstance(init.node, cst.FunctionDef):
        ps = list(init.node.params.posonly_params) + list(init.node.params.params)
        if len(ps) > 1:
            param = ps[1].name.value
    target = config_class_value(ev, cls)
    if target is None:
        why = _unreadable_config(ev, cls)
        return None, why, param
    ok, v = scope.lookup(target.name)  # (looking names up forces their imports: only the class's own name)
    if ok and v is target:
        return target.name, target.qualname, param
    return None, target.qualname, param


def config_bindings(path: str, cls_name: str, config: Dict[str, Any], where: str) -> Tuple[Dict[str, Any], str]:
    """Bindings that build the model's config from ``config`` as from_pretrained does, and a note saying how."""
    quick = quick_config_class(path, cls_name)
    name: Optional[str]
    qual: Optional[str]
    if quick is not None:
        name, qual, param = quick[0], quick[0], quick[1]
    else:
        name, qual, param = config_class(path, cls_name)
    data = _literal(config, where)
    if name is None:
        why = f"its configuration class {qual} is not visible in {os.path.basename(path)}" if qual else \
            "its configuration class cannot be found"
        # the plain way: every key an attribute of the config (no defaults, no aliases)
        return {f"{param}.{k}": v for k, v in data.items() if isinstance(k, str) and k.isidentifier()}, \
            f"{where} bound key by key ({why})"
    return {param: CallRef(f"{name}(**{data!r})")}, f"{param} = {name}(**{os.path.basename(where)})"

