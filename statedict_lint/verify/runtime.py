"""The torch side: import a user's model file and build a class for real, with the same bindings as `keys`.

Used by ``statedict-lint verify`` and by the test-suite to judge every prediction against torch. torch
(and the user's code) are imported only inside the functions here, never at module level, so importing
this module stays cheap and safe for the static commands.

Bindings mean the same as for ``keys`` (see ``statedict_lint.predict.bindings``):

* ``n=2`` binds constructor parameter ``n``; when ``__init__`` has no such parameter, the module global
  ``n`` is set before construction (scripts size layers from argparse-style globals); a name that is
  neither, with ``**kwargs`` in the signature, is passed as a keyword.
* ``config.x=v`` binds attribute ``x`` of parameter ``config``: when the parameter's annotation or default
  is a class (a dataclass or a plain config class) it is instantiated with those keywords (its own
  defaults apply to the rest); otherwise a ``types.SimpleNamespace`` carries them. When ``config`` is a
  module global instead of a parameter, the attribute is set on that global object.
* ``NameRef`` values (``block=BasicBlock``, ``norm=nn.LayerNorm``) are resolved by ``getattr`` on the
  imported module (dotted); ``CallRef`` values (``config=GPTConfig(n_layer=2)``) are evaluated in it.

The model is built under ``torch.device("meta")``; when that raises (code calling ``.item()``, numpy,
...) it is built again on the CPU. The result is the state_dict as an ordered table.
"""

from __future__ import annotations

import copy
import dataclasses
import importlib
import importlib.util
import inspect
import os
import sys
import types
import uuid
from dataclasses import dataclass, field
from typing import Any, Dict, List, Mapping, Optional, Tuple

from statedict_lint.predict.bindings import CallRef, NameRef
from statedict_lint.errors import UserError
from statedict_lint.source.locate import unlogged_package_root

TORCH_MISSING = "verify needs torch, which is not installed: pip install 'statedict-lint[torch]'"


@dataclass
class Entry:
    """One state_dict entry as torch has it."""

    key: str
    shape: Optional[Tuple[int, ...]]  # None for _extra_state (an arbitrary object)
    dtype: Optional[str]  # "float32", "int64", ... (no "torch." prefix); None for _extra_state
    kind: str  # "parameter" | "buffer" | "extra_state"
    tied_to: Optional[str] = None  # first earlier key holding the very same tensor


@dataclass
class TorchTable:
    target: str
    entries: List[Entry] = field(default_factory=list)
    non_persistent: List[Entry] = field(default_factory=list)  # buffers registered with persistent=False
    device: str = "meta"  # "meta" or "cpu" (meta construction raised)
    meta_error: Optional[str] = None  # why meta construction failed, when it did

    def keys(self) -> List[str]:
        return [e.key for e in self.entries]

    def by_key(self) -> Dict[str, Entry]:
        return {e.key: e for e in self.entries}

    def to_json(self) -> Dict[str, Any]:
        def one(e: Entry) -> Dict[str, Any]:
            d: Dict[str, Any] = {"shape": None if e.shape is None else list(e.shape), "dtype": e.dtype,
                                 "kind": e.kind}
            if e.tied_to:
                d["tied_to"] = e.tied_to
            return d

        return {"target": self.target, "device": self.device, "keys": {e.key: one(e) for e in self.entries},
                "non_persistent": {e.key: one(e) for e in self.non_persistent}}


def import_torch() -> Any:
    try:
        import torch
    except ImportError:
        raise UserError(TORCH_MISSING) from None
    return torch


def _one_line(exc: BaseException) -> str:
    text = f"{type(exc).__name__}: {exc}".strip()
    return " ".join(text.split())[:300]


def load_user_module(path: str) -> types.ModuleType:
    """Import ``path`` the way its project would: inside its package (so relative imports work), with
    the folder above the outermost package and the file's own folder on ``sys.path``."""
    if not os.path.isfile(path):
        raise UserError(f"no such file: {path}")
    import_torch()  # a clear message rather than the user's ImportError when torch is absent
    apath = os.path.abspath(path)
    root = unlogged_package_root(apath)
    folder = os.path.dirname(apath)
    for d in (folder, root):
        if d not in sys.path:
            sys.path.insert(0, d)
    try:
        if root != folder:  # the file lives in a package: import it by its dotted name
            rel = os.path.relpath(apath, root)[:-3].split(os.sep)
            if rel[-1] == "__init__":
                rel = rel[:-1]
            name = ".".join(rel)
            top = rel[0]
            # a fresh import every time: globals set by --set must not leak into the next build, and
            # another package of the same name may have been imported before
            if top not in ("torch", "statedict_lint", "numpy", "typing_extensions"):
                for k in [k for k in sys.modules if k == top or k.startswith(top + ".")]:
                    del sys.modules[k]
            importlib.invalidate_caches()
            return importlib.import_module(name)
        name = f"_sdl_user_{os.path.splitext(os.path.basename(apath))[0]}_{uuid.uuid4().hex[:8]}"
        spec = importlib.util.spec_from_file_location(name, apath)
        if spec is None or spec.loader is None:
            raise UserError(f"cannot import {path}")
        mod = importlib.util.module_from_spec(spec)
        sys.modules[name] = mod
        spec.loader.exec_module(mod)
        return mod
    except UserError:
        raise
    except SyntaxError as exc:
        raise UserError(f"{path}:{exc.lineno}: syntax error: {exc.msg}") from None
    except BaseException as exc:  # the user's module-level code: report it, never a traceback
        if isinstance(exc, KeyboardInterrupt):
            raise
        raise UserError(f"importing {path} fails: {_one_line(exc)}") from None


