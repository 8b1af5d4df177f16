"""weight_norm / spectral_norm (the hook API and ``torch.nn.utils.parametrizations``), and
``parametrize.register_parametrization``: functions of the torch library model."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable, Dict, List, Optional, Tuple

from statedict_lint.predict.libs._common import raise_
from statedict_lint.predict.signals import EvalRaise, GiveUp
from statedict_lint.predict.symbolic import is_int
from statedict_lint.predict.values import (
    ClassValue,
    Entry,
    ModuleValue,
    ParamValue,
    TensorSpec,
    Unknown,
)

if TYPE_CHECKING:
    from statedict_lint.predict.libs.torch import TorchLib


def _weight_norm(lib: TorchLib, module: Any, name: Any = "weight", dim: Any = 0) -> Any:
    ev = lib.ev
    if not isinstance(module, ModuleValue):
        return module
    if not isinstance(name, str) or name not in module.params or not isinstance(module.params[name].value, ParamValue):
        raise raise_(ev, f"weight_norm: module has no parameter `{name}`")
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
        raise raise_(ev, f"spectral_norm: module has no parameter `{name}`")
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
        raise raise_(ev, f"register_parametrization: no parameter or buffer `{tensor_name}`")
    plist = _parametrization_list(lib, module, tensor_name)
    multi = originals is not None and len(originals) > 1
    if originals is None and isinstance(parametrization, ModuleValue) and isinstance(parametrization.cls, ClassValue):
        inv, _ = parametrization.cls.find("right_inverse")
        if inv is not None:
            # torch calls right_inverse(weight): a tensor gives `original`, a sequence `original0`, `original1`...
            try:
                r = ev.call(ev.getattr(parametrization, "right_inverse"), [orig], {})
            except (EvalRaise, GiveUp) as exc:
                r = Unknown(str(exc), line, path)
            if isinstance(r, (tuple, list)) and r and all(isinstance(x, (TensorSpec, ParamValue)) for x in r):
                originals = [x.tensor if isinstance(x, ParamValue) else x for x in r]
                multi = True
            elif isinstance(r, (TensorSpec, ParamValue)):
                originals = [r.tensor if isinstance(r, ParamValue) else r]
            else:
                why = r.reason if isinstance(r, Unknown) else "it returns a value that is not a tensor"
                plist.unknown_attrs["<originals>"] = Entry(Unknown(
                    f"`right_inverse` of parametrization `{parametrization.name}` cannot be evaluated ({why}): "
                    f"the names and shapes of its `original` tensors are unknown", line, path), line, path)
                lib._append(plist, parametrization)
                module.attrs[tensor_name] = orig
                return module
    if originals is not None and multi:
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


def _prune(lib: TorchLib, module: Any, name: Any = "weight", *a: Any, **k: Any) -> Any:
    """``torch.nn.utils.prune.<method>(module, name, ...)``: parameter ``name`` becomes ``name_orig`` (registered
    again, so it moves to the end of the module's parameters) and a buffer ``name_mask`` of its shape and dtype
    follows; pruning the same tensor again only changes the mask."""
    ev = lib.ev
    if not isinstance(module, ModuleValue) or not isinstance(name, str):
        return ev.unknown("pruning of a module that is not known")
    if f"{name}_orig" in module.params:
        return module
    entry = module.params.get(name)
    if entry is None or not isinstance(entry.value, ParamValue):
        raise raise_(ev, f"Parameter '{name}' of module {module.name} has to be pruned but does not exist")
    t = module.params.pop(name).value.tensor
    lib.register_parameter(module, f"{name}_orig", ParamValue(t))
    line, path = lib._where()
    lib.register_buffer(module, f"{name}_mask", TensorSpec(t.shape, t.dtype, line, path, t.why))
    module.attrs[name] = t
    return module


def _prune_global(lib: TorchLib, parameters: Any, *a: Any, **k: Any) -> Any:
    items = lib.ev.iterate(parameters)
    if not isinstance(items, list):
        return lib.ev.unknown("global pruning of parameters that are not known")
    for it in items:
        if isinstance(it, tuple) and len(it) == 2:
            _prune(lib, it[0], it[1])
        else:
            lib.ev.note("global_unstructured over a parameter list that is not known")
    return None


def _prune_remove(lib: TorchLib, module: Any, name: Any = "weight") -> Any:
    if isinstance(module, ModuleValue) and isinstance(name, str) and f"{name}_orig" in module.params:
        orig = module.params.pop(f"{name}_orig").value
        module.buffers.pop(f"{name}_mask", None)
        module.attrs.pop(name, None)
        lib.register_parameter(module, name, orig)
        return module
    raise raise_(lib.ev, f"Parameter '{name}' of module {getattr(module, 'name', '?')} has to be pruned before "
                         f"pruning can be removed")


PRUNE_METHODS = ("identity", "random_unstructured", "l1_unstructured", "random_structured", "ln_structured",
                 "custom_from_mask")

PARAMETRIZE_FUNCTIONS: Dict[str, Callable[..., Any]] = {
    **{f"torch.nn.utils.prune.{m}": _prune for m in PRUNE_METHODS},
    "torch.nn.utils.prune.global_unstructured": _prune_global,
    "torch.nn.utils.prune.remove": _prune_remove,
    "torch.nn.utils.weight_norm": _weight_norm,
    "torch.nn.utils.weight_norm.weight_norm": _weight_norm,
    "torch.nn.utils.spectral_norm": _spectral_norm,
    "torch.nn.utils.spectral_norm.spectral_norm": _spectral_norm,
    "torch.nn.utils.remove_weight_norm": _remove_weight_norm,
    "torch.nn.utils.parametrizations.weight_norm": _p_weight_norm,
    "torch.nn.utils.parametrizations.spectral_norm": _p_spectral_norm,
    "torch.nn.utils.parametrizations.orthogonal": _p_orthogonal,
    "torch.nn.utils.parametrize.register_parametrization": _register_parametrization,
}
