"""What the evaluator knows about torch (and a few standard libraries) beyond the catalog.

* ``nn.Module`` semantics: ``__setattr__`` routing into parameters / buffers / children, the
  ``register_*`` methods, containers (Sequential, ModuleList, ModuleDict, ParameterList, ParameterDict);
* tensor factories and shape operations over ``TensorSpec``;
* ``nn.Parameter``, ``nn.Buffer``, lazy parameters, ``weight_norm`` / ``spectral_norm`` (hook API and
  parametrizations), ``parametrize.register_parametrization``;
* Python builtins and the ``math``, ``copy``, ``functools``, ``collections``, ``dataclasses`` helpers.

Layers with state live in ``catalog/torch_nn.py`` (interpreted like user code); layers without state are
listed there in ``STATELESS``.
"""

from __future__ import annotations

from collections import OrderedDict

import math
from typing import Any, Callable, Dict, List, Optional, Tuple

from statedict_lint.predict import tensorops
from statedict_lint.predict.symbolic import Sym, is_int, is_intlike
from statedict_lint.predict.values import (
    BoundMethod, BufferMarker, DeviceValue, DtypeValue, Entry, InstanceValue, Intrinsic, ModuleValue,
    NamespaceValue, Opaque, Partial, ParamValue, Repeated, TensorSpec, Unknown,
)

DTYPES = {
    "float32": "float32", "float": "float32", "float64": "float64", "double": "float64",
    "float16": "float16", "half": "float16", "bfloat16": "bfloat16", "int64": "int64", "long": "int64",
    "int32": "int32", "int": "int32", "int16": "int16", "short": "int16", "int8": "int8", "uint8": "uint8",
    "bool": "bool", "complex64": "complex64", "cfloat": "complex64", "complex128": "complex128",
    "cdouble": "complex128", "uint16": "uint16", "uint32": "uint32", "uint64": "uint64",
    "float8_e4m3fn": "float8_e4m3fn", "float8_e5m2": "float8_e5m2",
}
FLOATING = {"float32", "float64", "float16", "bfloat16", "float8_e4m3fn", "float8_e5m2"}
# Features that model code probes with hasattr() to support torch < 2.0; all present in torch >= 2.0.
TORCH2_FEATURES = {
    "torch.nn.functional.scaled_dot_product_attention", "torch.compile", "torch.nn.RMSNorm",
    "torch.nn.functional.gelu", "torch.nn.functional.silu", "torch.nn.functional.mish", "torch.nn.SiLU",
    "torch.nn.Mish", "torch.nn.GELU", "torch.nn.Identity", "torch.nn.functional.rms_norm", "torch.nn.Buffer",
    "torch.nn.utils.parametrizations", "torch.nn.utils.parametrizations.weight_norm", "torch.fx", "torch.jit",
    "torch.backends.mps", "torch.func", "torch.vmap", "torch.autocast", "torch.nn.functional.layer_norm",
    "torch.nn.functional.hardswish", "torch.nn.functional.hardsigmoid", "torch.nn.Hardswish", "torch.nn.Hardsigmoid",
}


class TorchDir:
    """``dir(torch.nn.functional)``: membership is known for the features of the torch the catalog models
    (``'hardswish' in dir(F)``, timm's activation factory); anything else stays undecidable."""

    def __init__(self, qualname: str) -> None:
        self.qualname = qualname

    def contains(self, name: Any) -> Optional[bool]:
        if isinstance(name, str) and f"{self.qualname}.{name}" in TORCH2_FEATURES:
            return True
        return None
# Methods of torch.nn layers that only (re)initialise values; the catalog leaves them out.
TORCH_INIT_METHODS = {"reset_parameters", "_reset_parameters", "reset_running_stats", "flatten_parameters",
                      "_init_flat_weights", "_reset_lazy", "_check_input_dim"}
CONTAINERS = ("Sequential", "ModuleList", "ModuleDict", "ParameterList", "ParameterDict")
# Public methods of the torch containers (torch 2.13) beyond nn.Module's.
CONTAINER_METHODS = {
    "Sequential": {"append", "extend", "insert", "pop", "__add__", "__iadd__", "__mul__", "__imul__", "__rmul__",
                   "__getitem__", "__setitem__", "__delitem__", "__len__", "__iter__"},
    "ModuleList": {"append", "extend", "insert", "pop", "__add__", "__iadd__", "__getitem__", "__setitem__",
                   "__delitem__", "__len__", "__iter__"},
    "ModuleDict": {"clear", "items", "keys", "pop", "update", "values", "__getitem__", "__setitem__", "__delitem__",
                   "__len__", "__iter__", "__contains__"},
    "ParameterList": {"append", "extend", "__getitem__", "__setitem__", "__len__", "__iter__", "__iadd__"},
    "ParameterDict": {"clear", "copy", "fromkeys", "get", "items", "keys", "pop", "popitem", "setdefault", "update",
                      "values", "__getitem__", "__setitem__", "__delitem__", "__len__", "__iter__", "__contains__"},
}
# Class-level attributes of torch.nn.Module (torch 2.13): register_buffer / register_parameter / add_module
# raise KeyError("attribute 'half' already exists") for these names, and so does assigning a Parameter.
MODULE_ATTRS = frozenset((
    "T_destination", "_apply", "_call_impl", "_compiled_call_impl", "_get_backward_hooks", "_get_backward_pre_hooks",
    "_get_name", "_load_from_state_dict", "_maybe_warn_non_full_backward_hook", "_named_members",
    "_register_load_state_dict_pre_hook", "_register_state_dict_hook", "_replicate_for_data_parallel",
    "_save_to_state_dict", "_slow_forward", "_version", "_wrapped_call_impl", "add_module", "apply", "bfloat16",
    "buffers", "call_super_init", "children", "compile", "cpu", "cuda", "double", "dump_patches", "eval",
    "extra_repr", "float", "forward", "get_buffer", "get_extra_state", "get_parameter", "get_submodule", "half",
    "ipu", "load_state_dict", "modules", "mtia", "named_buffers", "named_children", "named_modules",
    "named_parameters", "parameters", "register_backward_hook", "register_buffer", "register_forward_hook",
    "register_forward_pre_hook", "register_full_backward_hook", "register_full_backward_pre_hook",
    "register_load_state_dict_post_hook", "register_load_state_dict_pre_hook", "register_module",
    "register_parameter", "register_state_dict_post_hook", "register_state_dict_pre_hook", "requires_grad_",
    "set_extra_state", "set_submodule", "share_memory", "state_dict", "to", "to_empty", "train", "type", "xpu",
    "zero_grad", "training", "_parameters", "_buffers", "_modules", "_non_persistent_buffers_set",
))
STDLIB_NAMESPACES = {
    "math", "copy", "functools", "collections", "typing", "dataclasses", "itertools", "warnings", "logging",
    "os", "sys", "abc", "enum", "numbers", "operator", "types", "typing_extensions", "einops", "einops.layers",
    "einops.layers.torch", "collections.abc", "inspect", "re", "json", "argparse", "numpy",
}
FACTORIES = ("concat", "concatenate", "permute", "transpose", "unsqueeze", "squeeze", "reshape", "mean", "sum", "zeros", "ones", "empty", "randn", "rand", "full", "arange", "eye", "tensor", "linspace",
             "logspace", "randint", "tril", "triu", "zeros_like", "ones_like", "empty_like", "randn_like",
             "rand_like", "full_like", "as_tensor", "from_numpy", "Tensor", "FloatTensor", "LongTensor",
             "BoolTensor", "IntTensor", "HalfTensor", "DoubleTensor", "ByteTensor", "cat", "stack", "meshgrid",
             "flatten", "outer", "exp", "log", "sqrt", "sin", "cos", "clone", "normal", "randperm", "polar",
             "cumsum", "where", "abs", "pow", "einsum", "matmul", "diag", "sigmoid", "tanh", "softmax")


def _d(name: str) -> DtypeValue:
    return DtypeValue(DTYPES.get(name, name))


class _Arg:
    """Positional/keyword argument access for intrinsics."""

    def __init__(self, args: List[Any], kwargs: Dict[str, Any]) -> None:
        self.args, self.kwargs = args, kwargs

    def get(self, i: int, name: str, default: Any = None) -> Any:
        if name in self.kwargs:
            return self.kwargs[name]
        if i is not None and i >= 0 and i < len(self.args):
            return self.args[i]
        return default


ENUM_BASES = ("enum.Enum", "enum.IntEnum", "enum.Flag", "enum.IntFlag", "enum.StrEnum")


