"""torch beyond the catalog of layers: nn.Module semantics (``__setattr__`` routing into parameters,
buffers and children, the ``register_*`` methods, ``.to()``/casts, walks over modules), intrinsic classes,
the containers (``torch_containers.py``) and tensors (``torch_tensors.py``).

Layers with state live in ``catalog/torch_nn.py`` (interpreted like user code); layers without state are
listed there in ``STATELESS``. Parametrizations and weight/spectral norm are in ``parametrize.py``.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Any, Callable, Dict, List, Optional, Tuple

from statedict_lint.predict.catalog import STATELESS
from statedict_lint.predict.engine_api import Engine
from statedict_lint.predict.libs import NOT_MINE, LibraryModel, register
from statedict_lint.predict.libs._common import NullContext, canonical, raise_
from statedict_lint.predict.libs.parametrize import PARAMETRIZE_FUNCTIONS
from statedict_lint.predict.libs.torch_containers import ContainerMixin
from statedict_lint.predict.libs.torch_tensors import TensorMixin
from statedict_lint.predict.symbolic import Sym
from statedict_lint.predict.values import (
    BufferMarker,
    ClassValue,
    DeviceValue,
    DtypeValue,
    Entry,
    Intrinsic,
    ModuleValue,
    NamespaceValue,
    Opaque,
    ParamValue,
    Repeated,
    StarUnknown,
    TableView,
    TensorSpec,
    Unknown,
)
from statedict_lint.torchfacts import (
    CONTAINER_METHODS,
    CONTAINERS,
    DTYPES,
    FACTORIES,
    FLOATING,
    MODULE_ATTRS,
    MODULE_SELF_RETURNING,
    TORCH2_FEATURES,
    TORCH_INIT_METHODS,
)


class TorchDir:
    """``dir(torch.nn.functional)``: membership is known for the features of the torch the catalog models
    (``'hardswish' in dir(F)``, timm's activation factory); anything else stays undecidable."""

    def __init__(self, qualname: str) -> None:
        self.qualname = qualname

    def contains(self, name: Any) -> Optional[bool]:
        if isinstance(name, str) and f"{self.qualname}.{name}" in TORCH2_FEATURES:
            return True
        return None


def _d(name: str) -> DtypeValue:
    return DtypeValue(DTYPES.get(name, name))


def _get_default_dtype(lib: TorchLib) -> Any:
    d = lib.ev.default_dtype
    return DtypeValue(d) if d is not None else lib.ev.unknown("torch's default dtype cannot be known", False)


def _set_default_dtype(lib: TorchLib, d: Any = None) -> Any:
    """``torch.set_default_dtype``: the default floating dtype of every tensor made after it. Run by an import
    the evaluation reached only during construction (Python ran it before), the prediction is redone with it."""
    ev = lib.ev
    name = d.name if isinstance(d, DtypeValue) and d.name in ("float32", "float64", "float16", "bfloat16") else None
    if name is None:
        ev.note("torch.set_default_dtype with a dtype that cannot be known: floating dtypes after it are unknown")
    if ev.loading and ev.constructing and ev.late_default_dtype is None:
        ev.late_default_dtype = (name, ev.line, ev.path)
    ev.default_dtype = name
    return None


def _device(lib: TorchLib, *a: Any, **k: Any) -> Any:
    return DeviceValue(str(a[0]) if a and isinstance(a[0], str) else "?")


@register
class TorchLib(ContainerMixin, TensorMixin, LibraryModel):
    name = "torch"
    roots = ("torch",)
    maybe_state = True
    functions = {}  # filled below the class (TORCH_FUNCTIONS)

    def __init__(self, ev: Engine) -> None:
        super().__init__(ev)
        self.module_cls = ClassValue("Module", "torch.nn.Module", [], None, None)
        self.module_cls.intrinsic = "Module"
        self.module_cls.attrs = {}
        self._classes: Dict[str, Any] = {"torch.nn.Module": self.module_cls}
        for c in CONTAINERS:
            cv = ClassValue(c, f"torch.nn.{c}", [self.module_cls], None, None)
            cv.intrinsic = c
            self._classes[f"torch.nn.{c}"] = cv
        self._stateless: Optional[set] = None

    # -- namespaces --------------------------------------------------------------------------
    def canonical(self, dotted: str) -> str:
        return canonical(dotted)

    def stateless(self) -> set:
        if self._stateless is None:
            self._stateless = set(STATELESS)
        return self._stateless

    def attribute(self, full: str) -> Any:
        ev = self.ev
        attr = full.split(".")[-1]
        if full in self._classes:
            return self._classes[full]
        if full.startswith("torch.nn.") and full.count(".") == 2:
            name = attr
            if name in ("Parameter", "Buffer", "UninitializedParameter", "UninitializedBuffer"):
                return Intrinsic(full, getattr(self, f"make_{name.lower()}"))
            if name in self.stateless():
                return self._stateless_class(name)
            cat = ev.catalog()
            found, v = cat.lookup(name)
            if found and isinstance(v, ClassValue):
                return v
            if name in ("functional", "init", "utils", "parameter", "modules", "common_types", "grad",
                        "attention", "intrinsic", "qat", "quantized", "parallel"):
                return NamespaceValue(full)
            if name[:1].isupper():
                return Unknown(f"`{full}` is not in statedict-lint's catalog of torch.nn layers", ev.line, ev.path)
        if full.count(".") == 1 and attr in DTYPES:
            return _d(attr)
        if full in TORCH_NAMESPACES:
            return NamespaceValue(full)
        if full.startswith("torch.nn.modules.") or full.startswith("torch.nn.") and full.count(".") >= 3:
            return NamespaceValue(full)
        if full.startswith("torch.nn.init."):
            return Intrinsic(full, lambda *a, **k: a[0] if a else None)
        if full.startswith("torch.nn.functional."):
            return Intrinsic(full, lambda *a, **k: ev.unknown(f"result of `{full}`", maybe_state=False))
        if attr in FACTORIES:
            return Intrinsic(full, lambda *a, **k: self.factory(attr, a, k))
        return NOT_MINE

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
        if cls.intrinsic == "stateless" and name == "__init__":  # a torch layer without state: any arguments
            return Intrinsic(f"{cls.name}.__init__", lambda *a, **k: None)
        if cls.intrinsic == "stateless" or cls.intrinsic in CONTAINERS or cls.intrinsic == "Module":
            if name in ("__init__",):
                return Intrinsic("Module.__init__", lambda m=None, *a, **k: self.module_init(m, *a, **k))
            if name == "__setattr__":
                return Intrinsic("Module.__setattr__", lambda m, n, v: self.module_setattr(m, n, v)
                                 if isinstance(m, ModuleValue) else None)
            if name == "__delattr__":
                return Intrinsic("Module.__delattr__", lambda m, n: self.ev.delattr_named(m, n)
                                 if isinstance(m, ModuleValue) else None)
        return self.ev.unknown(f"class `{cls.name}` has no attribute `{name}`")

    def module_init(self, m: Any, *args: Any, **kwargs: Any) -> None:
        """``nn.Module.__init__``: a fresh ``_parameters``, ``_buffers`` and ``_modules`` -- calling it again
        forgets everything registered before (plain attributes stay). Arguments it never takes are torch's
        TypeError (a keyword meant for a class that was not reached)."""
        known = {k: v for k, v in kwargs.items() if k != "**"}
        if known or args:
            what = f"keyword argument '{next(iter(known))}'" if known else "positional arguments"
            name = m.cls.name if isinstance(m, ModuleValue) and hasattr(m.cls, "name") else "Module"
            raise raise_(self.ev, f"TypeError: {name}.__init__() got an unexpected {what} (nn.Module.__init__ "
                                  f"takes none)")
        if isinstance(m, ModuleValue) and not m.container:
            m.params.clear()
            m.buffers.clear()
            m.children.clear()

    def _stateless_class(self, name: str, qual: Optional[str] = None) -> Any:
        key = qual or f"torch.nn.{name}"
        if key not in self._classes:
            cv = ClassValue(name, key, [self.module_cls], None, None)
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

        args = [Repeated(a.value, Unknown("?"), "?") if isinstance(a, StarUnknown) else a for a in args]
        if kind == "Sequential":
            if len(args) == 1 and isinstance(args[0], OrderedDict):  # torch: an OrderedDict only, a dict is an item
                for k, v in args[0].items():
                    self.add_child(m, getattr(k, "key", k), v)  # a SymKey's symbol; add_child refuses what is not a name
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

    # -- module semantics (torch.nn.Module.__setattr__ & co) -----------------------------------
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
            raise raise_(self.ev, f"cannot assign a non-Parameter to parameter `{name}`")
        if name in m.children:
            if value is None:
                m.children[name].value = None
                return
            if isinstance(value, (Unknown, Opaque)):
                m.children[name].value = Unknown(f"`{name}` is assigned a value that cannot be known", line, path)
                return
            raise raise_(self.ev, f"cannot assign a non-Module to child module `{name}`")
        if name in m.buffers:
            if value is None or isinstance(value, TensorSpec):
                m.buffers[name].value = value
                return
            if isinstance(value, (Unknown, Opaque)):
                m.buffers[name].value = Unknown(f"buffer `{name}` is assigned a value that cannot be known", line, path)
                return
            raise raise_(self.ev, f"cannot assign a non-tensor to buffer `{name}`")
        maybe = self._maybe_state_value(value)
        if maybe is not None:
            m.attrs.pop(name, None)
            m.unknown_attrs[name] = Entry(maybe, line, path)
            return
        m.unknown_attrs.pop(name, None)
        m.attrs[name] = value

    def object_setattr(self, m: ModuleValue, name: str, value: Any) -> None:
        """``object.__setattr__(module, name, value)``: the instance ``__dict__``, bypassing nn.Module's
        registration -- a module, parameter or buffer put there is a plain attribute, never in the state_dict.
        Over a registered name the two coexist (attribute reads see the ``__dict__`` one): not modelled."""
        line, path = self._where()
        if name in m.params or name in m.buffers or name in m.children:
            m.unknown_attrs[f"<object.__setattr__ {name} at line {line}>"] = Entry(Unknown(
                f"`object.__setattr__` over the registered `{name}` is not modelled", line, path), line, path)
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
        if not exists and isinstance(m.cls, ClassValue):
            exists = any(name in c.attrs for c in m.cls.mro() if not c.intrinsic and not c.qualname.startswith("torch."))
        if exists:
            raise raise_(self.ev, f"attribute '{name}' already exists")

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
                raise raise_(self.ev, f"register_buffer(`{name}`) needs a tensor or None")
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
            raise raise_(self.ev, f"register_parameter(`{name}`) needs a Parameter or None")
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
            raise raise_(self.ev, f"`{name}` is not a Module")
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
            "apply": lambda fn: self.module_apply(m, fn),
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
            "register_full_backward_pre_hook": lambda *a, **k: None,
            "register_state_dict_pre_hook": lambda *a, **k: self._state_hook(m, "register_state_dict_pre_hook"),
            "register_load_state_dict_pre_hook": lambda *a, **k: None,
            "register_load_state_dict_post_hook": lambda *a, **k: None,
            "_register_state_dict_hook": lambda *a, **k: self._state_hook(m, "_register_state_dict_hook"),
            "register_state_dict_post_hook": lambda *a, **k: self._state_hook(m, "register_state_dict_post_hook"),
            "_register_load_state_dict_pre_hook": lambda *a, **k: None,
            "get_submodule": lambda target: self._get_submodule(m, target),
            "set_submodule": lambda target, module, strict=False: self._set_submodule(m, target, module, strict),
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
        if name in MODULE_SELF_RETURNING and name not in simple:  # device moves (xpu, ipu, mtia): no state change
            return Intrinsic(f"Module.{name}", lambda *a, **k: m)
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
            table = {"_parameters": m.params, "_buffers": m.buffers, "_modules": m.children}[name]

            def forget() -> None:
                # what it held is removed through it (`self._modules.clear()`, `del self._modules[k]`): none of it
                # is claimed any more
                at = self.ev.line
                for k, e in table.items():
                    if e.value is not None and not isinstance(e.value, Unknown):
                        e.value = Unknown(f"`{k}` may be removed through `{name}` (line {at}), which is not "
                                          f"modelled", at, path)

            m.unknown_attrs[f"<{name} at line {line}>"] = Entry(
                Unknown(f"direct access to `{name}` is not modelled: registrations through it are missing",
                        line, path), line, path)
            return TableView(f"direct access to `{name}` is not modelled", line, path, forget)
        if name == "__dict__":
            return ev.unknown("module __dict__", maybe_state=False)
        if name in ("forward", "extra_repr", "state_dict", "load_state_dict"):
            return Intrinsic(f"Module.{name}", lambda *a, **k: ev.unknown(f"result of Module.{name}()", maybe_state=False))
        if name in MODULE_ATTRS or m.container and name in CONTAINER_METHODS.get(m.container, ()):
            # torch has it, statedict-lint does not model it: calling it may change the module's state
            def unmodelled(*a: Any, **k: Any) -> Any:
                line, path = self._where()
                self.handed_over(m, f"`{name}()` at line {line}", f"`{m.name}.{name}` is not modelled", line, path)
                return ev.unknown(f"result of `{name}()`")

            return Intrinsic(f"Module.{name}", unmodelled)
        if m.opened is not None:  # code that was not followed may have set it: unknown, never an AttributeError
            return Unknown(f"`{name}`: {m.opened.reason}", m.opened.line, m.opened.path)
        raise raise_(ev, f"`{m.name}` object has no attribute `{name}`", attr=True)

    def handed_over(self, m: ModuleValue, who: str, why: str, line: int, path: str, hooks: bool = False) -> None:
        """``m`` was handed to code that is not followed (``who``, e.g. "`init(...)` at line 12", because ``why``):
        it may have added, removed or replaced anything in ``m`` and in every module inside it. What they held
        becomes Unknown with the line (no key of it is claimed; reading it gives that Unknown), a name they did not
        hold reads as Unknown too (``opened``: never a false AttributeError), and ``m`` says why it is incomplete.
        With ``hooks`` (code that can do anything with the module, not one of torch's methods) it may also have
        registered a state_dict hook: the keys saved up to the end of ``m`` are not claimed either (render)."""
        what = f"may have been changed by {who}, which is not followed"
        seen: set = set()
        todo = [m]
        while todo:
            cur = todo.pop()
            if id(cur) in seen:
                continue
            seen.add(id(cur))
            for t in (cur.params, cur.buffers, cur.children):
                for k, e in t.items():
                    if isinstance(e.value, ModuleValue):
                        todo.append(e.value)
                    if not isinstance(e.value, Unknown):
                        e.value = Unknown(f"`{k}` {what}", line, path)
            for k, v in list(cur.attrs.items()):
                if isinstance(v, ModuleValue):  # (a module kept out of the tables is reachable as well)
                    todo.append(v)
                if not isinstance(v, Unknown):
                    cur.attrs[k] = Unknown(f"`{k}` {what}", line, path, False)
            cur.opened = Unknown(f"`{cur.name}` {what}", line, path)
        # (the modules inside are reached through `m` only and their entries are unknown now: one reason is enough)
        if hooks:
            hook = (line, path, f"{who} is not followed ({why}): it may add, remove or replace submodules, parameters "
                                f"and buffers of `{m.name}`, or register a state_dict hook on it")
            if hook not in m.state_hooks:
                m.state_hooks.append(hook)
        else:
            label = who.replace("`", "")
            m.unknown_attrs[f"<{label}>"] = Entry(Unknown(
                f"{who} is not followed ({why}): it may add, remove or replace submodules, parameters and buffers "
                f"of `{m.name}`", line, path), line, path)

    def module_apply(self, m: ModuleValue, fn: Any) -> ModuleValue:
        """``Module.apply(fn)``: ``fn`` on every submodule (children first, each ``children()`` without
        duplicates), then on the module itself -- as torch does. A conditional child gets ``fn`` like the others
        (what it does there is conditional with the child), a child repeated by a symbolic loop gets it once, on
        the module standing for every repetition; an unknown child is unknown already. With a function that
        cannot be known, the module's state is unknown."""
        kids: List[Any] = []
        for e in m.children.values():
            if isinstance(e.value, ModuleValue) and all(e.value is not k for k in kids):
                kids.append(e.value)
        if isinstance(fn, (Unknown, Opaque)):
            # every submodule (and the module) is handed to it: anything in them may be added, removed or replaced
            line, path = self._where()
            why = fn.reason if isinstance(fn, Unknown) else f"`{fn.name}` is an unbound parameter"
            self.handed_over(m, f"the function given to `apply()` at line {line}", why, line, path, hooks=True)
            return m
        for child in kids:
            if isinstance(child, ModuleValue):
                self.module_apply(child, fn)
        self.ev.call(fn, [m], {})
        return m

    def _is_torch_layer(self, m: ModuleValue) -> bool:
        cls = m.cls
        return isinstance(cls, ClassValue) and any(c.qualname.startswith("torch.nn.") for c in cls.mro())

    def _state_hook(self, m: ModuleValue, how: str) -> Any:
        """A state_dict hook runs code at save time over the keys saved so far: which keys torch saves is not
        known (see render: the keys up to the end of this module are not claimed)."""
        line, path = self._where()
        hook = (line, path, f"`{how}` on `{m.name}` (line {line}) registers a hook that may rename, drop or "
                            f"change keys at save time")
        if hook not in m.state_hooks:
            m.state_hooks.append(hook)
        return self.ev.unknown(f"handle returned by `{how}`", maybe_state=False)

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
            if isinstance(cur, Unknown):  # (a module handed to code not followed, ...): what is inside is unknown
                return cur
            if isinstance(cur, ModuleValue) and part not in cur.children and cur.opened is not None:
                return Unknown(f"`{part}`: {cur.opened.reason}", cur.opened.line, cur.opened.path)
            if not isinstance(cur, ModuleValue) or part not in cur.children:
                raise raise_(self.ev, f"no submodule `{target}`")
            cur = cur.children[part].value
        return cur

    def _set_submodule(self, m: ModuleValue, target: Any, module: Any, strict: Any = False) -> None:
        """``Module.set_submodule`` as torch 2.x: the parent by ``get_submodule``, then ``setattr``."""
        ev = self.ev
        if not isinstance(target, str) or not isinstance(strict, bool):
            line, path = self._where()
            self.handed_over(m, f"`set_submodule()` at line {line}", "its target cannot be known", line, path)
            return None
        if target == "":
            raise raise_(ev, "ValueError: Cannot set the submodule without a target name!")
        if not isinstance(module, (ModuleValue, Unknown, Opaque)):
            raise raise_(ev, "ValueError: `module` is not an nn.Module")
        parent_key, _, leaf = target.rpartition(".")
        parent = self._get_submodule(m, parent_key)
        if not isinstance(parent, ModuleValue):  # unknown already: what it holds stays unknown
            return None
        found, old = parent.lookup(leaf)
        if strict and not found and parent.opened is None:
            raise raise_(ev, f"AttributeError: `{parent.name}` has no attribute `{leaf}`", attr=True)
        if found and not isinstance(old, (ModuleValue, Unknown, Opaque)):
            raise raise_(ev, f"AttributeError: `{leaf}` is not an nn.Module", attr=True)
        ev.setattr(parent, leaf, module)
        return None

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


TORCH_NAMESPACES = frozenset((
    "torch.nn", "torch.nn.functional", "torch.nn.init", "torch.nn.utils", "torch.nn.utils.parametrizations",
    "torch.nn.utils.parametrize", "torch.nn.parameter", "torch.nn.modules", "torch.utils", "torch.utils.checkpoint",
    "torch.jit", "torch.cuda", "torch.distributed", "torch.backends", "torch.fx", "torch.autograd", "torch.linalg",
    "torch.fft", "torch.special", "torch.nn.attention", "torch.nn.utils.rnn", "torch._C", "torch.amp",
    "torch.compiler", "torch.overrides", "torch.nn.common_types",
))

TorchLib.functions = {
    **PARAMETRIZE_FUNCTIONS,
    "torch.get_default_dtype": _get_default_dtype,
    "torch.set_default_dtype": _set_default_dtype,
    "torch.set_default_tensor_type": lambda lib, t=None: _set_default_dtype(lib, DtypeValue(
        {"torch.FloatTensor": "float32", "torch.DoubleTensor": "float64", "torch.HalfTensor": "float16",
         "torch.BFloat16Tensor": "bfloat16"}.get(t if isinstance(t, str) else getattr(t, "name", ""), "?"))),
    "torch.device": _device,
    "torch.Size": lambda lib, s=(): tuple(s) if isinstance(s, (tuple, list)) else lib.ev.unknown("Size", False),
    "torch.finfo": lambda lib, *a: lib.ev.unknown("finfo", maybe_state=False),
    "torch.is_tensor": lambda lib, x: isinstance(x, (TensorSpec, ParamValue)),
    "torch.no_grad": lambda lib, *a: NullContext(),
    "torch.jit.is_scripting": lambda lib: False,
    "torch.jit.is_tracing": lambda lib: False,
    "torch.compiler.is_compiling": lambda lib: False,
    "torch.cuda.is_available": lambda lib: lib.ev.unknown("torch.cuda.is_available()", maybe_state=False),
    # returns a torch.nn.functional function (relu/gelu), never state
    "torch.nn._get_activation_fn": lambda lib, *a, **k: Unknown("activation function", lib.ev.line, lib.ev.path, False),
}
