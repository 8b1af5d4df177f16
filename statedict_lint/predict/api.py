"""Entry points of the predictor: ``predict`` and ``module_classes``."""

from __future__ import annotations

import os
import sys
from typing import Any, Callable, Dict, List, Mapping, Optional, Tuple

import libcst as cst

from statedict_lint.predict.bindings import CallRef, NameRef
from statedict_lint.errors import UserError
from statedict_lint.findings import display_path
from statedict_lint.predict.catalog import CATALOG_PATH
from statedict_lint.predict.engine.common import _dotted
from statedict_lint.predict.engine.scopes import Frame, ModuleScope
from statedict_lint.predict.evaluator import Evaluator
from statedict_lint.predict.signals import EvalRaise, GiveUp
from statedict_lint.predict.render import render
from statedict_lint.predict.session import Session
from statedict_lint.predict.template import Prediction, Unresolved
from statedict_lint.predict.values import ClassValue, FunctionValue, ModuleValue, Opaque, Unknown
from statedict_lint.source.loader import package_root

_INT_ANN = {"int"}
_SEQ_ANN = {"list", "List", "tuple", "Tuple", "Sequence", "MutableSequence"}
_VALUE_ANN = {"float", "bool", "str", "bytes", "complex", "dict", "Dict", "list", "List", "tuple", "Tuple",
              "Sequence", "Literal", "dtype", "torch.dtype", "device", "torch.device", "Enum", "Mapping"}
_MODULE_ANN = {"Module", "nn.Module", "torch.nn.Module", "Callable", "Type", "Any", "Tensor", "torch.Tensor",
               "Parameter", "nn.Parameter"}


def _ann_kind(ann: Optional[cst.Annotation]) -> str:
    if ann is None:
        return ""
    node = ann.annotation
    names: List[str] = []
    stack = [node]
    while stack:
        n = stack.pop()
        if isinstance(n, (cst.Name, cst.Attribute)):
            names.append(_dotted(n))
        elif isinstance(n, cst.Subscript):
            names.append(_dotted(n.value))
            if names[-1].split(".")[-1] in _SEQ_ANN:
                continue  # List[int] is a list: what it holds does not make it an int
            for el in n.slice:
                if isinstance(el.slice, cst.Index):
                    stack.append(el.slice.value)
        elif isinstance(n, cst.BinaryOperation):  # int | None
            stack.extend([n.left, n.right])
        elif isinstance(n, cst.SimpleString):
            names.append(n.evaluated_value if isinstance(n.evaluated_value, str) else "")
    names = [x for x in names if x not in ("Optional", "typing.Optional", "None", "Union", "typing.Union")]
    if not names:
        return ""
    if any(x.split(".")[-1] in {m.split(".")[-1] for m in _MODULE_ANN} for x in names):
        return ""
    if all(x in _INT_ANN for x in names):
        return "int"
    if all(x.split(".")[-1] in _SEQ_ANN for x in names):
        return "seq"  # `layers: List[int]`: never an int, whatever it holds
    if all(x in _INT_ANN or x.split(".")[-1] in _VALUE_ANN for x in names):
        return "value"
    if all(x.endswith("Config") or x.endswith("Args") or x.endswith("Params") or x.endswith("Options") for x in names):
        return "value"
    return ""


def _evaluator(path: str, session: Optional[Session] = None) -> Evaluator:
    roots = [package_root(path), os.path.dirname(os.path.abspath(path)), os.getcwd()]
    return Evaluator(roots, CATALOG_PATH, session=session)


def _load(path: str, session: Optional[Session] = None) -> Tuple[Evaluator, ModuleScope]:
    if not os.path.exists(path):
        raise UserError(f"no such file: {path}")
    ev = _evaluator(path, session)
    scope = ev.load_path(path)
    return ev, scope


def _classes_in(scope: ModuleScope) -> List[Tuple[str, ClassValue]]:
    out = []
    for name in list(scope.values):
        found, v = scope.lookup(name) if not isinstance(scope.values.get(name), ClassValue) else (True, scope.values[name])
        if isinstance(v, ClassValue) and v.scope is scope and v.node is not None:
            out.append((name, v))
    return out


def module_classes(path: str) -> List[Tuple[str, int]]:
    """The nn.Module subclasses defined at the top level of a file, with their lines (every top-level name is
    evaluated: import-time code nests as deeply as a prediction does, so it runs on the same deep stack)."""
    return _on_deep_stack(lambda: _module_classes_here(path), f"listing the classes of {path}")


def _module_classes_here(path: str) -> List[Tuple[str, int]]:
    ev, scope = _load(path)
    out = []
    for name, cls in _classes_in(scope):
        if cls.node is not None and (cls.is_module() or cls.has_unknown_base() is not None
                                     and _looks_like_module(cls)):
            out.append((name, scope.sf.line(cls.node)))
    out.sort(key=lambda x: x[1])
    return out