def _resolve_name(mod: types.ModuleType, dotted: str) -> Any:
    parts = dotted.split(".")
    if hasattr(mod, parts[0]):
        obj = getattr(mod, parts[0])
    else:
        import builtins

        if not hasattr(builtins, parts[0]):
            raise UserError(f"--set: name `{dotted}` is not defined in {mod.__file__}")
        obj = getattr(builtins, parts[0])
    for p in parts[1:]:
        try:
            obj = getattr(obj, p)
        except AttributeError:
            raise UserError(f"--set: cannot resolve `{dotted}`: no attribute `{p}`") from None
    return obj


def convert(mod: types.ModuleType, value: Any) -> Any:
    """Turn NameRef/CallRef (recursively inside lists, tuples and dicts) into real objects of ``mod``."""
    if isinstance(value, NameRef):
        return _resolve_name(mod, value.name)
    if isinstance(value, CallRef):
        try:
            return eval(compile(value.text, "<--set>", "eval"), dict(vars(mod)))  # noqa: S307 - user's own text
        except Exception as exc:
            raise UserError(f"--set: `{value.text}` fails: {_one_line(exc)}") from None
    if isinstance(value, list):
        return [convert(mod, v) for v in value]
    if isinstance(value, tuple):
        return tuple(convert(mod, v) for v in value)
    if isinstance(value, dict):
        return {k: convert(mod, v) for k, v in value.items()}
    return value


def _annotation_class(mod: types.ModuleType, param: inspect.Parameter) -> Optional[type]:
    ann = param.annotation
    if ann is inspect.Parameter.empty:
        return None
    if isinstance(ann, str):  # `from __future__ import annotations`
        try:
            ann = eval(ann, dict(vars(mod)))  # noqa: S307 - an annotation of the user's own code
        except Exception:
            return None
    origin = getattr(ann, "__origin__", None)
    if origin is not None:  # Optional[Cfg] / Union[Cfg, None]
        args = [a for a in getattr(ann, "__args__", ()) if a is not type(None)]
        ann = args[0] if len(args) == 1 else None
    if isinstance(ann, type) and ann.__module__ not in ("builtins", "typing"):
        return ann
    return None


def _build_config(mod: types.ModuleType, param: Optional[inspect.Parameter], attrs: Dict[str, Any]) -> Any:
    """The object for ``--set config.x=v`` items."""
    cls: Optional[type] = None
    obj: Any  # (an object of the user's config class)
    default = inspect.Parameter.empty if param is None else param.default
    if param is not None:
        cls = _annotation_class(mod, param)
    if default is not inspect.Parameter.empty and default is not None:
        if isinstance(default, type):
            cls = cls or default
        elif dataclasses.is_dataclass(default) and not isinstance(default, type):
            try:
                return dataclasses.replace(default, **attrs)
            except (TypeError, ValueError):
                obj = copy.deepcopy(default)
                for k, v in attrs.items():
                    setattr(obj, k, v)
                return obj
        elif isinstance(default, dict):
            return {**default, **attrs}
        elif not isinstance(default, (int, float, str, bool, list, tuple)):
            obj = copy.deepcopy(default)
            for k, v in attrs.items():
                setattr(obj, k, v)
            return obj
    if cls is not None and not issubclass(cls, (int, float, str, bool, list, tuple, dict)):
        try:
            return cls(**attrs)
        except TypeError:
            try:
                obj = cls()
            except Exception:
                obj = None
            if obj is not None:
                for k, v in attrs.items():
                    setattr(obj, k, v)
                return obj
        except Exception as exc:
            raise UserError(f"--set: building {cls.__name__}({', '.join(attrs)}) fails: {_one_line(exc)}") from None
    return types.SimpleNamespace(**attrs)


def _signature(cls: type) -> Optional[inspect.Signature]:
    try:
        # (mypy: __init__ read off a class object may be a subclass's; the class's own is the one meant here)
        return inspect.signature(cls.__init__)  # type: ignore[misc]
    except (TypeError, ValueError):
        return None