class TorchLib:
    def __init__(self, ev: Any) -> None:
        self.ev = ev
        from statedict_lint.predict.evaluator import ClassValue

        self.ClassValue = ClassValue
        self.module_cls = ClassValue("Module", "torch.nn.Module", [], None, None)  # type: ignore[arg-type]
        self.module_cls.intrinsic = "Module"
        self._enum_classes: Dict[str, Any] = {}  # enum.Enum & co. as base classes (see _enum_base)
        self.module_cls.attrs = {}
        self._classes: Dict[str, Any] = {"torch.nn.Module": self.module_cls}
        for c in CONTAINERS:
            cv = ClassValue(c, f"torch.nn.{c}", [self.module_cls], None, None)  # type: ignore[arg-type]
            cv.intrinsic = c
            self._classes[f"torch.nn.{c}"] = cv
        self._stateless: Optional[set] = None

    # -- namespaces --------------------------------------------------------------------------
    def namespace(self, dotted: str) -> Optional[NamespaceValue]:
        if dotted == "torch" or dotted.startswith("torch.") or dotted in STDLIB_NAMESPACES:
            return NamespaceValue(_canonical(dotted))
        if dotted.split(".")[0] in ("einops", "numpy"):
            return NamespaceValue(dotted)
        return None

    def stateless(self) -> set:
        if self._stateless is None:
            from statedict_lint.predict.catalog import STATELESS

            self._stateless = set(STATELESS)
        return self._stateless

    def ns_getattr(self, ns: NamespaceValue, attr: str) -> Any:
        full = _canonical(f"{ns.qualname}.{attr}")
        ev = self.ev
        if full in self._classes:
            return self._classes[full]
        fn = _INTRINSIC_FUNCS.get(full)
        if fn is not None:
            return Intrinsic(full, lambda *a, **k: fn(self, *a, **k))
        if full.startswith("torch.nn.") and full.count(".") == 2:
            name = full.split(".")[-1]
            if name in ("Parameter", "Buffer", "UninitializedParameter", "UninitializedBuffer"):
                return Intrinsic(full, getattr(self, f"make_{name.lower()}"))
            if name in self.stateless():
                return self._stateless_class(name)
            cat = ev.catalog()
            found, v = cat.lookup(name)
            if found and isinstance(v, self.ClassValue):
                return v
            if name in ("functional", "init", "utils", "parameter", "modules", "common_types", "grad",
                        "attention", "intrinsic", "qat", "quantized", "parallel"):
                return NamespaceValue(full)
            if name[:1].isupper():
                return Unknown(f"`{full}` is not in statedict-lint's catalog of torch.nn layers", ev.line, ev.path)
        if full.startswith("torch.") and attr[:1].isupper() and full.count(".") == 1 and attr in DTYPES:
            return _d(attr)
        if full.startswith("torch.") and full.count(".") == 1 and attr in DTYPES:
            return _d(attr)
        if full in ("torch.nn", "torch.nn.functional", "torch.nn.init", "torch.nn.utils", "torch.nn.utils.parametrizations",
                    "torch.nn.utils.parametrize", "torch.nn.parameter", "torch.nn.modules", "torch.utils",
                    "torch.utils.checkpoint", "torch.jit", "torch.cuda", "torch.distributed", "torch.backends",
                    "torch.fx", "torch.autograd", "torch.linalg", "torch.fft", "torch.special", "torch.nn.attention",
                    "torch.nn.utils.rnn", "torch._C", "torch.amp", "torch.compiler", "torch.overrides",
                    "torch.nn.utils.spectral_norm", "torch.nn.utils.weight_norm", "torch.nn.common_types",
                    "einops.layers", "einops.layers.torch", "collections.abc", "os.path"):
            if full in ("torch.nn.utils.spectral_norm", "torch.nn.utils.weight_norm"):
                pass
            else:
                return NamespaceValue(full)
        if full.startswith("torch.nn.modules.") or full.startswith("torch.nn.") and full.count(".") >= 3:
            return NamespaceValue(full)
        if full.startswith("einops.layers.torch.") and attr in ("Rearrange", "Reduce"):
            return self._stateless_class(attr, full)
        if full.startswith("torch.nn.init."):
            return Intrinsic(full, lambda *a, **k: a[0] if a else None)
        if full.startswith("torch.nn.functional."):
            return Intrinsic(full, lambda *a, **k: ev.unknown(f"result of `{full}`", maybe_state=False))
        if full in ("abc.ABC", "abc.ABCMeta"):  # as a base class: only a metaclass, no state
            return _TypingAlias(full)
        if full.startswith(("typing.", "typing_extensions.", "collections.abc.", "numbers.", "types.")):
            return _TypingAlias(full)
        if full.startswith("torch.") and attr in FACTORIES:
            return Intrinsic(full, lambda *a, **k: self.factory(attr, a, k))
        if full in ("math.pi", "math.e", "math.inf", "math.tau", "math.nan"):
            return getattr(math, attr)
        if full.startswith("math.") and hasattr(math, attr):
            return Intrinsic(full, lambda *a, **k: self.math_call(attr, a, k))
        if full in ENUM_BASES:
            return self._enum_base(full)
        if full.startswith("warnings.") or full.startswith("logging."):
            return Intrinsic(full, lambda *a, **k: Unknown(f"result of `{full}`", ev.line, ev.path, False))
        return Unknown(f"`{full}` is not modelled by statedict-lint", ev.line, ev.path,
                       maybe_state=full.startswith("torch.") or full.startswith("einops"))

    def _enum_base(self, full: str) -> Any:
        """``enum.Enum`` and friends: a base whose subclasses' members are plain values, never state."""
        if full not in self._enum_classes:
            c = self.ClassValue(full.split(".")[-1], full, [], None, None)  # type: ignore[arg-type]
            c.intrinsic = "enum"
            self._enum_classes[full] = c
        return self._enum_classes[full]

    def class_attr(self, cls: Any, name: str) -> Any:
        if name == "from_pretrained" and any(c.qualname in ("torch.nn.Embedding", "torch.nn.EmbeddingBag")
                                             for c in cls.mro()):
            return Intrinsic(f"{cls.qualname}.from_pretrained", lambda *a, **k: self._from_pretrained(cls, *a, **k))
        return self._class_attr(cls, name)

    def _from_pretrained(self, cls: Any, embeddings: Any = None, freeze: Any = True, *args: Any, **kwargs: Any) -> Any:
        """Embedding.from_pretrained(t): an Embedding whose weight has t's shape and dtype."""
        ev = self.ev
        t = embeddings.tensor if isinstance(embeddings, ParamValue) else embeddings
        if not isinstance(t, TensorSpec) or t.shape is None or len(t.shape) != 2:
            return ev.unknown("from_pretrained of a tensor whose shape is not known")
        rows, cols = t.shape
        if rows is None or cols is None:
            return ev.unknown("from_pretrained of a tensor whose shape is not known")
        kw = {k: v for k, v in kwargs.items() if k in ("padding_idx", "max_norm", "norm_type", "scale_grad_by_freq",
                                                           "sparse", "mode", "include_last_offset")}
        m = ev.instantiate(cls, [rows, cols], kw)
        if isinstance(m, ModuleValue) and "weight" in m.params:
            line, path = self._where()
            m.params["weight"].value = ParamValue(TensorSpec(t.shape, t.dtype, line, path, t.why))
        return m

    def _class_attr(self, cls: Any, name: str) -> Any:
        if cls.intrinsic in CONTAINERS and name == "__init__":  # `nn.Sequential.__init__(self, *layers)`
            kind = cls.intrinsic

            def init(m: Any, *a: Any, **k: Any) -> None:
                if isinstance(m, ModuleValue):
                    self.container_init(m, kind, list(a), k)

            return Intrinsic(f"{kind}.__init__", init)
        if cls.intrinsic == "stateless" or cls.intrinsic in CONTAINERS or cls.intrinsic == "Module":
            if name in ("__init__",):
                return Intrinsic("Module.__init__", lambda *a, **k: None)
        return self.ev.unknown(f"class `{cls.name}` has no attribute `{name}`")

    def _stateless_class(self, name: str, qual: Optional[str] = None) -> Any:
        key = qual or f"torch.nn.{name}"
        if key not in self._classes:
            cv = self.ClassValue(name, key, [self.module_cls], None, None)  # type: ignore[arg-type]
            cv.intrinsic = "stateless"
            self._classes[key] = cv
        return self._classes[key]

    # -- instantiation of intrinsic classes ---------------------------------------------------
    def instantiate_special(self, cls: Any, args: List[Any], kwargs: Dict[str, Any]) -> Any:
        kind = ""
        for c in cls.mro():
            if c.intrinsic in CONTAINERS or c.intrinsic == "stateless":
                kind = c.intrinsic
                break
        if not kind:
            return None
        if cls.intrinsic == kind:  # the torch class itself
            m = ModuleValue(cls, cls.qualname)
            if kind == "stateless":
                return m
            m.container = kind
            self._container_init(m, kind, args, kwargs)
            return m
        # a user subclass of a container or stateless layer: run its __init__ over a container module
        m = ModuleValue(cls, cls.qualname)
        m.container = kind if kind != "stateless" else ""
        init, owner = cls.find("__init__")
        if init is not None:
            self.ev.call_function(init, [m] + list(args), kwargs, owner=owner)
        elif kind != "stateless":
            self._container_init(m, kind, args, kwargs)
        return m

    def _container_init(self, m: ModuleValue, kind: str, args: List[Any], kwargs: Dict[str, Any]) -> None:
        ev = self.ev
        from statedict_lint.predict.evaluator import _StarUnknown

        args = [Repeated(a.value, Unknown("?"), "?") if isinstance(a, _StarUnknown) else a for a in args]
        if kind == "Sequential":
            if len(args) == 1 and isinstance(args[0], dict):
                for k, v in args[0].items():
                    self.add_child(m, k if isinstance(k, str) else str(k), v)
                return
            self.container_extend(m, list(args))
            return
        src = args[0] if args else kwargs.get("modules", kwargs.get("values", kwargs.get("parameters")))
        if src is None:
            return
        if kind in ("ModuleList", "ParameterList"):
            self.container_extend(m, src)
        else:  # ModuleDict / ParameterDict
            self.container_update(m, src)
        del ev

    def container_init(self, m: ModuleValue, kind: str, args: List[Any], kwargs: Dict[str, Any]) -> None:
        """``nn.Sequential.__init__(m, ...)`` & co. run on an existing module (a user subclass)."""
        if not m.container:
            m.container = kind
        self._container_init(m, kind, args, kwargs)

    def module_init_base(self, *args: Any, **kwargs: Any) -> None:
        return None

    # -- module semantics (torch.nn.Module.__setattr__ & co) -----------------------------------
    def _where(self) -> Tuple[int, str]:
        return self.ev.line, self.ev.path

    def _entry(self, value: Any, line: int, path: str, condition: Optional[str] = None, persistent: bool = True) -> Entry:
        e = Entry(value, line, path, condition, persistent)
        if self.ev.repeat:
            e.ctx = list(self.ev.repeat)
        return e

    def module_setattr(self, m: ModuleValue, name: str, value: Any) -> None:
        line, path = self._where()
        if isinstance(value, ParamValue):
            self._check_class_attr(m, name, m.params)
            for t in (m.buffers, m.children, m.unknown_attrs):
                t.pop(name, None)
            m.attrs.pop(name, None)
            if name in m.params:
                m.params[name].value = value
                m.params[name].condition = None  # on this path it is set unconditionally
            else:
                m.params[name] = self._entry(value, line, path)
            return
        if isinstance(value, BufferMarker):
            self.register_buffer(m, name, value.tensor, persistent=value.persistent)
            return
        if isinstance(value, ModuleValue):
            for t in (m.params, m.buffers, m.unknown_attrs):
                t.pop(name, None)
            m.attrs.pop(name, None)
            if name in m.children:
                m.children[name].value = value
                m.children[name].line, m.children[name].path = line, path
                m.children[name].condition = None
            else:
                m.children[name] = self._entry(value, line, path)
            return
        if name in m.params:
            if value is None:
                m.params[name].value = None
                return
            if isinstance(value, (Unknown, Opaque)):
                m.params[name].value = Unknown(f"`{name}` is assigned a value that cannot be known", line, path)
                return
            raise _raise(self.ev, f"cannot assign a non-Parameter to parameter `{name}`")
        if name in m.children:
            if value is None:
                m.children[name].value = None
                return
            if isinstance(value, (Unknown, Opaque)):
                m.children[name].value = Unknown(f"`{name}` is assigned a value that cannot be known", line, path)
                return
            raise _raise(self.ev, f"cannot assign a non-Module to child module `{name}`")
        if name in m.buffers:
            if value is None or isinstance(value, TensorSpec):
                m.buffers[name].value = value
                return
            if isinstance(value, (Unknown, Opaque)):
                m.buffers[name].value = Unknown(f"buffer `{name}` is assigned a value that cannot be known", line, path)
                return
            raise _raise(self.ev, f"cannot assign a non-tensor to buffer `{name}`")
        maybe = self._maybe_state_value(value)
        if maybe is not None:
            m.attrs.pop(name, None)
            m.unknown_attrs[name] = Entry(maybe, line, path)
            return
        m.unknown_attrs.pop(name, None)
        m.attrs[name] = value

    def _maybe_state_value(self, value: Any) -> Optional[Unknown]:
        """An Unknown when the assigned value might register state (a module, parameter or buffer)."""
        line, path = self._where()
        if isinstance(value, Unknown):
            return value if value.maybe_state else None
        if isinstance(value, Opaque):
            if value.kind in ("int", "value"):
                return None
            self.ev.opaques.append((value, "", line, path))
            return None  # decided at the end of construction (see api.render)
        return None

    def _check_class_attr(self, m: ModuleValue, name: str, table: Dict[str, Any], others: Tuple[Any, ...] = ()) -> None:
        """torch's ``hasattr(self, name) and name not in self._<table>`` check: class-level names, and with
        ``others`` the instance's other tables (register_* and add_module called directly)."""
        if name in table:
            return
        exists = name in MODULE_ATTRS or any(name in t for t in others)
        if not exists and isinstance(m.cls, self.ClassValue):
            exists = any(name in c.attrs for c in m.cls.mro() if not c.intrinsic and not c.qualname.startswith("torch."))
        if exists:
            raise _raise(self.ev, f"attribute '{name}' already exists")

    def register_buffer(self, m: ModuleValue, name: Any, tensor: Any = None, persistent: Any = True) -> None:
        line, path = self._where()
        if not isinstance(name, str):
            m.unknown_attrs[f"<buffer at line {line}>"] = Entry(
                Unknown("buffer registered under a name that cannot be known", line, path), line, path)
            return
        self._check_class_attr(m, name, m.buffers, (m.params, m.children, m.attrs))
        if isinstance(persistent, (Unknown, Opaque, Sym)) or persistent not in (True, False):
            persistent_known: Optional[bool] = None
        else:
            persistent_known = bool(persistent)
        if isinstance(tensor, ParamValue):
            tensor = tensor.tensor
        if tensor is not None and not isinstance(tensor, (TensorSpec, Unknown)):
            if isinstance(tensor, Opaque):
                tensor = Unknown(f"buffer `{name}` comes from unbound parameter `{tensor.name}`", line, path)
            else:
                raise _raise(self.ev, f"register_buffer(`{name}`) needs a tensor or None")
        m.params.pop(name, None)
        m.children.pop(name, None)
        m.attrs.pop(name, None)
        m.unknown_attrs.pop(name, None)
        if name in m.buffers:
            e = m.buffers[name]
            e.value = tensor
            e.persistent = persistent_known if persistent_known is not None else e.persistent
        else:
            e = self._entry(tensor, line, path, None, persistent_known if persistent_known is not None else True)
            m.buffers[name] = e
        if persistent_known is None:
            e.condition = f"persistent={self.ev.path and 'unknown'} (line {line}): the buffer is in the state_dict only if persistent"

    def register_parameter(self, m: ModuleValue, name: Any, param: Any = None) -> None:
        line, path = self._where()
        if not isinstance(name, str):
            m.unknown_attrs[f"<parameter at line {line}>"] = Entry(
                Unknown("parameter registered under a name that cannot be known", line, path), line, path)
            return
        if isinstance(param, TensorSpec):
            raise _raise(self.ev, f"register_parameter(`{name}`) needs a Parameter or None")
        self._check_class_attr(m, name, m.params, (m.buffers, m.children, m.attrs))
        for t in (m.buffers, m.children, m.unknown_attrs):
            t.pop(name, None)
        m.attrs.pop(name, None)
        if isinstance(param, Opaque):
            param = Unknown(f"parameter `{name}` comes from unbound parameter `{param.name}`", line, path)
        if name in m.params:
            m.params[name].value = param
        else:
            m.params[name] = self._entry(param, line, path)

    def add_child(self, m: ModuleValue, name: Any, module: Any) -> None:
        line, path = self._where()
        if isinstance(name, Sym):
            name = "{" + name.render().replace("{", "").replace("}", "") + "}"
        if not isinstance(name, str):
            m.unknown_attrs[f"<child at line {line}>"] = Entry(
                Unknown("submodule added under a name that cannot be known", line, path), line, path)
            return
        if isinstance(module, Opaque):
            module = Unknown(f"submodule `{name}` comes from unbound parameter `{module.name}`", line, path)
        if module is not None and not isinstance(module, (ModuleValue, Unknown)):
            raise _raise(self.ev, f"`{name}` is not a Module")
        self._check_class_attr(m, name, m.children, (m.params, m.buffers, m.attrs))
        if isinstance(module, Unknown) and not module.maybe_state:
            # a value we cannot see but that holds no state: no key either way (torch raises if it is not
            # a Module, but we cannot tell that, so we do not claim it)
            for t in (m.params, m.buffers, m.unknown_attrs, m.children):
                t.pop(name, None)
            m.attrs[name] = module
            return
        for t in (m.params, m.buffers, m.unknown_attrs):
            t.pop(name, None)
        m.attrs.pop(name, None)
        if name in m.children:
            m.children[name].value = module
        else:
            m.children[name] = self._entry(module, line, path)

    def module_attr(self, m: ModuleValue, name: str) -> Any:
        ev = self.ev
        if m.container:
            meth = self._container_method(m, name)
            if meth is not None:
                return meth
        simple: Dict[str, Callable[..., Any]] = {
            "register_buffer": lambda n, t=None, persistent=True: self.register_buffer(m, n, t, persistent),
            "register_parameter": lambda n, p=None: self.register_parameter(m, n, p),
            "add_module": lambda n, mod=None: self.add_child(m, n, mod),
            "register_module": lambda n, mod=None: self.add_child(m, n, mod),
            "apply": lambda fn: m,
            "to": lambda *a, **k: self.module_to(m, a, k),
            "type": lambda dst=None: self.module_cast(m, dst),
            "half": lambda: self.module_cast(m, _d("float16")),
            "float": lambda: self.module_cast(m, _d("float32")),
            "double": lambda: self.module_cast(m, _d("float64")),
            "bfloat16": lambda: self.module_cast(m, _d("bfloat16")),
            "cuda": lambda *a, **k: m, "cpu": lambda: m, "eval": lambda: m, "train": lambda mode=True: m,
            "requires_grad_": lambda requires_grad=True: m, "zero_grad": lambda *a, **k: None,
            "share_memory": lambda: m, "to_empty": lambda *a, **k: m,
            "register_forward_hook": lambda *a, **k: None, "register_forward_pre_hook": lambda *a, **k: None,
            "register_full_backward_hook": lambda *a, **k: None, "register_backward_hook": lambda *a, **k: None,
            "register_state_dict_pre_hook": lambda *a, **k: None,
            "register_load_state_dict_pre_hook": lambda *a, **k: None,
            "register_load_state_dict_post_hook": lambda *a, **k: None,
            "_register_state_dict_hook": lambda *a, **k: self._state_hook(m),
            "register_state_dict_post_hook": lambda *a, **k: self._state_hook(m),
            "_register_load_state_dict_pre_hook": lambda *a, **k: None,
            "get_submodule": lambda target: self._get_submodule(m, target),
            "get_parameter": lambda target: self._get_path(m, target),
            "get_buffer": lambda target: self._get_path(m, target),
            "children": lambda: self._walk(m, "children", False),
            "named_children": lambda: self._walk(m, "children", True),
            "modules": lambda: self._walk(m, "modules", False),
            "named_modules": lambda *a, **k: self._walk(m, "modules", True) if not a and not k else
            self.ev.unknown("named_modules() with arguments", maybe_state=False),
            "parameters": lambda recurse=True: self._walk(m, "parameters", False, recurse),
            "named_parameters": lambda prefix="", recurse=True, **k: self._walk(m, "parameters", True, recurse, prefix),
            "buffers": lambda recurse=True: self._walk(m, "buffers", False, recurse),
            "named_buffers": lambda prefix="", recurse=True, **k: self._walk(m, "buffers", True, recurse, prefix),
            "__init__": lambda *a, **k: None,
        }
        if name in simple:
            return Intrinsic(f"Module.{name}", simple[name])
        if name in TORCH_INIT_METHODS and self._is_torch_layer(m):
            return Intrinsic(f"Module.{name}", lambda *a, **k: None)  # (re)initialisation: no state change
        if name == "training":
            return True
        if name == "__class__":
            return m.cls
        if name in ("_parameters", "_buffers", "_modules"):
            # `self._modules["x"] = layer` registers without __setattr__: what it holds is no longer known
            line, path = self._where()
            m.unknown_attrs[f"<{name} at line {line}>"] = Entry(
                Unknown(f"direct access to `{name}` is not modelled: registrations through it are missing",
                        line, path), line, path)
            return ev.unknown(f"direct access to `{name}` is not modelled")
        if name == "__dict__":
            return ev.unknown("module __dict__", maybe_state=False)
        if name in ("forward", "extra_repr", "state_dict", "load_state_dict"):
            return Intrinsic(f"Module.{name}", lambda *a, **k: ev.unknown(f"result of Module.{name}()", maybe_state=False))
        if name in MODULE_ATTRS or m.container and name in CONTAINER_METHODS.get(m.container, ()):
            # torch has it, statedict-lint does not model it: calling it may change the module's state
            def unmodelled(*a: Any, **k: Any) -> Any:
                line, path = self._where()
                # what the module held before may have changed: none of it is claimed any more
                for t in (m.params, m.buffers, m.children, m.unknown_attrs):
                    t.clear()
                m.extra_state = False
                m.unknown_attrs[f"<{name}() at line {line}>"] = Entry(
                    Unknown(f"`{name}()` of `{m.name}` is not modelled: it may change the module's state", line, path),
                    line, path)
                return ev.unknown(f"result of `{name}()`")

            return Intrinsic(f"Module.{name}", unmodelled)
        raise _raise(ev, f"`{m.name}` object has no attribute `{name}`", attr=True)

    def _is_torch_layer(self, m: ModuleValue) -> bool:
        cls = m.cls
        return isinstance(cls, self.ClassValue) and any(c.qualname.startswith("torch.nn.") for c in cls.mro())

    def _state_hook(self, m: ModuleValue) -> None:
        self.ev.note(f"`{m.name}` registers a state_dict hook; keys may be renamed or dropped at save time")

    def _walk(self, m: ModuleValue, what: str, named: bool, recurse: bool = True, prefix: str = "") -> Any:
        """Module.children/modules/parameters/buffers (named or not), in torch's order, without duplicates.

        Unknown when any part of the tree is not settled (unknown or conditional entries, symbolic runs)."""
        ev = self.ev
        out: List[Any] = []
        seen: set = set()

        def settled(e: Entry) -> bool:
            return e.condition is None and e.run is None and not isinstance(e.value, Unknown)

        def visit(mod: ModuleValue, pre: str) -> bool:
            if mod.unknown_attrs:
                return False
            if what == "modules":
                if id(mod) not in seen:
                    seen.add(id(mod))
                    out.append((pre.rstrip("."), mod) if named else mod)
            tables = {"parameters": mod.params, "buffers": mod.buffers}.get(what)
            if tables is not None:
                for k, e in tables.items():
                    if not settled(e):
                        return False
                    if e.value is not None and id(e.value) not in seen:
                        seen.add(id(e.value))
                        out.append((pre + k, e.value) if named else e.value)
            for k, e in mod.children.items():
                if not settled(e):
                    return False
                if e.value is None:
                    continue
                if what == "children":
                    if id(e.value) not in seen:
                        seen.add(id(e.value))
                        out.append((k, e.value) if named else e.value)
                    continue
                if (recurse or what == "modules") and not visit(e.value, pre + k + "."):
                    return False
            return True

        if not visit(m, prefix + "." if prefix else ""):
            return ev.unknown(f"{what}() of a module whose contents are not all known", maybe_state=False)
        return out

    def _get_submodule(self, m: ModuleValue, target: Any) -> Any:
        if not isinstance(target, str):
            return self.ev.unknown("get_submodule with an unknown name")
        cur: Any = m
        for part in target.split(".") if target else []:
            if not isinstance(cur, ModuleValue) or part not in cur.children:
                raise _raise(self.ev, f"no submodule `{target}`")
            cur = cur.children[part].value
        return cur

    def _get_path(self, m: ModuleValue, target: Any) -> Any:
        if not isinstance(target, str):
            return self.ev.unknown("unknown attribute path")
        mod, _, leaf = target.rpartition(".")
        owner = self._get_submodule(m, mod)
        return self.ev.getattr(owner, leaf)

    def module_to(self, m: ModuleValue, args: tuple, kwargs: Dict[str, Any]) -> ModuleValue:
        dtype = kwargs.get("dtype")
        for a in args:
            if isinstance(a, DtypeValue):
                dtype = a
            elif isinstance(a, (Unknown, Opaque)) and not isinstance(a, DeviceValue):
                self._poison_dtypes(m, "`.to()` with an argument that cannot be known")
                return m
        if isinstance(dtype, DtypeValue):
            self.module_cast(m, dtype)
        elif dtype is not None:
            self._poison_dtypes(m, "`.to(dtype=...)` with a dtype that cannot be known")
        return m

    def module_cast(self, m: ModuleValue, dtype: Any) -> ModuleValue:
        if not isinstance(dtype, DtypeValue):
            self._poison_dtypes(m, "module cast to a dtype that cannot be known")
            return m

        def cast(t: Any) -> Any:
            if isinstance(t, TensorSpec) and t.dtype in FLOATING:
                return TensorSpec(t.shape, dtype.name, t.line, t.path)
            return t

        for e in m.params.values():
            if isinstance(e.value, ParamValue):
                e.value.tensor = cast(e.value.tensor)
        for e in m.buffers.values():
            e.value = cast(e.value)
        for e in m.children.values():
            if isinstance(e.value, ModuleValue):
                self.module_cast(e.value, dtype)
        return m

    def _poison_dtypes(self, m: ModuleValue, why: str) -> None:
        for e in m.params.values():
            if isinstance(e.value, ParamValue) and e.value.tensor.dtype in FLOATING:
                e.value.tensor = TensorSpec(e.value.tensor.shape, None, e.value.tensor.line, e.value.tensor.path, why)
        for e in m.buffers.values():
            if isinstance(e.value, TensorSpec) and e.value.dtype in FLOATING:
                e.value = TensorSpec(e.value.shape, None, e.value.line, e.value.path, why)
        for e in m.children.values():
            if isinstance(e.value, ModuleValue):
                self._poison_dtypes(e.value, why)

    # -- containers --------------------------------------------------------------------------
    def _table(self, m: ModuleValue) -> Dict[str, Entry]:
        return m.params if m.container in ("ParameterList", "ParameterDict") else m.children

    def _entries(self, m: ModuleValue) -> List[Entry]:
        if m.container in ("ParameterList", "ParameterDict"):  # they may hold modules too, as children
            return list(m.params.values()) + list(m.children.values())
        return list(m.children.values())

    def _next_index(self, m: ModuleValue) -> Any:
        idx: Any = 0
        for e in self._entries(m):
            rep = e.run
            if isinstance(rep, Unknown) or isinstance(idx, Unknown):
                return rep if isinstance(rep, Unknown) else idx
            idx = idx + (rep if rep is not None else 1)
        return idx

    def _append(self, m: ModuleValue, item: Any) -> None:
        ev = self.ev
        line, path = self._where()
        idx = self._next_index(m)
        if isinstance(item, Repeated):
            count = item.count
            if isinstance(count, Unknown) or isinstance(item.value, Unknown) and item.placeholder == "?":
                reason = item.value.reason if isinstance(item.value, Unknown) else count.reason
                e = Entry(Unknown(f"a run of entries of unknown length: {reason}", line, path), line, path)
                e.run = Unknown("?")
                self._table(m)[f"<unknown run at line {line}>"] = e
                return
            ph = item.placeholder
            pos = idx + Sym.var(f"{{{ph}}}")
            name = "{" + (pos.render() if isinstance(pos, Sym) else str(pos)).replace("{", "").replace("}", "") + "}"
            value = self._coerce_item(m, item.value)
            e = Entry(value, line, path)
            e.run = count
            e.placeholder = (ph, count)
            self._table(m)[name] = e
            return
        if isinstance(idx, Unknown):
            self._table(m)[f"<unknown index at line {line}>"] = Entry(
                Unknown("entry after a run of unknown length", line, path), line, path)
            return
        name = str(idx) if is_int(idx) else "{" + idx.render().replace("{", "").replace("}", "") + "}"
        value = self._coerce_item(m, item)
        table = m.children if isinstance(value, ModuleValue) else self._table(m)
        table[name] = Entry(value, line, path)
        del ev

    def _coerce_item(self, m: ModuleValue, v: Any) -> Any:
        if m.container in ("ParameterList", "ParameterDict"):
            if isinstance(v, TensorSpec):
                return ParamValue(v)
            if isinstance(v, (ParamValue, Unknown, ModuleValue)) or v is None:
                return v
            if isinstance(v, Opaque):
                return Unknown(f"parameter from unbound `{v.name}`", *self._where())
            raise _raise(self.ev, "ParameterList/Dict item is not a tensor")
        if isinstance(v, Opaque):
            return Unknown(f"submodule from unbound parameter `{v.name}`", *self._where())
        if isinstance(v, Unknown):
            return v if v.maybe_state else _raise(self.ev, "item is not a Module")
        if not isinstance(v, ModuleValue) and v is not None:
            raise _raise(self.ev, f"{m.container} item is not a Module")
        return v

    def container_extend(self, m: ModuleValue, src: Any) -> ModuleValue:
        items = self.ev.iterate(src)
        if isinstance(items, Unknown):
            self._append(m, Repeated(items, Unknown("?"), "?"))
            return m
        from statedict_lint.predict.evaluator import _SymRange

        if isinstance(items, _SymRange):
            self._append(m, Repeated(Unknown("symbolic range"), Unknown("?"), "?"))
            return m
        for it in items:
            if isinstance(it, tuple) and m.container in ("ModuleDict", "ParameterDict"):
                continue
            self._append(m, it)
        return m

    def container_update(self, m: ModuleValue, src: Any) -> ModuleValue:
        line, path = self._where()
        if isinstance(src, ModuleValue) and src.container in ("ModuleDict", "ParameterDict"):
            pairs = [(k, e.value) for k, e in self._table(src).items()]
        elif isinstance(src, dict):
            pairs = list(src.items())
            if m.container == "ParameterDict" and not isinstance(src, OrderedDict):
                # torch's ParameterDict.update sorts a plain mapping by key (an OrderedDict keeps its order)
                if all(isinstance(k, str) for k in src):
                    pairs.sort(key=lambda kv: kv[0])
                else:
                    self._table(m)[f"<unknown entries at line {line}>"] = Entry(
                        Unknown("entries of a plain dict are sorted by key, and some keys cannot be known",
                                line, path), line, path)
                    return m
        else:
            items = self.ev.iterate(src)
            if isinstance(items, Unknown) or not isinstance(items, list):
                self._table(m)[f"<unknown entries at line {line}>"] = Entry(
                    Unknown("entries cannot be known", line, path), line, path)
                return m
            pairs = []
            for it in items:
                if isinstance(it, (tuple, list)) and len(it) == 2:
                    pairs.append((it[0], it[1]))
                else:
                    self._table(m)[f"<unknown entries at line {line}>"] = Entry(
                        Unknown("entries cannot be known", line, path), line, path)
                    return m
        for k, v in pairs:
            if not isinstance(k, str):
                k = getattr(k, "key", k)
                if isinstance(k, Sym):
                    k = "{" + k.render().replace("{", "").replace("}", "") + "}"
                elif not isinstance(k, str):
                    self._table(m)[f"<unknown name at line {line}>"] = Entry(
                        Unknown("entry under a name that cannot be known", line, path), line, path)
                    continue
            value = self._coerce_item(m, v)
            tab = self._table(m)
            if k in tab:
                tab[k].value = value
            else:
                tab[k] = Entry(value, line, path)
        return m

    def container_len(self, m: ModuleValue) -> Any:
        return self._next_index(m) if m.container not in ("ModuleDict", "ParameterDict") else len(self._table(m))

    def container_iter(self, m: ModuleValue) -> Any:
        tab = self._table(m)
        if any(e.run is not None for e in tab.values()):
            return self.ev.unknown("iteration over a container of symbolic length")
        if m.container in ("ModuleDict", "ParameterDict"):
            return list(tab.keys())
        if m.container:
            return [e.value for e in tab.values()]
        return self.ev.unknown("iteration over a module")

    def container_getitem(self, m: ModuleValue, key: Any) -> Any:
        ev = self.ev
        tab = self._table(m)
        if not m.container:
            return ev.unknown(f"`{m.name}` is not subscriptable")
        if m.container in ("ModuleDict", "ParameterDict"):
            if isinstance(key, str) and key in tab:
                return tab[key].value
            if isinstance(key, str):
                raise _raise(ev, f"KeyError: {key!r}")
            return ev.unknown("lookup with a key that cannot be known")
        if any(e.run is not None for e in tab.values()):
            first = next(i for i, e in enumerate(tab.values()) if e.run is not None)
            if is_int(key) and 0 <= key < first:
                return list(tab.values())[key].value
            reps = [e for e in tab.values() if e.run is not None]
            if len(tab) == 1 and len(reps) == 1 and (is_intlike(key)):
                return reps[0].value  # every item is the same template
            return ev.unknown("item of a container of symbolic length")
        vals = list(tab.values())
        if is_int(key):
            try:
                return vals[key].value
            except IndexError:
                raise _raise(ev, "index out of range")
        if isinstance(key, slice):
            out = ModuleValue(m.cls, m.name)
            out.container = m.container
            for (name, e) in list(tab.items())[key]:
                (out.children if m.container == "Sequential" else self._table(out))[
                    name if m.container == "Sequential" else str(len(self._table(out)))] = Entry(e.value, e.line, e.path)
            return out
        return ev.unknown("item at an index that cannot be known")

    def container_setitem(self, m: ModuleValue, key: Any, value: Any) -> None:
        tab = self._table(m)
        line, path = self._where()
        if m.container in ("ModuleDict", "ParameterDict") and isinstance(key, str):
            value = self._coerce_item(m, value)
            if key in tab:
                tab[key].value = value
            else:
                tab[key] = Entry(value, line, path)
            return
        if is_int(key):
            names = list(tab)
            if -len(names) <= key < len(names):
                tab[names[key]].value = self._coerce_item(m, value)
                return
            raise _raise(self.ev, "index out of range")
        tab[f"<unknown item at line {line}>"] = Entry(Unknown("item set at an index that cannot be known", line, path), line, path)

    def container_delitem(self, m: ModuleValue, key: Any) -> None:
        tab = self._table(m)
        if isinstance(key, str) and key in tab:
            del tab[key]
            return
        if (is_int(key) or isinstance(key, slice)) and m.container in ("ModuleList", "Sequential"):
            names = list(tab)
            if any(e.run is not None for e in tab.values()) or any(n.startswith("<") for n in names):
                tab.clear()  # which entries remain, and under which numbers, cannot be known
                tab[f"<unknown deletion at line {self.ev.line}>"] = Entry(
                    Unknown("deletion from a container of unknown length", self.ev.line, self.ev.path),
                    self.ev.line, self.ev.path)
                return
            if isinstance(key, slice):
                gone = names[key]
            elif -len(names) <= key < len(names):
                gone = [names[key]]
            else:
                raise _raise(self.ev, "index out of range")
            for n in gone:
                del tab[n]
            if m.container in ("ModuleList", "Sequential"):  # torch renumbers (Sequential: even named entries)
                items = list(tab.values())
                tab.clear()
                for i, e in enumerate(items):
                    tab[str(i)] = e
            return
        raise _raise(self.ev, "cannot delete that item" if m.container != "ParameterList"
                     else "ParameterList does not support item deletion (AttributeError: __delitem__)")

    def _container_method(self, m: ModuleValue, name: str) -> Any:
        c = m.container
        if c in ("ModuleList", "Sequential", "ParameterList"):
            if name == "append":
                return Intrinsic(f"{c}.append", lambda v: (self._append(m, self._repeat_wrap(v)), m)[1])
            if name == "extend":
                return Intrinsic(f"{c}.extend", lambda v: self.container_extend(m, self._repeat_list(v)))
            if name == "insert" and c == "ModuleList":
                return Intrinsic("ModuleList.insert", lambda i, v: self._insert(m, i, v))
            if name == "pop" and c in ("ModuleList", "Sequential"):
                def pop(key: Any) -> Any:  # torch: v = self[key]; del self[key]; return v
                    v = self.container_getitem(m, key)
                    self.container_delitem(m, key)
                    return v

                return Intrinsic(f"{c}.pop", pop)
            if name == "__len__":
                return Intrinsic("len", lambda: self.container_len(m))
        if c in ("ModuleDict", "ParameterDict"):
            if name == "update":
                return Intrinsic(f"{c}.update", lambda v: self.container_update(m, v))
            if name in ("keys", "values", "items"):
                tab = self._table(m)
                if name == "keys":
                    return Intrinsic("keys", lambda: list(tab.keys()))
                if name == "values":
                    return Intrinsic("values", lambda: [e.value for e in tab.values()])
                return Intrinsic("items", lambda: [(k, e.value) for k, e in tab.items()])
            if name == "pop":
                return Intrinsic("pop", lambda k: self._table(m).pop(k).value if k in self._table(m) else _raise(self.ev, "KeyError"))
            if name == "clear":
                return Intrinsic(f"{c}.clear", lambda: self._table(m).clear())
        return None

    def _repeat_wrap(self, v: Any) -> Any:
        if self.ev.repeat and not isinstance(v, Repeated):
            ph, count = self.ev.repeat[-1]
            return Repeated(v, count, ph)
        return v

    def _repeat_list(self, v: Any) -> Any:
        items = self.ev.iterate(v)
        if isinstance(items, list):
            return [self._repeat_wrap(x) for x in items]
        return v

    def _insert(self, m: ModuleValue, index: Any, value: Any) -> None:
        tab = self._table(m)
        if not is_int(index) or any(e.run is not None for e in tab.values()):
            tab[f"<unknown insert at line {self.ev.line}>"] = Entry(Unknown("insert at an unknown position"), self.ev.line, self.ev.path)
            return
        items = list(tab.values())
        line, path = self._where()
        items.insert(index if index >= 0 else len(items) + index, Entry(self._coerce_item(m, value), line, path))
        tab.clear()
        for i, e in enumerate(items):
            tab[str(i)] = e

    # -- parameters and buffers --------------------------------------------------------------
    def make_parameter(self, data: Any = None, requires_grad: Any = True) -> Any:
        line, path = self._where()
        if data is None:
            return ParamValue(TensorSpec((0,), "float32", line, path))
        if isinstance(data, ParamValue):
            return ParamValue(data.tensor)
        if isinstance(data, TensorSpec):
            return ParamValue(data)
        if isinstance(data, Unknown):
            return ParamValue(TensorSpec(None, None, line, path, data.reason))
        if isinstance(data, Opaque):
            return ParamValue(TensorSpec(None, None, line, path, f"tensor comes from unbound parameter `{data.name}`"))
        raise _raise(self.ev, "nn.Parameter needs a tensor")

    def make_buffer(self, data: Any = None, *, persistent: Any = True) -> Any:
        line, path = self._where()
        t = data if isinstance(data, TensorSpec) else (data.tensor if isinstance(data, ParamValue) else
                                                       TensorSpec(None, None, line, path, "buffer data cannot be known"))
        return BufferMarker(t, bool(persistent) if isinstance(persistent, bool) else True)

    def make_uninitializedparameter(self, requires_grad: Any = True, device: Any = None, dtype: Any = None) -> Any:
        line, path = self._where()
        return ParamValue(TensorSpec(None, self._dtype_name(dtype) if dtype is not None else "float32", line, path,
                                     "lazy module: the shape is set by the first forward pass"))

    def make_uninitializedbuffer(self, requires_grad: Any = False, device: Any = None, dtype: Any = None) -> Any:
        line, path = self._where()
        return TensorSpec(None, self._dtype_name(dtype) if dtype is not None else "float32", line, path,
                          "lazy module: the shape is set by the first forward pass")

    def _dtype_name(self, d: Any) -> Optional[str]:
        if d is None:
            return "float32"
        if isinstance(d, DtypeValue):
            return d.name
        if d is float:
            return "float32"
        if d is int:
            return "int64"
        if d is bool:
            return "bool"
        if isinstance(d, str):
            return DTYPES.get(d)
        return None

    # -- tensors -----------------------------------------------------------------------------
    def _shape_arg(self, args: tuple, kwargs: Dict[str, Any]) -> Any:
        if "size" in kwargs:
            s = kwargs["size"]
            args = (s,)
        if len(args) == 1 and isinstance(args[0], (tuple, list)):
            args = tuple(args[0])
        if len(args) == 1 and isinstance(args[0], TensorSpec) and args[0].shape is not None:
            return None  # torch.Size from .shape is a tuple; TensorSpec args are not sizes
        out = []
        for a in args:
            if isinstance(a, Opaque):
                a = a.sym()
            if is_intlike(a):
                out.append(a)
            elif isinstance(a, (Unknown,)):
                out.append(None)
            elif isinstance(a, Repeated):
                return None
            else:
                return None
        return tuple(out)

    def factory(self, name: str, args: tuple, kwargs: Dict[str, Any]) -> Any:
        line, path = self._where()
        dtype_arg = kwargs.get("dtype")
        dtype: Optional[str] = self._dtype_name(dtype_arg) if dtype_arg is not None else None
        if dtype_arg is not None and dtype is None:
            dtype = None
        why = "" if dtype_arg is None or dtype else "dtype cannot be known"

        def spec(shape: Any, default_dtype: Optional[str] = "float32") -> TensorSpec:
            d = dtype if dtype_arg is not None else default_dtype
            return TensorSpec(shape, d, line, path, why if shape is not None else why or "shape cannot be known")

        if name in ("zeros", "ones", "empty", "randn", "rand", "Tensor", "FloatTensor", "LongTensor", "BoolTensor",
                    "IntTensor", "HalfTensor", "DoubleTensor", "ByteTensor"):
            default = {"LongTensor": "int64", "BoolTensor": "bool", "IntTensor": "int32", "HalfTensor": "float16",
                       "DoubleTensor": "float64", "ByteTensor": "uint8"}.get(name, "float32")
            if name.endswith("Tensor") and len(args) == 1 and isinstance(args[0], (list, tuple)) and \
                    not all(is_intlike(x) for x in args[0]) or name.endswith("Tensor") and len(args) == 1 and \
                    isinstance(args[0], list):
                return self._from_data(args[0], dtype_arg, default, line, path)
            return spec(self._shape_arg(args, kwargs), default)
        if name == "full":
            size = args[0] if args else kwargs.get("size")
            fill = args[1] if len(args) > 1 else kwargs.get("fill_value")
            default = "bool" if isinstance(fill, bool) else "int64" if is_int(fill) else \
                "float32" if isinstance(fill, float) else None
            return spec(self._shape_arg((size,), {}), default)
        if name == "randint":
            size = kwargs.get("size", args[-1] if args else None)
            return spec(self._shape_arg((size,), {}), "int64")
        if name == "arange":
            nums = [a.sym() if isinstance(a, Opaque) else a for a in args]
            for k in ("start", "end", "step"):
                if k in kwargs:
                    nums.append(kwargs[k])
            if len(nums) == 1:
                start, end, step = 0, nums[0], 1
            elif len(nums) == 2:
                start, end, step = nums[0], nums[1], 1
            elif len(nums) >= 3:
                start, end, step = nums[0], nums[1], nums[2]
            else:
                return spec(None)
            all_int = all(is_intlike(x) for x in (start, end, step))
            default = "int64" if all_int else "float32" if all(isinstance(x, (int, float, Sym)) for x in (start, end, step)) else None
            if all_int:
                n = _ceil_div(end - start, step)
            elif all(isinstance(x, (int, float)) for x in (start, end, step)):
                n = max(0, math.ceil((end - start) / step))
            else:
                n = None
            return spec((n,), default)
        if name == "linspace" or name == "logspace":
            steps = args[2] if len(args) > 2 else kwargs.get("steps")
            steps = steps.sym() if isinstance(steps, Opaque) else steps
            return spec((steps if is_intlike(steps) else None,))
        if name == "eye":
            n = args[0] if args else kwargs.get("n")
            m = args[1] if len(args) > 1 else kwargs.get("m", n)
            n = n.sym() if isinstance(n, Opaque) else n
            m = m.sym() if isinstance(m, Opaque) else m
            return spec((n if is_intlike(n) else None, m if is_intlike(m) else None))
        if name in ("tensor", "as_tensor"):
            data = args[0] if args else kwargs.get("data")
            if isinstance(data, TensorSpec):
                return TensorSpec(data.shape, dtype if dtype_arg is not None else data.dtype, line, path)
            return self._from_data(data, dtype_arg, None, line, path)
        if name in ("tril", "triu", "zeros_like", "ones_like", "empty_like", "randn_like", "rand_like", "full_like",
                    "clone", "exp", "log", "sqrt", "sin", "cos", "abs", "sigmoid", "tanh", "cumsum", "softmax"):
            src = args[0] if args else kwargs.get("input")
            if isinstance(src, ParamValue):
                src = src.tensor
            if isinstance(src, TensorSpec):
                d = dtype if dtype_arg is not None else src.dtype
                if name == "full_like" and dtype_arg is None:
                    d = src.dtype
                return TensorSpec(src.shape, d, line, path, src.why)
            return spec(None, None)
        if name in ("cat", "concat", "concatenate", "stack"):
            seq = args[0] if args else kwargs.get("tensors")
            dim = args[1] if len(args) > 1 else kwargs.get("dim", kwargs.get("axis", 0))
            items = ev_iter(self.ev, seq)
            specs = [x.tensor if isinstance(x, ParamValue) else x for x in items] if items is not None else None
            if not specs or not all(isinstance(x, TensorSpec) for x in specs):
                return spec(None, None)
            shapes = [x.shape for x in specs]
            shape = tensorops.stack(shapes, dim) if name == "stack" else tensorops.cat(shapes, dim)
            d: Optional[str] = specs[0].dtype
            for x in specs[1:]:
                d = tensorops.promote(d, x.dtype)
            return TensorSpec(shape, dtype if dtype_arg is not None else d, line, path,
                              "" if shape is not None else f"torch.{name} of tensors whose shapes are not known")
        if name == "meshgrid":
            seq = list(args[0]) if len(args) == 1 and isinstance(args[0], (list, tuple)) else list(args)
            specs = [x.tensor if isinstance(x, ParamValue) else x for x in seq]
            indexing = kwargs.get("indexing", "ij")
            if not specs or not all(isinstance(x, TensorSpec) for x in specs) or indexing not in ("ij", "xy"):
                return self.ev.unknown("meshgrid of unknown tensors", maybe_state=False)
            shapes = tensorops.meshgrid([x.shape for x in specs], indexing)
            if shapes is None:
                return self.ev.unknown("meshgrid of tensors that are not 1-D", maybe_state=False)
            return tuple(TensorSpec(sh, x.dtype, line, path) for sh, x in zip(shapes, specs))
        if name in ("flatten", "sum", "mean", "permute", "transpose", "unsqueeze", "squeeze", "reshape"):
            src = args[0] if args else kwargs.get("input")
            if isinstance(src, (TensorSpec, ParamValue)):
                method = self.tensor_attr(src, name)
                return self.ev.call(method, list(args[1:]), {k: v for k, v in kwargs.items() if k != "input"})
            return spec(None, None)
        if name == "outer":
            a, b = (args + (None, None))[:2]
            if isinstance(a, TensorSpec) and isinstance(b, TensorSpec) and a.shape and b.shape and len(a.shape) == 1 and len(b.shape) == 1:
                return TensorSpec((a.shape[0], b.shape[0]), a.dtype if a.dtype == b.dtype else None, line, path)
            return spec(None, None)
        return TensorSpec(None, None, line, path, f"result of torch.{name} is not modelled")

    def _from_data(self, data: Any, dtype_arg: Any, default: Optional[str], line: int, path: str) -> TensorSpec:
        shape: List[Any] = []
        cur = data
        kinds: set = set()
        while isinstance(cur, (list, tuple)):
            shape.append(len(cur))
            if not cur:
                break
            cur = cur[0]
        flat: List[Any] = []

        def walk(x: Any) -> None:
            if isinstance(x, (list, tuple)):
                for y in x:
                    walk(y)
            else:
                flat.append(x)

        walk(data)
        for x in flat:
            if isinstance(x, bool):
                kinds.add("bool")
            elif is_int(x) or isinstance(x, Sym):
                kinds.add("int")
            elif isinstance(x, float):
                kinds.add("float")
            else:
                kinds.add("?")
        if dtype_arg is not None:
            d = self._dtype_name(dtype_arg)
        elif default is not None:
            d = default
        elif "?" in kinds:
            d = None
        elif "float" in kinds:
            d = "float32"
        elif "int" in kinds:
            d = "int64"
        elif "bool" in kinds:
            d = "bool"
        else:
            d = "float32"
        if any(isinstance(x, (Unknown, Repeated, TensorSpec, Opaque)) for x in flat):
            return TensorSpec(None, d, line, path, "tensor data cannot be known")
        return TensorSpec(tuple(shape), d, line, path)

    def tensor_attr(self, t: Any, name: str) -> Any:
        ev = self.ev
        if isinstance(t, DtypeValue):
            if name == "is_floating_point":
                return t.name in FLOATING
            if name == "itemsize":
                from statedict_lint.predict.template import DTYPE_BYTES

                return DTYPE_BYTES.get(t.name, ev.unknown("itemsize", False))
            return ev.unknown(f"dtype attribute `{name}`", False)
        param = t if isinstance(t, ParamValue) else None
        spec = t.tensor if isinstance(t, ParamValue) else t
        line, path = self._where()

        def with_shape(shape: Any, dtype: Any = spec.dtype, why: str = "") -> TensorSpec:
            return TensorSpec(shape, dtype, line, path, why or spec.why)

        if name in ("data", "detach", "clone", "contiguous", "requires_grad_", "fill_", "zero_", "normal_",
                    "uniform_", "copy_", "cpu", "cuda", "pin_memory", "share_memory_", "trunc_normal_", "mul_",
                    "add_", "div_", "clamp_", "exp_", "log_", "sqrt_", "abs_", "neg_", "masked_fill_", "bernoulli_",
                    "random_", "exponential_", "fill_diagonal_", "sub_", "t_", "squeeze_", "unsqueeze_",
                    "tril_", "triu_", "log1p_", "sigmoid_", "tanh_", "pow_", "floor_", "ceil_", "round_",
                    "clamp_min_", "clamp_max_", "erfinv_", "log_normal_", "cauchy_", "geometric_", "reciprocal_",
                    "rsqrt_", "sin_", "cos_", "sign_", "relu_", "index_fill_", "masked_scatter_"):
            if name == "data":
                return spec
            if name in ("t_", "squeeze_", "unsqueeze_"):
                return Intrinsic(name, lambda *a, **k: ev.unknown("in-place reshape"))
            return Intrinsic(f"Tensor.{name}", lambda *a, **k: spec if name.endswith("_") and param is None else
                             (param if name.endswith("_") and param is not None else with_shape(spec.shape)))
        if name in ("shape",):
            if spec.shape is None:
                return ev.unknown(f"shape of a tensor whose shape is unknown ({spec.why})", maybe_state=False)
            return tuple(x if x is not None else Unknown("unknown dimension", line, path, False) for x in spec.shape)
        if name == "size":
            def size(dim: Any = None) -> Any:
                if spec.shape is None:
                    return ev.unknown("size of a tensor whose shape is unknown", maybe_state=False)
                shp = tuple(x if x is not None else Unknown("unknown dimension", line, path, False) for x in spec.shape)
                if dim is None:
                    return shp
                if is_int(dim):
                    return shp[dim]
                return ev.unknown("size() of an unknown dimension", maybe_state=False)
            return Intrinsic("Tensor.size", size)
        if name in ("dim", "ndimension"):
            return Intrinsic("Tensor.dim", lambda: len(spec.shape) if spec.shape is not None else ev.unknown("rank", False))
        if name == "ndim":
            return len(spec.shape) if spec.shape is not None else ev.unknown("rank", False)
        if name == "numel":
            def numel() -> Any:
                if spec.shape is None or any(x is None for x in spec.shape):
                    return ev.unknown("numel", False)
                n: Any = 1
                for x in spec.shape:
                    n = n * x
                return n
            return Intrinsic("Tensor.numel", numel)
        if name == "dtype":
            return DtypeValue(spec.dtype) if spec.dtype else ev.unknown("dtype", False)
        if name in ("device", "requires_grad", "is_cuda", "grad", "is_leaf"):
            return ev.unknown(f"tensor `{name}`", False)
        if name in ("T", "mT"):
            if spec.shape is None:
                return with_shape(None)
            return with_shape(tuple(reversed(spec.shape)) if name == "T" else spec.shape[:-2] + spec.shape[-2:][::-1])
        casts = {"float": "float32", "double": "float64", "half": "float16", "bfloat16": "bfloat16", "long": "int64",
                 "int": "int32", "bool": "bool", "byte": "uint8", "short": "int16", "char": "int8"}
        if name in casts:
            return Intrinsic(f"Tensor.{name}", lambda *a, **k: with_shape(spec.shape, casts[name]))
        if name in ("to", "type"):
            def to(*a: Any, **k: Any) -> Any:
                d = k.get("dtype")
                for x in a:
                    if isinstance(x, DtypeValue):
                        d = x
                    elif isinstance(x, TensorSpec):
                        d = DtypeValue(x.dtype) if x.dtype else Unknown("?")
                    elif isinstance(x, (Unknown, Opaque)):
                        return with_shape(spec.shape, None, "`.to()` with an argument that cannot be known")
                if d is None:
                    return with_shape(spec.shape)
                dn = self._dtype_name(d)
                return with_shape(spec.shape, dn, "" if dn else "dtype cannot be known")
            return Intrinsic(f"Tensor.{name}", to)
        if name in ("view", "reshape"):
            return Intrinsic(f"Tensor.{name}", lambda *a: self._reshape(spec, a, with_shape))
        if name in ("unsqueeze",):
            def unsq(dim: Any) -> Any:
                if spec.shape is None or not is_int(dim):
                    return with_shape(None)
                s = list(spec.shape)
                d = dim if dim >= 0 else len(s) + dim + 1
                s.insert(d, 1)
                return with_shape(tuple(s))
            return Intrinsic("Tensor.unsqueeze", unsq)
        if name == "squeeze":
            def sq(dim: Any = None) -> Any:
                if spec.shape is None:
                    return with_shape(None)
                if dim is None:
                    if any(not is_int(x) for x in spec.shape):
                        return with_shape(None)
                    return with_shape(tuple(x for x in spec.shape if x != 1))
                if is_int(dim) and is_int(spec.shape[dim]):
                    s = list(spec.shape)
                    if s[dim] == 1:
                        del s[dim]
                    return with_shape(tuple(s))
                return with_shape(None)
            return Intrinsic("Tensor.squeeze", sq)
        if name == "expand":
            def expand(*sizes: Any) -> Any:
                if len(sizes) == 1 and isinstance(sizes[0], (tuple, list)):
                    sizes = tuple(sizes[0])
                if spec.shape is None:
                    return with_shape(None)
                s = list(spec.shape)
                out = []
                off = len(sizes) - len(s)
                for i, x in enumerate(sizes):
                    x = x.sym() if isinstance(x, Opaque) else x
                    if is_int(x) and x == -1 and i >= off:
                        out.append(s[i - off])
                    elif is_intlike(x):
                        out.append(x)
                    else:
                        out.append(None)
                return with_shape(tuple(out))
            return Intrinsic("Tensor.expand", expand)
        if name in ("repeat",):
            def rep(*sizes: Any) -> Any:
                if len(sizes) == 1 and isinstance(sizes[0], (tuple, list)):
                    sizes = tuple(sizes[0])
                if spec.shape is None:
                    return with_shape(None)
                s = [1] * (len(sizes) - len(spec.shape)) + list(spec.shape)
                return with_shape(tuple((a * b) if is_intlike(a) and is_intlike(b) else None for a, b in zip(s, sizes)))
            return Intrinsic("Tensor.repeat", rep)
        if name == "flatten":
            def flat(start_dim: Any = 0, end_dim: Any = -1) -> Any:
                if spec.shape is None or not is_int(start_dim) or not is_int(end_dim):
                    return with_shape(None)
                s = list(spec.shape)
                e = end_dim if end_dim >= 0 else len(s) + end_dim
                if not s:
                    return with_shape((1,))
                mid: Any = 1
                for x in s[start_dim: e + 1]:
                    mid = mid * x if x is not None and mid is not None else None
                return with_shape(tuple(s[:start_dim] + [mid] + s[e + 1:]))
            return Intrinsic("Tensor.flatten", flat)
        if name in ("transpose", "swapaxes"):
            def tr(a: Any, b: Any) -> Any:
                if spec.shape is None or not is_int(a) or not is_int(b):
                    return with_shape(None)
                s = list(spec.shape)
                s[a], s[b] = s[b], s[a]
                return with_shape(tuple(s))
            return Intrinsic("Tensor.transpose", tr)
        if name == "permute":
            def perm(*dims: Any) -> Any:
                if len(dims) == 1 and isinstance(dims[0], (tuple, list)):
                    dims = tuple(dims[0])
                if spec.shape is None or not all(is_int(d) for d in dims):
                    return with_shape(None)
                return with_shape(tuple(spec.shape[d] for d in dims))
            return Intrinsic("Tensor.permute", perm)
        if name == "t":
            return Intrinsic("Tensor.t", lambda: with_shape(tuple(reversed(spec.shape)) if spec.shape is not None else None))
        if name in ("sum", "mean", "amax", "amin", "prod", "argmax", "argmin", "all", "any", "std", "var"):
            def red(dim: Any = None, keepdim: Any = False, **k: Any) -> Any:
                dim = k.get("axis", dim)
                if isinstance(dim, list):
                    dim = tuple(dim)
                if not isinstance(keepdim, bool):
                    return with_shape(None, None, "reduction with unknown keepdim")
                if name in ("argmax", "argmin") and dim is None:
                    return with_shape((), "int64")
                d = k.get("dtype")
                dtype = self._dtype_name(d) if d is not None else tensorops.reduce_dtype(name, spec.dtype)
                return with_shape(tensorops.reduce(spec.shape, dim, keepdim), dtype)
            return Intrinsic(f"Tensor.{name}", red)
        if name in ("max", "min", "norm", "item", "tolist", "numpy"):
            return Intrinsic(f"Tensor.{name}", lambda *a, **k: ev.unknown(f"result of Tensor.{name}()", maybe_state=False))
        if name in ("new_zeros", "new_ones", "new_empty", "new_full"):
            def new(*a: Any, **k: Any) -> Any:
                size = a[0] if a else k.get("size")
                shp = self._shape_arg((size,), {}) if size is not None else None
                d = self._dtype_name(k["dtype"]) if "dtype" in k else spec.dtype
                return with_shape(shp, d)
            return Intrinsic(f"Tensor.{name}", new)
        if name in ("sqrt", "exp", "log", "abs", "neg", "sigmoid", "tanh", "sin", "cos", "reciprocal", "softmax",
                    "cumsum", "clamp", "round", "floor", "ceil", "pow", "triu", "tril", "masked_fill", "roll",
                    "flip", "sign", "relu", "rsqrt", "square"):
            def same(*a: Any, **k: Any) -> Any:
                return with_shape(spec.shape)
            return Intrinsic(f"Tensor.{name}", same)
        return ev.unknown(f"tensor method `{name}` is not modelled", maybe_state=False)

    def _reshape(self, spec: TensorSpec, sizes: tuple, with_shape: Callable[..., TensorSpec]) -> TensorSpec:
        if len(sizes) == 1 and isinstance(sizes[0], (tuple, list)):
            sizes = tuple(sizes[0])
        if len(sizes) == 1 and isinstance(sizes[0], DtypeValue):
            return with_shape(None, None, "view as another dtype")
        out: List[Any] = []
        neg = -1
        for i, x in enumerate(sizes):
            x = x.sym() if isinstance(x, Opaque) else x
            if is_int(x) and x == -1:
                neg = i
                out.append(None)
            elif is_intlike(x):
                out.append(x)
            else:
                out.append(None)
        if neg >= 0 and spec.shape is not None and all(x is not None for x in spec.shape):
            total: Any = 1
            for x in spec.shape:
                total = total * x
            known: Any = 1
            for i, x in enumerate(out):
                if i != neg:
                    if x is None:
                        known = None
                        break
                    known = known * x
            if known is not None:
                q = total // known
                if is_int(total) and is_int(known) and known and total % known == 0 or isinstance(q, Sym) and q * known == total:
                    out[neg] = q
        return with_shape(tuple(out))

    def tensor_getitem(self, t: Any, key: Any) -> Any:
        spec = t.tensor if isinstance(t, ParamValue) else t
        line, path = self._where()
        if spec.shape is None:
            return TensorSpec(None, spec.dtype, line, path, spec.why)
        keys = key if isinstance(key, tuple) else (key,)
        shape = list(spec.shape)
        out: List[Any] = []
        dim = 0
        for k in keys:
            if k is None:
                out.append(1)
            elif k is Ellipsis:
                rest = len([x for x in keys if x is not None and x is not Ellipsis])
                n = len(shape) - dim - (rest - (keys.index(Ellipsis) - len([x for x in keys[:keys.index(Ellipsis)] if x is None])))
                remaining_after = len([x for x in keys[keys.index(Ellipsis) + 1:] if x is not None])
                n = len(shape) - dim - remaining_after
                out.extend(shape[dim: dim + n])
                dim += n
            elif isinstance(k, slice):
                if dim >= len(shape):
                    return TensorSpec(None, spec.dtype, line, path, "index beyond rank")
                d = shape[dim]
                if k.start is None and k.stop is None and k.step in (None, 1):
                    out.append(d)
                elif is_int(d) and all(x is None or is_int(x) for x in (k.start, k.stop, k.step)):
                    out.append(len(range(d)[k]))
                else:
                    out.append(None)
                dim += 1
            elif is_intlike(k):
                dim += 1
            else:
                return TensorSpec(None, spec.dtype, line, path, "advanced indexing")
        out.extend(shape[dim:])
        return TensorSpec(tuple(out), spec.dtype, line, path, spec.why)

    def tensor_binop(self, op: str, a: Any, b: Any) -> Any:
        line, path = self._where()
        sa = a.tensor if isinstance(a, ParamValue) else a
        sb = b.tensor if isinstance(b, ParamValue) else b
        if op == "@":
            return TensorSpec(None, None, line, path, "matmul result")
        ta = sa if isinstance(sa, TensorSpec) else None
        tb = sb if isinstance(sb, TensorSpec) else None
        if ta is not None and tb is not None:
            try:
                shape = tensorops.broadcast(ta.shape, tb.shape)
            except ValueError as exc:
                raise _raise(self.ev, str(exc))
            dtype = tensorops.promote(ta.dtype, tb.dtype)
            if op == "/" and dtype is not None and dtype not in FLOATING:
                dtype = "float32"
            return TensorSpec(shape, dtype, line, path, "" if shape is not None and dtype else "broadcast result")
        t = ta or tb
        other = sb if ta is not None else sa
        assert t is not None
        if isinstance(other, (int, float, bool, Sym)):
            dtype = t.dtype
            if isinstance(other, float) and t.dtype not in FLOATING:
                dtype = "float32"
            if op == "/" and t.dtype not in FLOATING:
                dtype = "float32"
            return TensorSpec(t.shape, dtype, line, path, t.why)
        return TensorSpec(None, None, line, path, "operation with an unknown operand")

    # -- math --------------------------------------------------------------------------------
    def math_call(self, name: str, args: tuple, kwargs: Dict[str, Any]) -> Any:
        ev = self.ev
        args = tuple(a.sym() if isinstance(a, Opaque) else a for a in args)
        if any(isinstance(a, (Unknown, Sym)) for a in args):
            if name == "prod" and args and isinstance(args[0], (list, tuple)):
                pass
            elif name in ("floor", "ceil") and args and isinstance(args[0], Sym):
                return args[0]
            else:
                return ev.unknown(f"math.{name} of a value that is not concrete", maybe_state=False)
        if name == "prod":
            items = ev.iterate(args[0])
            if not isinstance(items, list):
                return ev.unknown("math.prod of an unknown sequence", maybe_state=False)
            r: Any = kwargs.get("start", 1)
            for x in items:
                x = x.sym() if isinstance(x, Opaque) else x
                if not is_intlike(x) and not isinstance(x, float):
                    return ev.unknown("math.prod of unknown values", maybe_state=False)
                if isinstance(x, float) and isinstance(r, Sym) or isinstance(r, float) and isinstance(x, Sym):
                    return ev.unknown("math.prod of mixed values", maybe_state=False)
                r = r * x
            return r
        try:
            return getattr(math, name)(*args, **kwargs)
        except (TypeError, ValueError, OverflowError) as exc:
            raise _raise(ev, f"math.{name} fails: {exc}")

    # -- python values -----------------------------------------------------------------------
    def python_attr(self, obj: Any, name: str) -> Any:
        ev = self.ev
        if isinstance(obj, list):
            if name == "append":
                return Intrinsic("list.append", lambda x: obj.append(self._repeat_wrap(x)))
            if name == "extend":
                def extend(x: Any) -> None:
                    items = ev.iterate(x)
                    if isinstance(items, list):
                        obj.extend(self._repeat_wrap(i) for i in items)
                    else:
                        obj.append(Repeated(items if isinstance(items, Unknown) else ev.unknown("symbolic"), Unknown("?"), "?"))
                return Intrinsic("list.extend", extend)
            if name == "insert":
                def insert(i: Any, x: Any) -> None:
                    if is_int(i) and not ev.repeat:
                        obj.insert(i, x)
                    else:
                        obj[:] = [Repeated(ev.unknown("list insert at an unknown position"), Unknown("?"), "?")]
                return Intrinsic("list.insert", insert)
            if name == "pop":
                def pop(i: Any = -1) -> Any:
                    if any(isinstance(x, Repeated) for x in obj) or not is_int(i):
                        return ev.unknown("pop from a list of symbolic length")
                    if not obj:
                        raise _raise(ev, "pop from an empty list")
                    return obj.pop(i)
                return Intrinsic("list.pop", pop)
            if name in ("copy",):
                return Intrinsic("list.copy", lambda: list(obj))
            if name in ("reverse",):
                return Intrinsic("list.reverse", lambda: obj.reverse())
            if name in ("index", "count", "remove", "sort", "clear"):
                def meth(*a: Any, **k: Any) -> Any:
                    try:
                        return getattr(obj, name)(*a, **k)
                    except (ValueError, TypeError):
                        return ev.unknown(f"list.{name} cannot be evaluated", False)
                return Intrinsic(f"list.{name}", meth)
        if isinstance(obj, dict):
            from statedict_lint.predict.evaluator import _DictView

            if name in ("keys", "values", "items"):
                return Intrinsic(f"dict.{name}", lambda: _DictView(obj, name))
            if name == "get":
                def get(k: Any, d: Any = None) -> Any:
                    if isinstance(k, (Unknown, Opaque, Sym)):
                        return ev.unknown("dict.get with an unknown key")
                    return obj.get(k, d)
                return Intrinsic("dict.get", get)
            if name in ("update", "pop", "setdefault", "copy", "clear"):
                def dm(*a: Any, **k: Any) -> Any:
                    if name == "update" and a and not isinstance(a[0], dict):
                        items = ev.iterate(a[0])
                        if isinstance(items, list):
                            obj.update(dict(x for x in items))
                            return None
                        return None
                    try:
                        return getattr(obj, name)(*a, **k)
                    except (KeyError, TypeError):
                        raise _raise(ev, f"dict.{name} fails")
                return Intrinsic(f"dict.{name}", dm)
        if isinstance(obj, str):
            if name == "format":
                def fmt(*a: Any, **k: Any) -> Any:
                    a = tuple("{" + x.render().replace("{", "").replace("}", "") + "}" if isinstance(x, Sym) else x for x in a)
                    if any(isinstance(x, (Unknown, Opaque)) for x in list(a) + list(k.values())):
                        return ev.unknown("formatted string with unknown parts", maybe_state=False)
                    try:
                        return obj.format(*a, **k)
                    except (IndexError, KeyError, ValueError):
                        return ev.unknown("str.format fails", maybe_state=False)
                return Intrinsic("str.format", fmt)
            if hasattr(str, name) and not name.startswith("_"):
                def sm(*a: Any, **k: Any) -> Any:
                    if any(not isinstance(x, (str, int, list, tuple, type(None))) for x in list(a) + list(k.values())):
                        return ev.unknown(f"str.{name} with unknown arguments", maybe_state=False)
                    try:
                        return getattr(obj, name)(*a, **k)
                    except (TypeError, ValueError) as exc:
                        raise _raise(ev, f"str.{name} fails: {exc}")
                return Intrinsic(f"str.{name}", sm)
        if isinstance(obj, (tuple,)) and name in ("index", "count"):
            return Intrinsic(f"tuple.{name}", lambda *a: getattr(obj, name)(*a))
        if isinstance(obj, int) and name in ("bit_length", "real"):
            return getattr(obj, name)() if name == "bit_length" else obj
        if isinstance(obj, Sym):
            return ev.unknown(f"attribute `{name}` of a symbolic value", maybe_state=False)
        return ev.unknown(f"attribute `{name}` is not known", maybe_state=not isinstance(obj, (int, float, str, bool, tuple, list, dict)))