def _looks_like_module(cls: ClassValue) -> bool:
    init, _ = cls.find("__init__")
    if not isinstance(init, FunctionValue):
        return False
    return "super().__init__" in init.sf.code(init.node)


def resolve_nameref(ev: Evaluator, scope: ModuleScope, ref: NameRef) -> Any:
    parts = ref.name.split(".")
    found, v = scope.lookup(parts[0])
    if not found:
        if parts[0] in ev.builtins:
            v = ev.builtins[parts[0]]
        else:
            raise UserError(f"--set: name `{ref.name}` is not defined in {scope.sf.path}")
    owner = None
    for p in parts[1:]:
        owner = v
        try:
            v = ev.getattr(v, p)
        except EvalRaise as exc:
            raise UserError(f"--set: cannot resolve `{ref.name}`: {exc.message}") from None
    if isinstance(v, Unknown):
        if isinstance(owner, ClassValue) and owner.node is not None and p in owner.attrs:
            # an attribute the class body defines but the evaluator does not model (an enum member built by a
            # custom __new__): the name exists, its value is unknown -- bound as such, never refused
            sf = owner.sf or (owner.scope.sf if owner.scope is not None else None)
            if sf is not None:
                return Unknown(f"--set {ref.name}: {v.reason} is not modelled", sf.line(owner.node), sf.path, False)
        raise UserError(f"--set: cannot resolve `{ref.name}`: {v.reason}")
    return v


def resolve_callref(ev: Evaluator, scope: ModuleScope, ref: CallRef) -> Any:
    try:
        node = cst.parse_expression(ref.text)
    except cst.ParserSyntaxError:
        raise UserError(f"--set: cannot parse `{ref.text}`") from None
    from statedict_lint.source.loader import SourceFile

    sf = SourceFile(scope.sf.path, ref.text, cst.parse_module(ref.text), {})
    frame = Frame(scope, None)
    frame.locals = scope.values
    try:
        v = ev.eval(frame, node, sf)
    except (EvalRaise, GiveUp) as exc:
        raise UserError(f"--set: `{ref.text}` fails: {exc}") from None
    if isinstance(v, Unknown):
        raise UserError(f"--set: `{ref.text}` cannot be evaluated: {v.reason}")
    return v


def _convert(ev: Evaluator, scope: ModuleScope, value: Any) -> Any:
    if isinstance(value, NameRef):
        return resolve_nameref(ev, scope, value)
    if isinstance(value, CallRef):
        return resolve_callref(ev, scope, value)
    if isinstance(value, list):
        return [_convert(ev, scope, v) for v in value]
    if isinstance(value, tuple):
        return tuple(_convert(ev, scope, v) for v in value)
    if isinstance(value, dict):
        return {k: _convert(ev, scope, v) for k, v in value.items()}
    return value


def predict(path: str, class_name: str, bindings: Optional[Mapping[str, Any]] = None,
            session: Optional[Session] = None) -> Prediction:
    """Predict the state_dict of ``class_name`` (defined in or imported into ``path``). ``session``: the bounded
    caches to share with other predictions (default: the process's, ``session.default_session()``)."""
    return _predict(path, class_name, dict(bindings or {}), session)[0]


def predict_cached(path: str, class_name: str, bindings: Optional[Mapping[str, Any]] = None) -> Prediction:
    """``predict`` through the on-disk cache (``statedict_lint.predict.cache``)."""
    from statedict_lint.predict import cache

    b = dict(bindings or {})
    hit = cache.lookup(path, class_name, b)
    if hit is not None:
        return hit
    from statedict_lint.source.locate import recording

    with recording() as log:  # the bytes the evaluator parsed and the lookups it made, as it made them
        pred, _ev = _predict(path, class_name, b)
    cache.store(path, class_name, b, pred, log)
    return pred


def _predict(path: str, class_name: str, bindings: Dict[str, Any],
             session: Optional[Session] = None) -> Tuple[Prediction, Evaluator]:
    """Evaluate on a thread with a deep stack: real code (transformers' PreTrainedModel, timm's builders)
    nests calls far deeper than Python's default recursion limit allows the evaluator to follow."""
    return _on_deep_stack(lambda: _predict_here(path, class_name, bindings, session=session),
                          f"predicting {class_name} in {path}")