def arguments(mod: types.ModuleType, cls: type, bindings: Mapping[str, Any]) -> Dict[str, Any]:
    """Constructor keywords for ``cls`` from the bindings; module globals are set on ``mod`` as a side effect."""
    sig = _signature(cls)
    params: Dict[str, inspect.Parameter] = {}
    var_kw = False
    if sig is not None:
        for i, (name, p) in enumerate(sig.parameters.items()):
            if i == 0 and name == "self":
                continue
            if p.kind == p.VAR_KEYWORD:
                var_kw = True
            elif p.kind != p.VAR_POSITIONAL:
                params[name] = p
    kwargs: Dict[str, Any] = {}
    attr_bindings: Dict[str, Dict[str, Any]] = {}
    for name, raw in bindings.items():
        head, _, attr = name.partition(".")
        value = convert(mod, raw)
        if attr:
            if head in params:
                attr_bindings.setdefault(head, {})[attr] = value
            elif hasattr(mod, head):
                target = getattr(mod, head)
                try:
                    setattr(target, attr, value)
                except Exception as exc:
                    raise UserError(f"--set {name}: cannot set `{attr}` on global `{head}`: {_one_line(exc)}") from None
            else:
                raise UserError(f"--set {name}: `{head}` is neither a parameter of {cls.__name__}.__init__ nor a "
                                f"global of {mod.__file__}")
        elif head in params:
            kwargs[head] = value
        elif hasattr(mod, head):
            setattr(mod, head, value)
        elif var_kw:
            kwargs[head] = value
        else:
            raise UserError(f"--set {name}: `{head}` is neither a parameter of {cls.__name__}.__init__ nor a "
                            f"global of {mod.__file__}")
    for head, attrs in attr_bindings.items():
        kwargs[head] = _build_config(mod, params.get(head), attrs)
    return kwargs


def table_of(model: Any, target: str = "") -> TorchTable:
    """The state_dict of a built module as an ordered table (keys, shapes, dtypes, kinds, ties)."""
    torch = import_torch()
    sd = model.state_dict(keep_vars=True)
    params = {id(p) for _, p in model.named_parameters(remove_duplicate=False)}
    table = TorchTable(target)
    first: Dict[int, str] = {}
    for k, v in sd.items():
        if k.rpartition(".")[2] == "_extra_state":
            owner = model.get_submodule(k.rpartition(".")[0]) if "." in k else model
            if type(owner).get_extra_state is not torch.nn.Module.get_extra_state or not isinstance(v, torch.Tensor):
                table.entries.append(Entry(k, None, None, "extra_state"))  # an arbitrary object
                continue
        kind = "parameter" if isinstance(v, torch.nn.Parameter) or id(v) in params else "buffer"
        tied = first.get(id(v))
        if tied is None:
            first[id(v)] = k
        lazy = isinstance(v, torch.nn.parameter.UninitializedTensorMixin)  # Lazy* layers before their first call
        shape = None if lazy else tuple(int(d) for d in v.shape)
        table.entries.append(Entry(k, shape, str(v.dtype).replace("torch.", ""), kind, tied))
    for prefix, m in model.named_modules(remove_duplicate=False):
        for b in sorted(getattr(m, "_non_persistent_buffers_set", ())):
            t = m._buffers.get(b)
            if t is None:
                continue
            key = f"{prefix}.{b}" if prefix else b
            if key not in {e.key for e in table.non_persistent}:
                table.non_persistent.append(Entry(key, tuple(int(d) for d in t.shape),
                                                  str(t.dtype).replace("torch.", ""), "buffer"))
    return table


def build(path: str, class_name: str, bindings: Optional[Mapping[str, Any]] = None,
          device: str = "meta") -> TorchTable:
    """Import ``path``, construct ``class_name`` with ``bindings`` (meta device, CPU fallback) and return
    its state_dict table. Raises UserError (one line) when torch is missing or the code fails."""
    torch = import_torch()
    mod = load_user_module(path)
    cls = getattr(mod, class_name, None)
    if cls is None or not isinstance(cls, type):
        raise UserError(f"no class `{class_name}` in {path}")
    if not issubclass(cls, torch.nn.Module):
        raise UserError(f"`{class_name}` in {path} is not a torch.nn.Module subclass")
    target = f"{path}:{class_name}"
    meta_error: Optional[str] = None
    model = None
    if device == "meta":
        kwargs = arguments(mod, cls, dict(bindings or {}))
        try:
            with torch.device("meta"):
                model = cls(**kwargs)
        except Exception as exc:
            meta_error = _one_line(exc)
            model = None
            mod = load_user_module(path)  # fresh module state (globals, class attributes) for the retry
            cls = getattr(mod, class_name)
    if model is None:
        kwargs = arguments(mod, cls, dict(bindings or {}))
        try:
            model = cls(**kwargs)
        except Exception as exc:
            raise UserError(f"constructing {class_name} with torch fails: {_one_line(exc)}") from None
    table = table_of(model, target)
    table.device = "meta" if meta_error is None and device == "meta" else "cpu"
    table.meta_error = meta_error
    return table