def ev_iter(ev: Any, seq: Any) -> Optional[List[Any]]:
    items = ev.iterate(seq)
    if not isinstance(items, list) or any(isinstance(x, Repeated) for x in items):
        return None
    return items


def _ceil_div(a: Any, b: Any) -> Any:
    if is_int(a) and is_int(b):
        return max(0, -(-a // b)) if b > 0 else max(0, -(-a // b))
    if b == 1:
        return a
    return (a + b - 1) // b


def _canonical(dotted: str) -> str:
    """torch.nn.modules.linear.Linear -> torch.nn.Linear; torch.nn.parameter.Parameter -> torch.nn.Parameter."""
    parts = dotted.split(".")
    if len(parts) >= 4 and parts[:3] == ["torch", "nn", "modules"]:
        return "torch.nn." + parts[-1] if len(parts) == 5 else dotted
    if len(parts) == 4 and parts[:3] == ["torch", "nn", "parameter"]:
        return "torch.nn." + parts[3]
    if len(parts) >= 2 and parts[0] == "torch" and parts[1] == "tensor" and len(parts) == 2:
        return dotted
    return dotted


def _raise(ev: Any, message: str, attr: bool = False) -> Exception:
    from statedict_lint.predict.evaluator import EvalRaise

    return EvalRaise(message, ev.line, ev.path)


class _TypingAlias:
    """typing.Optional, typing.List, ...: only ever subscripted or compared."""

    def __init__(self, name: str) -> None:
        self.name = name


# -- torch.* and stdlib functions ----------------------------------------------------------------

def _deepcopy(lib: TorchLib, v: Any, memo: Optional[dict] = None) -> Any:
    return deep_clone(v)


def deep_clone(v: Any) -> Any:
    """copy.deepcopy over evaluator values: modules, parameters and tensors are copied (ties inside kept)."""
    memo: Dict[int, Any] = {}

    def cp(x: Any) -> Any:
        t = type(x)
        if t in (int, float, str, bool, type(None), Sym, bytes):
            return x
        if id(x) in memo:
            return memo[id(x)]
        if t is list:
            out: Any = []
            memo[id(x)] = out
            out.extend(cp(i) for i in x)
            return out
        if t is tuple:
            return tuple(cp(i) for i in x)
        if t is dict:
            out = {}
            memo[id(x)] = out
            for k, i in x.items():
                out[k] = cp(i)
            return out
        if t is TensorSpec:
            out = TensorSpec(x.shape, x.dtype, x.line, x.path, x.why)
            memo[id(x)] = out
            return out
        if t is ParamValue:
            out = ParamValue(None)  # type: ignore[arg-type]
            memo[id(x)] = out
            out.tensor = cp(x.tensor)
            return out
        if t is ModuleValue:
            out = ModuleValue(x.cls, x.name)
            memo[id(x)] = out
            for table in ("params", "buffers", "children", "unknown_attrs"):
                src = getattr(x, table)
                dst = {}
                for k, e in src.items():
                    ne = Entry(cp(e.value), e.line, e.path, e.condition, e.persistent, e.run, e.placeholder, e.ctx)
                    dst[k] = ne
                setattr(out, table, dst)
            out.attrs = {k: cp(i) for k, i in x.attrs.items()}
            out.origin, out.origin_line, out.origin_path = x.origin, x.origin_line, x.origin_path
            out.extra_state, out.container = x.extra_state, x.container
            return out
        if t is InstanceValue:
            out = InstanceValue(x.cls)
            memo[id(x)] = out
            out.attrs = {k: cp(i) for k, i in x.attrs.items()}
            return out
        if t is Repeated:
            return Repeated(cp(x.value), x.count, x.placeholder)
        return x

    return cp(v)


def _weight_norm(lib: TorchLib, module: Any, name: Any = "weight", dim: Any = 0) -> Any:
    ev = lib.ev
    if not isinstance(module, ModuleValue):
        return module
    if not isinstance(name, str) or name not in module.params or not isinstance(module.params[name].value, ParamValue):
        raise _raise(ev, f"weight_norm: module has no parameter `{name}`")
    w = module.params.pop(name).value.tensor
    g_shape = _norm_shape(w.shape, dim)
    line, path = lib._where()
    lib.register_parameter(module, name + "_g", ParamValue(TensorSpec(g_shape, w.dtype, line, path, w.why)))
    lib.register_parameter(module, name + "_v", ParamValue(TensorSpec(w.shape, w.dtype, line, path, w.why)))
    module.attrs[name] = TensorSpec(w.shape, w.dtype, line, path)
    return module


def _norm_shape(shape: Any, dim: Any) -> Any:
    if shape is None:
        return None
    if dim is None:
        return ()
    if not is_int(dim):
        return None
    n = len(shape)
    d = dim if dim >= 0 else n + dim
    return tuple(shape[i] if i == d else 1 for i in range(n))


def _spectral_norm(lib: TorchLib, module: Any, name: Any = "weight", n_power_iterations: Any = 1, eps: Any = 1e-12,
                   dim: Any = None) -> Any:
    ev = lib.ev
    if not isinstance(module, ModuleValue):
        return module
    if not isinstance(name, str) or name not in module.params or not isinstance(module.params[name].value, ParamValue):
        raise _raise(ev, f"spectral_norm: module has no parameter `{name}`")
    if dim is None:
        dim = 1 if _is_conv_transpose(module) else 0
    w = module.params.pop(name).value.tensor
    line, path = lib._where()
    h, wdim = _matrix_dims(w.shape, dim)
    lib.register_parameter(module, name + "_orig", ParamValue(w))
    module.attrs[name] = TensorSpec(w.shape, w.dtype, line, path)
    lib.register_buffer(module, name + "_u", TensorSpec((h,), w.dtype, line, path))
    lib.register_buffer(module, name + "_v", TensorSpec((wdim,), w.dtype, line, path))
    return module


def _is_conv_transpose(m: ModuleValue) -> bool:
    from statedict_lint.predict.evaluator import ClassValue

    return isinstance(m.cls, ClassValue) and any(c.qualname.startswith("torch.nn.ConvTranspose") for c in m.cls.mro())


def _matrix_dims(shape: Any, dim: Any) -> Tuple[Any, Any]:
    if shape is None or not is_int(dim):
        return None, None
    n = len(shape)
    d = dim if dim >= 0 else n + dim
    h = shape[d]
    rest: Any = 1
    for i, x in enumerate(shape):
        if i != d:
            rest = rest * x if x is not None and rest is not None else None
    return h, rest


def _parametrization_list(lib: TorchLib, module: ModuleValue, name: str) -> ModuleValue:
    ev = lib.ev
    parent = lib._classes["torch.nn.ModuleDict"]
    if "parametrizations" not in module.children:
        pd = ModuleValue(parent, "torch.nn.utils.parametrize.ModuleDict")
        pd.container = "ModuleDict"
        lib.add_child(module, "parametrizations", pd)
    pd = module.children["parametrizations"].value
    if name not in pd.children:
        plist = ModuleValue(lib._classes["torch.nn.ModuleList"], "torch.nn.utils.parametrize.ParametrizationList")
        plist.container = "ModuleList"
        line, path = lib._where()
        pd.children[name] = Entry(plist, line, path)
    del ev
    return pd.children[name].value


def _register_parametrization(lib: TorchLib, module: Any, tensor_name: Any, parametrization: Any,
                              *, unsafe: Any = False, originals: Optional[List[TensorSpec]] = None) -> Any:
    ev = lib.ev
    if not isinstance(module, ModuleValue) or not isinstance(tensor_name, str):
        return ev.unknown("register_parametrization on an unknown module")
    line, path = lib._where()
    if "parametrizations" in module.children and isinstance(module.children["parametrizations"].value, ModuleValue) \
            and tensor_name in module.children["parametrizations"].value.children:
        plist = module.children["parametrizations"].value.children[tensor_name].value
        lib._append(plist, parametrization)
        return module
    if tensor_name in module.params and isinstance(module.params[tensor_name].value, ParamValue):
        orig = module.params.pop(tensor_name).value.tensor
        is_buffer = False
    elif tensor_name in module.buffers and isinstance(module.buffers[tensor_name].value, TensorSpec):
        orig = module.buffers.pop(tensor_name).value
        is_buffer = True
    else:
        raise _raise(ev, f"register_parametrization: no parameter or buffer `{tensor_name}`")
    plist = _parametrization_list(lib, module, tensor_name)
    if originals is None and isinstance(parametrization, ModuleValue) and isinstance(parametrization.cls, lib.ClassValue):
        inv, _ = parametrization.cls.find("right_inverse")
        if inv is not None:
            originals = None
            ev.note(f"parametrization `{parametrization.name}` defines right_inverse: the shapes of its "
                    f"`original` tensors are assumed equal to `{tensor_name}`")
    if originals is not None and len(originals) > 1:
        for i, t in enumerate(originals):
            if is_buffer:
                lib.register_buffer(plist, f"original{i}", t)
            else:
                lib.register_parameter(plist, f"original{i}", ParamValue(t))
    else:
        t = originals[0] if originals else orig
        if is_buffer:
            lib.register_buffer(plist, "original", t)
        else:
            lib.register_parameter(plist, "original", ParamValue(t))
    lib._append(plist, parametrization)
    module.attrs[tensor_name] = orig
    return module


def _p_weight_norm(lib: TorchLib, module: Any, name: Any = "weight", dim: Any = 0) -> Any:
    if not isinstance(module, ModuleValue) or name not in module.params or not isinstance(module.params[name].value, ParamValue):
        return lib.ev.unknown("weight_norm of an unknown module")
    w = module.params[name].value.tensor
    line, path = lib._where()
    g = TensorSpec(_norm_shape(w.shape, dim), w.dtype, line, path)
    v = TensorSpec(w.shape, w.dtype, line, path)
    pm = ModuleValue(lib._stateless_class("_WeightNorm", "torch.nn.utils.parametrizations._WeightNorm"), "torch.nn.utils.parametrizations._WeightNorm")
    return _register_parametrization(lib, module, name, pm, unsafe=True, originals=[g, v])


def _p_spectral_norm(lib: TorchLib, module: Any, name: Any = "weight", n_power_iterations: Any = 1, eps: Any = 1e-12,
                     dim: Any = None) -> Any:
    if not isinstance(module, ModuleValue) or name not in module.params or not isinstance(module.params[name].value, ParamValue):
        return lib.ev.unknown("spectral_norm of an unknown module")
    w = module.params[name].value.tensor
    if dim is None:
        dim = 1 if _is_conv_transpose(module) else 0
    line, path = lib._where()
    pm = ModuleValue(lib._stateless_class("_SpectralNorm", "torch.nn.utils.parametrizations._SpectralNorm"), "torch.nn.utils.parametrizations._SpectralNorm")
    if w.shape is None or len(w.shape) > 1:
        h, wd = _matrix_dims(w.shape, dim)
        lib.register_buffer(pm, "_u", TensorSpec((h,), w.dtype, line, path))
        lib.register_buffer(pm, "_v", TensorSpec((wd,), w.dtype, line, path))
    return _register_parametrization(lib, module, name, pm, unsafe=False)


def _p_orthogonal(lib: TorchLib, module: Any, name: Any = "weight", *a: Any, **k: Any) -> Any:
    lib.ev.note("orthogonal parametrization: the `original` tensor's form depends on the orthogonal map")
    if not isinstance(module, ModuleValue) or name not in module.params:
        return lib.ev.unknown("orthogonal of an unknown module")
    w = module.params[name].value.tensor
    line, path = lib._where()
    pm = ModuleValue(lib._stateless_class("_Orthogonal", "torch.nn.utils.parametrizations._Orthogonal"), "torch.nn.utils.parametrizations._Orthogonal")
    return _register_parametrization(lib, module, name, pm, originals=[TensorSpec(w.shape, w.dtype, line, path)])


def _remove_weight_norm(lib: TorchLib, module: Any, name: Any = "weight") -> Any:
    if isinstance(module, ModuleValue) and f"{name}_g" in module.params:
        module.params.pop(f"{name}_g")
        v = module.params.pop(f"{name}_v")
        lib.register_parameter(module, name, ParamValue(v.value.tensor))
    return module


def _partial(lib: TorchLib, func: Any, *args: Any, **kwargs: Any) -> Any:
    return Partial(func, list(args), dict(kwargs))


def _ordered_dict(lib: TorchLib, src: Any = None, **kwargs: Any) -> Any:
    out: Dict[Any, Any] = OrderedDict()  # a real OrderedDict: ParameterDict keeps its order, sorts a plain dict
    if src is not None:
        if isinstance(src, dict):
            out.update(src)
        else:
            items = lib.ev.iterate(src)
            if not isinstance(items, list):
                return lib.ev.unknown("OrderedDict of unknown items")
            for it in items:
                if isinstance(it, Repeated):
                    return lib.ev.unknown("OrderedDict of a symbolic number of items")
                if not isinstance(it, (tuple, list)) or len(it) != 2:
                    return lib.ev.unknown("OrderedDict item is not a pair")
                k = it[0]
                if isinstance(k, Sym):
                    k = "{" + k.render().replace("{", "").replace("}", "") + "}"
                if isinstance(k, (Unknown, Opaque)):
                    return lib.ev.unknown("OrderedDict key cannot be known")
                out[k] = it[1]
    out.update(kwargs)
    return out


def _dc_field(lib: TorchLib, *a: Any, **k: Any) -> Any:
    if "default" in k:
        return k["default"]
    if "default_factory" in k:
        return lib.ev.call(k["default_factory"], [], {})
    return lib.ev.unknown("dataclass field without default", maybe_state=False)


def _dataclass_deco(lib: TorchLib, cls: Any = None, **k: Any) -> Any:
    if cls is None:
        return Intrinsic("dataclass", lambda c: _dataclass_deco(lib, c))
    if isinstance(cls, lib.ClassValue):
        cls.is_dataclass = True
    return cls


def _itertools_chain(lib: TorchLib, *its: Any) -> Any:
    out: List[Any] = []
    for it in its:
        items = lib.ev.iterate(it)
        if not isinstance(items, list):
            return lib.ev.unknown("chain over unknown items")
        out.extend(items)
    return out


def _itertools_product(lib: TorchLib, *its: Any, repeat: Any = 1) -> Any:
    """``itertools.product`` over known finite iterables (timm's attention-bias tables); unknown otherwise."""
    import itertools

    pools: List[List[Any]] = []
    for it in its:
        items = lib.ev.iterate(it)
        if not isinstance(items, list) or any(isinstance(x, (Unknown, Repeated)) for x in items):
            return lib.ev.unknown("product over unknown items", maybe_state=False)
        pools.append(items)
    if not is_int(repeat) or repeat < 0:
        return lib.ev.unknown("product with an unknown repeat", maybe_state=False)
    size = 1
    for p in pools:
        size *= len(p)
    if size ** repeat > 100_000:
        return lib.ev.unknown("product too large to unroll", maybe_state=False)
    return [tuple(t) for t in itertools.product(*pools, repeat=repeat)]


def _get_default_dtype(lib: TorchLib) -> Any:
    return DtypeValue("float32")


def _device(lib: TorchLib, *a: Any, **k: Any) -> Any:
    return DeviceValue(str(a[0]) if a and isinstance(a[0], str) else "?")


_INTRINSIC_FUNCS: Dict[str, Callable[..., Any]] = {
    "copy.deepcopy": _deepcopy,
    "copy.copy": lambda lib, v: v if not isinstance(v, list) else list(v),
    "functools.partial": _partial,
    "collections.OrderedDict": _ordered_dict,
    "dataclasses.field": _dc_field,
    "dataclasses.dataclass": _dataclass_deco,
    "itertools.chain": _itertools_chain,
    "itertools.product": _itertools_product,
    "itertools.repeat": lambda lib, x, n=None: [x] * n if is_int(n) and 0 <= n <= 10_000 else
    lib.ev.unknown("itertools.repeat without a known count", maybe_state=False),
    "torch.nn.utils.weight_norm": _weight_norm,
    "torch.nn.utils.weight_norm.weight_norm": _weight_norm,
    "torch.nn.utils.spectral_norm": _spectral_norm,
    "torch.nn.utils.spectral_norm.spectral_norm": _spectral_norm,
    "torch.nn.utils.remove_weight_norm": _remove_weight_norm,
    "torch.nn.utils.parametrizations.weight_norm": _p_weight_norm,
    "torch.nn.utils.parametrizations.spectral_norm": _p_spectral_norm,
    "torch.nn.utils.parametrizations.orthogonal": _p_orthogonal,
    "torch.nn.utils.parametrize.register_parametrization": _register_parametrization,
    "torch.get_default_dtype": _get_default_dtype,
    "torch.device": _device,
    "torch.Size": lambda lib, s=(): tuple(s) if isinstance(s, (tuple, list)) else lib.ev.unknown("Size", False),
    "torch.finfo": lambda lib, *a: lib.ev.unknown("finfo", maybe_state=False),
    "torch.is_tensor": lambda lib, x: isinstance(x, (TensorSpec, ParamValue)),
    "torch.no_grad": lambda lib, *a: _NullContext(),
    "torch.jit.is_scripting": lambda lib: False,
    "torch.jit.is_tracing": lambda lib: False,
    "torch.compiler.is_compiling": lambda lib: False,
    "torch.cuda.is_available": lambda lib: lib.ev.unknown("torch.cuda.is_available()", maybe_state=False),
    "typing.cast": lambda lib, t, v: v,
    # returns a torch.nn.functional function (relu/gelu), never state
    "torch.nn._get_activation_fn": lambda lib, *a, **k: Unknown("activation function", lib.ev.line, lib.ev.path, False),
    "warnings.warn": lambda lib, *a, **k: None,
    "einops.rearrange": lambda lib, *a, **k: _einops(lib, "rearrange", *a, **k),
    "einops.repeat": lambda lib, *a, **k: _einops(lib, "repeat", *a, **k),
    "einops.reduce": lambda lib, *a, **k: _einops(lib, "reduce", *a, **k),
}


def _einops(lib: TorchLib, op: str, tensor: Any = None, pattern: Any = None, *rest: Any, **axes: Any) -> Any:
    line, path = lib._where()
    t = tensor.tensor if isinstance(tensor, ParamValue) else tensor
    if not isinstance(t, TensorSpec):
        return lib.ev.unknown(f"einops.{op} of a value that is not a known tensor", maybe_state=False)
    axes = {k: (v.sym() if isinstance(v, Opaque) else v) for k, v in axes.items()}
    shape = tensorops.einops_shape(op, t.shape, pattern, axes)
    dtype = t.dtype
    if op == "reduce":
        reduction = rest[0] if rest else axes.get("reduction")
        dtype = tensorops.reduce_dtype(reduction if isinstance(reduction, str) else "", t.dtype) if reduction in (
            "sum", "mean", "max", "min", "prod", "any", "all") else None
    return TensorSpec(shape, dtype, line, path, "" if shape is not None else f"einops.{op} pattern {pattern!r} "
                      "cannot be resolved from the input shape")


class _NullContext:
    pass


# -- Python builtins -----------------------------------------------------------------------------

def python_builtins(ev: Any) -> Dict[str, Any]:
    from statedict_lint.predict.evaluator import ClassValue, EvalRaise, FunctionValue, _SymRange

    def _num(x: Any) -> Any:
        return x.sym() if isinstance(x, Opaque) else x

    def b_range(*args: Any) -> Any:
        args = tuple(_num(a) for a in args)
        if any(isinstance(a, Unknown) for a in args):
            return ev.unknown("range over an unknown bound", maybe_state=False)
        if not all(is_intlike(a) for a in args):
            raise EvalRaise("range() needs integers", ev.line, ev.path)
        start, stop, step = (0, args[0], 1) if len(args) == 1 else (args[0], args[1], 1) if len(args) == 2 else args
        if all(is_int(a) for a in (start, stop, step)):
            return range(start, stop, step)
        if not is_int(step):
            return ev.unknown("range with a symbolic step", maybe_state=False)
        count = _ceil_div(stop - start, step)
        if is_int(count):
            return range(0, 0) if count <= 0 else ev.unknown("range of mixed bounds", False)
        return _SymRange(start, stop, step, count)

    def b_len(x: Any) -> Any:
        if isinstance(x, (list, tuple)):
            if any(isinstance(i, Repeated) for i in x):
                total: Any = 0
                for i in x:
                    if isinstance(i, Repeated):
                        if isinstance(i.count, Unknown):
                            return ev.unknown("length of a list of unknown length", False)
                        total = total + i.count
                    else:
                        total = total + 1
                return total
            return len(x)
        if isinstance(x, (str, dict, set, frozenset, bytes)):
            return len(x)
        if isinstance(x, range):
            return len(x)
        if isinstance(x, _SymRange):
            return x.count
        if isinstance(x, ModuleValue):
            return ev.torch.container_len(x)
        if isinstance(x, (TensorSpec, ParamValue)):
            s = x.shape if isinstance(x, ParamValue) else x.shape
            return s[0] if s else ev.unknown("len of a tensor", False)
        if isinstance(x, Opaque):
            x.used_as_value = True
            return Sym.var(f"len({x.name})")
        return ev.unknown("len() of an unknown value", False)

    def b_int(x: Any = 0, base: Any = None) -> Any:
        x = _num(x)
        if isinstance(x, Sym):
            return x
        if isinstance(x, Unknown):
            return x.as_value()
        try:
            return int(x) if base is None else int(x, base)
        except (TypeError, ValueError) as exc:
            raise EvalRaise(f"int() fails: {exc}", ev.line, ev.path)

    def b_float(x: Any = 0.0) -> Any:
        if isinstance(x, (Unknown, Sym, Opaque)):
            return ev.unknown("float of a symbolic value", False)
        try:
            return float(x)
        except (TypeError, ValueError) as exc:
            raise EvalRaise(f"float() fails: {exc}", ev.line, ev.path)

    def b_str(x: Any = "") -> Any:
        x = _num(x)
        if isinstance(x, Sym):
            return "{" + x.render().replace("{", "").replace("}", "") + "}"
        if isinstance(x, (int, float, str, bool, type(None))):
            return str(x)
        return ev.unknown("str() of a value that is not concrete", False)

    def b_bool(x: Any = False) -> Any:
        t = ev.truth(x)
        from statedict_lint.predict.evaluator import UNKNOWN_BOOL

        return ev.unknown("truth value cannot be decided", False) if t is UNKNOWN_BOOL else t

    def b_list(x: Any = ()) -> Any:
        if isinstance(x, _SymRange):
            return [Repeated(ev.unknown("element of a symbolic range", False), x.count, "?")]
        items = ev.iterate(x)
        if isinstance(items, Unknown):
            return [Repeated(items, items, "?")]
        return list(items)

    def b_tuple(x: Any = ()) -> Any:
        r = b_list(x)
        return tuple(r) if isinstance(r, list) else r

    def b_dict(*a: Any, **k: Any) -> Any:
        if a:
            d = _ordered_dict(ev.torch, a[0])
            if isinstance(d, Unknown):
                return d
        else:
            d = {}
        d.update(k)
        return d

    def b_zip(*its: Any, **k: Any) -> Any:
        lists = [ev.iterate(i) for i in its]
        if any(not isinstance(x, list) or any(isinstance(y, Repeated) for y in x) for x in lists):
            return ev.unknown("zip over sequences of unknown length")
        return list(zip(*lists))

    def b_enumerate(it: Any, start: Any = 0) -> Any:
        items = ev.iterate(it)
        if not isinstance(items, list) or any(isinstance(y, Repeated) for y in items):
            if isinstance(items, _SymRange):
                return ev.unknown("enumerate over a symbolic range")
            return items if isinstance(items, Unknown) else ev.unknown("enumerate over a sequence of unknown length")
        return [(start + i, v) for i, v in enumerate(items)]

    def _minmax(name: str, *args: Any, **k: Any) -> Any:
        items = list(args) if len(args) > 1 else ev.iterate(args[0]) if args else []
        if not isinstance(items, list):
            return ev.unknown(f"{name}() over unknown values", False)
        items = [_num(i) for i in items]
        if any(isinstance(i, (Unknown, Repeated)) for i in items):
            return ev.unknown(f"{name}() of unknown values", False)
        if any(isinstance(i, Sym) for i in items):
            if all(is_intlike(i) for i in items):
                uniq = []
                for i in items:
                    if not any(_eq(i, u) for u in uniq):
                        uniq.append(i)
                return uniq[0] if len(uniq) == 1 else Sym.atom(name, *uniq)
            return ev.unknown(f"{name}() of symbolic values", False)
        if "key" in k:
            return ev.unknown(f"{name}() with key=", False)
        if not items:
            if "default" in k:
                return k["default"]
            raise EvalRaise(f"{name}() of an empty sequence", ev.line, ev.path)
        try:
            return (min if name == "min" else max)(items)
        except TypeError:
            return ev.unknown(f"{name}() of mixed values", False)

    def b_sum(it: Any, start: Any = 0) -> Any:
        items = ev.iterate(it)
        if not isinstance(items, list):
            return ev.unknown("sum of unknown values", False)
        total = start
        for i in items:
            total = ev.binop("+", total, i)
        return total

    def b_abs(x: Any) -> Any:
        x = _num(x)
        if isinstance(x, (int, float)):
            return abs(x)
        return ev.unknown("abs of a symbolic value", False)

    def b_round(x: Any, n: Any = None) -> Any:
        if isinstance(x, (int, float)) and (n is None or is_int(n)):
            return round(x) if n is None else round(x, n)
        return ev.unknown("round of a symbolic value", False)

    def b_isinstance(obj: Any, cls: Any) -> Any:
        classes = cls if isinstance(cls, tuple) else (cls,)
        results = [_isinstance(ev, obj, c) for c in classes]
        if any(r is True for r in results):
            return True
        if all(r is False for r in results):
            return False
        return ev.unknown("isinstance of a value whose type is unknown", False)

    def b_issubclass(c: Any, parent: Any) -> Any:
        if isinstance(c, ClassValue) and isinstance(parent, ClassValue):
            return parent in c.mro()
        return ev.unknown("issubclass cannot be decided", False)

    def b_dir(*args: Any) -> Any:
        if len(args) == 1 and isinstance(args[0], NamespaceValue) and args[0].scope is None and \
                args[0].qualname.split(".")[0] == "torch":
            return TorchDir(args[0].qualname)
        return ev.unknown("dir() is not modelled", False)

    def b_hasattr(obj: Any, name: Any) -> Any:
        if not isinstance(name, str):
            return ev.unknown("hasattr with an unknown name", False)
        if isinstance(obj, Opaque) and obj.bound and name in obj.bound:
            return True
        if isinstance(obj, (ModuleValue, InstanceValue)):
            found, _ = obj.lookup(name) if isinstance(obj, ModuleValue) else (name in obj.attrs, None)
            if found:
                return True
            if isinstance(obj.cls, ClassValue) and obj.cls.find(name)[1] is not None:
                return True
            if isinstance(obj, ModuleValue) and name in ("register_buffer", "forward", "training"):
                return True
            return False
        if isinstance(obj, ClassValue):
            return obj.find(name)[1] is not None
        if isinstance(obj, NamespaceValue) and obj.scope is None and TorchDir(obj.qualname).contains(name):
            return True  # feature checks of torch >= 2.0, the version the catalog models
        if isinstance(obj, NamespaceValue) and obj.scope is not None:
            found, _ = obj.scope.lookup(name)
            return True if found else ev.unknown(f"hasattr on module `{obj.qualname}`", False)
        return ev.unknown("hasattr on an unknown value", False)

    def b_getattr(obj: Any, name: Any, *default: Any) -> Any:
        if not isinstance(name, str):
            return ev.unknown("getattr with a name that cannot be known")
        if isinstance(obj, Opaque):
            obj.used_as_value = True
            if obj.bound and name in obj.bound:  # `--set args.use_norm=True`
                return obj.bound[name]
            return Opaque(f"{obj.name}.{name}", "", obj.line, obj.path)
        if default:
            h = b_hasattr(obj, name)
            if h is False:
                return default[0]
            if h is not True:
                if isinstance(obj, dict):
                    return default[0]
                return ev.unknown(f"getattr(..., {name!r}, default) on a value that cannot be inspected")
        try:
            return ev.getattr(obj, name)
        except EvalRaise:
            if default:
                return default[0]
            raise

    def b_setattr(obj: Any, name: Any, value: Any) -> None:
        if isinstance(name, Sym):
            name = "{" + name.render().replace("{", "").replace("}", "") + "}"
        if not isinstance(name, str):
            if isinstance(obj, ModuleValue):
                obj.unknown_attrs[f"<setattr at line {ev.line}>"] = Entry(
                    Unknown("setattr with a name that cannot be known", ev.line, ev.path), ev.line, ev.path)
            return None
        ev.setattr(obj, name, value)
        return None

    def b_sorted(it: Any, key: Any = None, reverse: Any = False) -> Any:
        items = ev.iterate(it)
        if not isinstance(items, list) or key is not None:
            return ev.unknown("sorted() cannot be evaluated", False)
        try:
            return sorted(items, reverse=bool(reverse))
        except TypeError:
            return ev.unknown("sorted() of mixed values", False)

    def b_reversed(it: Any) -> Any:
        items = ev.iterate(it)
        if not isinstance(items, list) or any(isinstance(i, Repeated) for i in items):
            return ev.unknown("reversed() of a sequence of unknown length")
        return list(reversed(items))

    def b_anyall(name: str, it: Any) -> Any:
        items = ev.iterate(it)
        if not isinstance(items, list):
            return ev.unknown(f"{name}() of unknown values", False)
        vals = [ev.truth(i) for i in items]
        from statedict_lint.predict.evaluator import UNKNOWN_BOOL

        if name == "any":
            if any(v is True for v in vals):
                return True
            return False if all(v is False for v in vals) else ev.unknown("any() cannot be decided", False)
        if any(v is False for v in vals):
            return False
        return True if all(v is True for v in vals) else ev.unknown("all() cannot be decided", False)
        del UNKNOWN_BOOL

    def b_map(fn: Any, *its: Any) -> Any:
        lists = [ev.iterate(i) for i in its]
        if any(not isinstance(x, list) or any(isinstance(y, Repeated) for y in x) for x in lists):
            return ev.unknown("map over unknown values")
        return [ev.call(fn, list(args), {}) for args in zip(*lists)]

    def b_filter(fn: Any, it: Any) -> Any:
        items = ev.iterate(it)
        if not isinstance(items, list):
            return ev.unknown("filter over unknown values")
        out = []
        for i in items:
            t = ev.truth(i if fn is None else ev.call(fn, [i], {}))
            if t is not True and t is not False:
                return ev.unknown("filter cannot be decided")
            if t:
                out.append(i)
        return out

    def b_divmod(a: Any, b: Any) -> Any:
        return (ev.binop("//", a, b), ev.binop("%", a, b))

    def b_pow(a: Any, b: Any, m: Any = None) -> Any:
        return ev.binop("**", a, b)

    def b_type(obj: Any, *rest: Any) -> Any:
        if rest:
            return ev.unknown("type() with three arguments")
        if isinstance(obj, (ModuleValue, InstanceValue)):
            return obj.cls
        for t in (bool, int, float, str, list, tuple, dict):
            if type(obj) is t:
                return builtins[t.__name__]
        return ev.unknown("type of an unknown value", False)

    def b_next(it: Any, *default: Any) -> Any:
        items = ev.iterate(it)
        if isinstance(items, list) and items and not isinstance(items[0], Repeated):
            return items[0]
        if isinstance(items, list) and not items and default:
            return default[0]
        return ev.unknown("next() cannot be evaluated")

    def b_iter(it: Any) -> Any:
        return it

    def b_callable(x: Any) -> Any:
        if isinstance(x, (FunctionValue, ClassValue, Intrinsic, BoundMethod, Partial)):
            return True
        if isinstance(x, (int, float, str, type(None), list, tuple, dict)):
            return False
        return ev.unknown("callable() cannot be decided", False)

    def b_exception(name: str) -> Any:
        return Intrinsic(name, lambda *a, **k: _ExceptionValue(name))

    builtins: Dict[str, Any] = {
        "range": Intrinsic("range", b_range), "len": Intrinsic("len", b_len), "int": Intrinsic("int", b_int),
        "float": Intrinsic("float", b_float), "str": Intrinsic("str", b_str), "bool": Intrinsic("bool", b_bool),
        "list": Intrinsic("list", b_list), "tuple": Intrinsic("tuple", b_tuple), "dict": Intrinsic("dict", b_dict),
        "set": Intrinsic("set", lambda x=(): set(x) if isinstance(x, (list, tuple, set)) and all(_plain_hashable(i) for i in x) else ev.unknown("set()", False)),
        "frozenset": Intrinsic("frozenset", lambda x=(): frozenset(x) if isinstance(x, (list, tuple, set)) and all(_plain_hashable(i) for i in x) else ev.unknown("frozenset()", False)),
        "zip": Intrinsic("zip", b_zip), "enumerate": Intrinsic("enumerate", b_enumerate),
        "min": Intrinsic("min", lambda *a, **k: _minmax("min", *a, **k)),
        "max": Intrinsic("max", lambda *a, **k: _minmax("max", *a, **k)),
        "sum": Intrinsic("sum", b_sum), "abs": Intrinsic("abs", b_abs), "round": Intrinsic("round", b_round),
        "isinstance": Intrinsic("isinstance", b_isinstance), "issubclass": Intrinsic("issubclass", b_issubclass),
        "dir": Intrinsic("dir", b_dir), "hasattr": Intrinsic("hasattr", b_hasattr), "getattr": Intrinsic("getattr", b_getattr),
        "setattr": Intrinsic("setattr", b_setattr), "sorted": Intrinsic("sorted", b_sorted),
        "reversed": Intrinsic("reversed", b_reversed),
        "any": Intrinsic("any", lambda it: b_anyall("any", it)), "all": Intrinsic("all", lambda it: b_anyall("all", it)),
        "map": Intrinsic("map", b_map), "filter": Intrinsic("filter", b_filter),
        "divmod": Intrinsic("divmod", b_divmod), "pow": Intrinsic("pow", b_pow), "type": Intrinsic("type", b_type),
        "print": Intrinsic("print", lambda *a, **k: None), "next": Intrinsic("next", b_next),
        "iter": Intrinsic("iter", b_iter), "callable": Intrinsic("callable", b_callable),
        "super": Intrinsic("super", lambda *a: ev.unknown("super() outside a method")),
        "object": _object_class(ev),
        "None": None, "True": True, "False": False, "NotImplemented": NotImplemented,
        "id": Intrinsic("id", lambda x: ev.unknown("id()", False)),
        "hash": Intrinsic("hash", lambda x: ev.unknown("hash()", False)),
        "repr": Intrinsic("repr", lambda x: repr(x) if isinstance(x, (int, float, str, bool, type(None))) else ev.unknown("repr()", False)),
        "vars": Intrinsic("vars", lambda *a: ev.unknown("vars()", False)),
        "locals": Intrinsic("locals", lambda *a: ev.unknown("locals()", False)),
        "globals": Intrinsic("globals", lambda *a: ev.unknown("globals()", False)),
        "__import__": Intrinsic("__import__", lambda *a, **k: ev.unknown("__import__()")),
        "OrderedDict": Intrinsic("OrderedDict", lambda *a, **k: _ordered_dict(ev.torch, *a, **k)),
    }
    for exc in ("ValueError", "TypeError", "KeyError", "IndexError", "NotImplementedError", "RuntimeError",
                "AssertionError", "AttributeError", "ImportError", "ModuleNotFoundError", "Exception",
                "ZeroDivisionError", "StopIteration", "NameError", "OSError", "Warning", "UserWarning",
                "DeprecationWarning"):
        builtins[exc] = b_exception(exc)
    return builtins


_ITERABLE = {"Iterable", "Collection", "Container", "Sized", "Reversible"}


def _abstract_isinstance(obj: Any, name: str) -> Any:
    """isinstance against numbers.*, collections.abc.*, types.* for values whose type is known."""
    from statedict_lint.predict.evaluator import ClassValue, FunctionValue

    short = name.split(".")[-1]
    plain = (int, float, str, bool, list, tuple, dict, set, type(None), Sym)
    if name.startswith("numbers."):
        if isinstance(obj, (bool, int, Sym)):
            return short in ("Integral", "Rational", "Real", "Complex", "Number")
        if isinstance(obj, float):
            return short in ("Real", "Complex", "Number")
        if isinstance(obj, plain) or isinstance(obj, (ModuleValue, ClassValue, FunctionValue, TensorSpec)):
            return False
        return None
    if name.startswith("collections.abc.") or name.startswith("typing."):
        if isinstance(obj, (int, float, bool, type(None), Sym)):
            return False if short in _ITERABLE | {"Sequence", "Mapping", "MutableSequence", "MutableMapping",
                                                   "Set", "Iterator", "Generator"} else None
        if isinstance(obj, (list, tuple, str)):
            if short in _ITERABLE or short == "Sequence":
                return True
            if short in ("Mapping", "MutableMapping", "Set", "Iterator", "Generator"):
                return False
            if short == "MutableSequence":
                return isinstance(obj, list)
        if isinstance(obj, dict):
            return True if short in _ITERABLE | {"Mapping", "MutableMapping"} else \
                False if short in ("Sequence", "MutableSequence", "Set") else None
        if isinstance(obj, (ClassValue, FunctionValue, Partial)):
            return True if short == "Callable" else False if short in _ITERABLE | {"Sequence", "Mapping"} else None
        return None
    if name.startswith("types."):
        if short in ("FunctionType", "LambdaType"):
            if isinstance(obj, FunctionValue):
                return True
            if isinstance(obj, plain) or isinstance(obj, (ClassValue, Partial, ModuleValue, InstanceValue)):
                return False
        return None
    return None


class _ExceptionValue:
    def __init__(self, name: str) -> None:
        self.name = name


def _object_class(ev: Any) -> Any:
    from statedict_lint.predict.evaluator import ClassValue

    c = ClassValue("object", "builtins.object", [], None, None)  # type: ignore[arg-type]
    c.intrinsic = "object"
    return c


def _plain_hashable(x: Any) -> bool:
    return isinstance(x, (int, float, str, bool, type(None), tuple, Sym)) and not isinstance(x, Repeated)


def _eq(a: Any, b: Any) -> bool:
    if isinstance(a, Sym) or isinstance(b, Sym):
        return isinstance(a, Sym) and isinstance(b, Sym) and a == b
    return a == b


def _isinstance(ev: Any, obj: Any, cls: Any) -> Any:
    from statedict_lint.predict.evaluator import ClassValue, FunctionValue

    if isinstance(obj, (Unknown,)):
        return None
    if isinstance(obj, Opaque):
        # An unbound value checked against `int` (e.g. `normalized_shape`, `kernel_size`) is modelled as
        # an integer symbol: symbolic results are never complete, and binding the value makes them exact.
        obj.used_as_value = True
        is_int_check = isinstance(cls, Intrinsic) and cls.name == "int" or isinstance(cls, _TypingAlias) and \
            cls.name in ("numbers.Integral", "numbers.Number", "numbers.Real")
        if is_int_check and obj.kind == "seq":
            return False  # annotated as a list/tuple/sequence
        if is_int_check and obj.kind in ("", "int", "value"):
            return True
        return None
    if isinstance(cls, Intrinsic) and cls.name == "type":
        if isinstance(obj, ClassValue):
            return True
        if isinstance(obj, (int, float, str, bool, list, tuple, dict, type(None), Sym, ModuleValue, InstanceValue,
                            FunctionValue, Partial, TensorSpec, ParamValue)):
            return False
        return None
    if isinstance(cls, Intrinsic) and cls.name == "functools.partial":
        if isinstance(obj, Partial):
            return True
        if isinstance(obj, (int, float, str, bool, list, tuple, dict, type(None), Sym, ModuleValue, InstanceValue,
                            FunctionValue, ClassValue, TensorSpec, ParamValue)):
            return False
        return None
    if isinstance(cls, Intrinsic) and cls.name in ("torch.nn.Parameter", "torch.Tensor"):
        if isinstance(obj, ParamValue):
            return True
        if isinstance(obj, TensorSpec):
            return cls.name == "torch.Tensor"
        if isinstance(obj, (int, float, str, bool, list, tuple, dict, type(None), Sym, ModuleValue)):
            return False
        return None
    if isinstance(cls, Intrinsic):
        pytypes = {"int": int, "float": float, "str": str, "bool": bool, "list": list, "tuple": tuple, "dict": dict,
                   "set": set}
        t = pytypes.get(cls.name)
        if t is None:
            return None
        if isinstance(obj, Sym):
            return t is int
        if t is int and isinstance(obj, bool):
            return True
        if isinstance(obj, (int, float, str, bool, list, tuple, dict, set)):
            return isinstance(obj, t)
        return False
    if isinstance(cls, _TypingAlias):
        return _abstract_isinstance(obj, cls.name)
    if isinstance(cls, ClassValue):
        if cls.intrinsic == "object":
            return True
        if isinstance(obj, (ModuleValue, InstanceValue)):
            if isinstance(obj.cls, ClassValue):
                return cls in obj.cls.mro()
            return None
        if isinstance(obj, (ParamValue,)):
            return cls.qualname in ("torch.nn.Parameter",)
        if isinstance(obj, (int, float, str, bool, list, tuple, dict, type(None), Sym, TensorSpec, FunctionValue)):
            return False
        return None
    if isinstance(cls, Intrinsic) or cls is None:
        return None
    if isinstance(cls, NamespaceValue):
        return None
    return None