def _on_deep_stack(work: Callable[[], Any], what: str) -> Any:
    """``work()`` on a thread with a deep stack and a high recursion limit; an internal error is one UserError."""
    import threading

    box: Dict[str, Any] = {}

    def run() -> None:
        try:
            box["result"] = work()
        except BaseException as exc:  # noqa: BLE001 - re-raised on the calling thread
            box["error"] = exc

    old_limit, old_size = sys.getrecursionlimit(), threading.stack_size()
    try:
        threading.stack_size(DEEP_STACK_BYTES)
        sys.setrecursionlimit(max(old_limit, DEEP_RECURSION))
        worker = threading.Thread(target=run, name="statedict-lint-predict")
        worker.start()
        worker.join()
    finally:
        threading.stack_size(old_size)
        sys.setrecursionlimit(old_limit)
    if "error" in box:
        exc = box["error"]
        if isinstance(exc, Exception) and not isinstance(exc, (UserError, RecursionError, MemoryError)):
            # a bug of the evaluator, never the user's: one line (callers such as bench/realcode.py and the CLI
            # handle UserError), not a traceback
            raise UserError(f"internal error of statedict-lint while {what}: "
                            f"{type(exc).__name__}: {exc} (please report it)") from None
        raise exc
    return box["result"]


DEEP_STACK_BYTES = 512 * 1024 * 1024  # address space reserved, not memory used
DEEP_RECURSION = 30000


class _ReadLog(dict):
    """The ``bound`` attributes of a ``config`` parameter given with ``--set config.x=...``, recording every
    attribute name the evaluation asks for (``Evaluator._opaque_attr`` tests ``name in bound`` on each read,
    bound or not): what the class reads, to report bindings it never reads (typos)."""

    def __init__(self, data: Dict[str, Any]) -> None:
        super().__init__(data)
        self.read: set = set()

    def __contains__(self, name: object) -> bool:
        self.read.add(name)
        return super().__contains__(name)


def _suggest(name: str, candidates: Any, owner: str = "") -> str:
    import difflib

    close = difflib.get_close_matches(name, sorted(candidates), n=1, cutoff=0.7)
    return f"; did you mean `{owner}{close[0]}`?" if close else ""


def unread_warnings(class_name: str, logs: Dict[str, "_ReadLog"], extra_kwargs: List[str],
                    param_names: List[str]) -> List[str]:
    """One line per binding the class never reads, with a "did you mean" naming what it does read."""
    out: List[str] = []
    for head, log in logs.items():
        if any(str(r).startswith("__") for r in log.read):
            continue  # `config.__dict__` and the like: attributes may be read by name at run time
        reads = sorted(str(r) for r in log.read)
        known = f" (it reads {', '.join(f'{head}.{r}' for r in reads[:12])}{' ...' if len(reads) > 12 else ''})" \
            if reads else f" (it reads no attribute of `{head}`)"
        plain = []
        for attr in log:
            if attr in log.read:
                continue
            hint = _suggest(attr, reads, head + ".")
            if hint:  # a likely typo: its own line
                out.append(f"{class_name} never reads `{head}.{attr}`{hint}{known}")
            else:
                plain.append(f"`{head}.{attr}`")
        if len(plain) == 1:
            out.append(f"{class_name} never reads {plain[0]}{known}")
        elif plain:  # (a config.json holds many fields a class ignores: one line for them)
            out.append(f"{class_name} never reads {len(plain)} of the bindings: {', '.join(plain)}{known}")
    for name in extra_kwargs:
        hint = _suggest(name, param_names)
        if hint:
            out.append(f"`{name}` is not a parameter of {class_name}.__init__ (it goes to **kwargs){hint}")
    return out


_NO_PRESET = object()


def _predict_here(path: str, class_name: str, bindings: Dict[str, Any], preset_dtype: Any = _NO_PRESET,
                  session: Optional[Session] = None) -> Tuple[Prediction, Evaluator]:
    pred, ev = _predict_once(path, class_name, bindings, preset_dtype, session)
    if ev.late_default_dtype is not None and preset_dtype is _NO_PRESET:
        # an import the evaluation reached only during construction called torch.set_default_dtype; Python ran
        # it at import, before construction: predict again with that default from the start
        return _predict_once(path, class_name, bindings, ev.late_default_dtype[0], session)
    return pred, ev


def _predict_once(path: str, class_name: str, bindings: Dict[str, Any], preset_dtype: Any = _NO_PRESET,
                  session: Optional[Session] = None) -> Tuple[Prediction, Evaluator]:
    ev, scope = _load(path, session)
    found, cls = scope.lookup(class_name)
    if not found or not isinstance(cls, ClassValue):
        names = [n for n, c in _classes_in(scope) if c.is_module()]
        hint = f" (nn.Module classes here: {', '.join(names)})" if names else " (no nn.Module classes found)"
        if found and isinstance(cls, Unknown):
            raise UserError(f"class `{class_name}` in {path} cannot be read: {cls.reason}")
        raise UserError(f"no class `{class_name}` in {path}{hint}")
    unknown_base = cls.has_unknown_base()
    if not cls.is_module() and unknown_base is None:
        raise UserError(f"`{class_name}` in {path} is not a torch.nn.Module subclass")
    init, _owner = cls.find("__init__")
    params: List[cst.Param] = []
    if isinstance(init, FunctionValue) and isinstance(init.node, cst.FunctionDef):
        p = init.node.params
        params = (list(p.posonly_params) + list(p.params))[1:] + list(p.kwonly_params)
    param_names = {x.name.value for x in params}
    kwargs: Dict[str, Any] = {}
    attr_bindings: Dict[str, Dict[str, Any]] = {}
    extra_kwargs: List[str] = []
    for name, value in bindings.items():
        head, _, attr = name.partition(".")
        if attr:
            if head in param_names:
                attr_bindings.setdefault(head, {})[attr] = _convert(ev, scope, value)
            else:
                found_g, g = scope.lookup(head)
                if not found_g:
                    raise UserError(f"--set {name}: `{head}` is neither a parameter of {class_name}.__init__ nor a "
                                    f"global of {path}{_suggest(head, param_names)}")
                ev.setattr(g, attr, _convert(ev, scope, value))
        elif head in param_names:
            kwargs[head] = _convert(ev, scope, value)
        else:
            found_g, _ = scope.lookup(head)
            has_var_kw = isinstance(init, FunctionValue) and isinstance(init.node, cst.FunctionDef) and \
                init.node.params.star_kwarg is not None
            if not found_g and has_var_kw:
                kwargs[head] = _convert(ev, scope, value)
                extra_kwargs.append(head)
            elif not found_g:
                raise UserError(f"--set {name}: `{head}` is neither a parameter of {class_name}.__init__ nor a "
                                f"global of {path}{_suggest(head, param_names)}")
            else:
                scope.values[head] = _convert(ev, scope, value)
    line0 = scope.sf.line(cls.node) if cls.node is not None else 0
    logs: Dict[str, _ReadLog] = {}
    for prm in params:
        name = prm.name.value
        if name in kwargs:
            continue
        if name in attr_bindings:
            logs[name] = _ReadLog(attr_bindings[name])
            kwargs[name] = Opaque(name, "value", line0, path, bound=logs[name])
        elif prm.default is None:
            kwargs[name] = Opaque(name, _ann_kind(prm.annotation), line0, path)
    target = f"{path}:{class_name}"
    ev.line, ev.path = line0, os.path.abspath(path)
    if preset_dtype is not _NO_PRESET:
        ev.default_dtype = preset_dtype
    ev.constructing = True
    try:
        obj = ev.instantiate(cls, [], kwargs)
    except EvalRaise as exc:
        open_params = [n for n, v in kwargs.items() if isinstance(v, Opaque)]
        if open_params or ev.lost_writes or ev.notes or ev.gaps:
            # the raise may come from a value we had to leave open (timm's EfficientNet(block_args), MaxxVit(cfg))
            # or from something the evaluation could not follow before it (vit-pytorch's `dict(locals())`):
            # claiming "construction fails" would be a guess; say what stops and why it is not certain
            if open_params:
                why = f"with {', '.join(open_params)} left unbound (bind them with --set to decide)"
            else:
                ln, at = (ev.lost_writes[0] if ev.lost_writes else ev.notes[0][:2] if ev.notes else ev.gaps[0][:2])
                why = f"after code the evaluation could not follow ({display_path(at)}:{ln})"
            return _nothing_known(target, exc.line or line0, f"construction stops here {why}: {exc.message}",
                                  exc.path or os.path.abspath(path)), ev
        where = f" ({display_path(exc.path) if exc.path else path}:{exc.line})" if exc.line else ""
        raise UserError(f"constructing {class_name} fails{where}: {exc.message}") from None
    except GiveUp as exc:
        return _nothing_known(target, ev.line, f"evaluation stopped: {exc.reason}", ev.path), ev
    except RecursionError:
        raise UserError(f"constructing {class_name}: the code nests too deeply to evaluate") from None
    if isinstance(obj, Unknown):
        pred = _nothing_known(target, obj.line, obj.reason, obj.path)
        pred.unresolved.extend(Unresolved(ln, msg, p) for ln, p, msg in ev.notes if msg != obj.reason)
        return pred, ev
    assert isinstance(obj, ModuleValue)
    pred = render(obj, target, os.path.abspath(path), ev.notes, ev.switch_conditions)
    pred.bindings = dict(bindings)
    if not [u for u in pred.unresolved if not u.message.startswith("some keys exist only if ")]:
        # (with code the evaluation could not follow, an attribute may be read there: say nothing)
        pred.warnings = unread_warnings(class_name, logs, extra_kwargs, sorted(param_names))
    return pred, ev


def _nothing_known(target: str, line: int, message: str, path: str) -> Prediction:
    """A prediction that lists no key, only why (an incomplete result, never a claim)."""
    pred = Prediction(target)
    pred.unresolved.append(Unresolved(line, message, path))
    return pred
