"""transformers: the runtime classes model code builds on, modelled instead of read from source.

The evaluator reads a transformers model's own modeling file from source (``BertModel``, ``LlamaAttention``,
their config class). What it does not read is the machinery underneath: ``PreTrainedModel`` (post_init,
weight initialisation, attention-implementation selection, gradient checkpointing, generation configs,
adapters: thousands of lines that hold no state, and that made a BERT prediction take 15 s and end
incomplete), ``PreTrainedConfig`` (a dataclass-like base whose ``__init_subclass__``, ``attribute_map`` and
sub-configs decide what ``config.hidden_size`` is), ``ACT2FN``. They are *overrides*: full names inside the
transformers source answered by this model, from ``catalog/transformers_runtime.py`` (Python source the
evaluator interprets, like the torch.nn catalog) and from the functions below.

Modelled versions: ``MODELLED_VERSIONS`` in ``statedict_lint/hf/source.py`` (5.23). With another installed
version the overrides stay off and the transformers source is read as it is (slower, possibly incomplete,
never a guess); a note says so.
"""

from __future__ import annotations

import os
from typing import Any, Dict, List, Optional

import libcst as cst

from statedict_lint.hf.source import (
    MODELLED_VERSIONS, base_class_for, config_class_name, config_mapping_names, find_transformers, module_name,
)
from statedict_lint.predict.libs import NOT_MINE, LibraryModel, register
from statedict_lint.predict.values import ClassValue, Intrinsic, NamespaceValue, Unknown

RUNTIME_PATH = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "catalog",
                            "transformers_runtime.py")
RUNTIME_QUALNAME = "statedict_lint_transformers.runtime"

# full name in transformers -> name in catalog/transformers_runtime.py
RUNTIME_NAMES = {
    "transformers.modeling_utils.PreTrainedModel": "PreTrainedModel",
    "transformers.modeling_utils.PretrainedModel": "PreTrainedModel",
    "transformers.PreTrainedModel": "PreTrainedModel",
    "transformers.modeling_utils.ModuleUtilsMixin": "ModuleUtilsMixin",
    "transformers.modeling_utils.PreTrainedAudioTokenizerBase": "PreTrainedAudioTokenizerBase",
    "transformers.modeling_utils.PreTrainedConfig": "PreTrainedConfig",
    "transformers.modeling_utils.EmbeddingAccessMixin": "EmbeddingAccessMixin",
    "transformers.configuration_utils.PreTrainedConfig": "PreTrainedConfig",
    "transformers.configuration_utils.PretrainedConfig": "PreTrainedConfig",
    "transformers.configuration_utils.SubConfigSpec": "SubConfigSpec",
    "transformers.PreTrainedConfig": "PreTrainedConfig",
    "transformers.PretrainedConfig": "PreTrainedConfig",
    "transformers.generation.GenerationMixin": "GenerationMixin",
    "transformers.generation.utils.GenerationMixin": "GenerationMixin",
    "transformers.integrations.PeftAdapterMixin": "PeftAdapterMixin",
    "transformers.integrations.peft.PeftAdapterMixin": "PeftAdapterMixin",
    "transformers.modeling_layers.GradientCheckpointingLayer": "GradientCheckpointingLayer",
    "transformers.utils.PushToHubMixin": "PushToHubMixin",
    "transformers.utils.ModelOutput": "ModelOutput",
    "transformers.utils.generic.ModelOutput": "ModelOutput",
    "transformers.file_utils.ModelOutput": "ModelOutput",
    "transformers.utils.output_capturing.OutputRecorder": "OutputRecorder",
    "transformers.utils.type_validators.interval": "interval",
    "transformers.utils.generic.is_flash_attention_requested": "is_flash_attention_requested",
    "transformers.utils.is_flash_attention_requested": "is_flash_attention_requested",
}
# decorators that return the class or function they decorate (docs, strict type checks, output capture)
# names of transformers' lazy `integrations` package (a _LazyModule the evaluator cannot read) that hold state-
# relevant code: answered from the module the package would import them from, read from source like any code
LAZY_REDIRECTS = {
    "transformers.integrations.use_experts_implementation": ("transformers.integrations.moe",
                                                             "use_experts_implementation"),
}
# of those, the ones that are always called with arguments first (their argument may itself be a function)
DECORATOR_FACTORIES = ("use_kernelized_func", "use_kernel_forward_from_hub", "use_kernel_func_from_hub",
                       "deprecate_kwarg")
IDENTITY_DECORATORS = (
    "transformers.utils.auto_docstring", "transformers.utils.doc.auto_docstring",
    "transformers.utils.can_return_tuple", "transformers.utils.generic.can_return_tuple",
    "transformers.utils.generic.merge_with_config_defaults", "transformers.utils.output_capturing.capture_outputs",
    "transformers.utils.deprecation.deprecate_kwarg", "transformers.integrations.use_kernel_forward_from_hub",
    "transformers.integrations.hub_kernels.use_kernel_forward_from_hub",
    "transformers.integrations.use_kernelized_func", "transformers.utils.generic.maybe_autocast",
    "huggingface_hub.dataclasses.strict",
)
# ACT2FN names whose layer holds no parameter or buffer (transformers 5.23's activations.py); "prelu" and
# "xielu" have parameters and are not modelled (an honest Unknown), an unknown name raises KeyError as there
STATELESS_ACTIVATIONS = {
    "gelu": "GELUActivation", "gelu_10": "ClippedGELUActivation", "gelu_fast": "FastGELUActivation",
    "gelu_new": "NewGELUActivation", "gelu_python": "GELUActivation", "gelu_pytorch_tanh": "GELUTanh",
    "gelu_python_tanh": "GELUTanh", "gelu_accurate": "AccurateGELUActivation", "hardswish": "torch.nn.Hardswish",
    "laplace": "LaplaceActivation", "leaky_relu": "torch.nn.LeakyReLU", "linear": "LinearActivation",
    "mish": "MishActivation", "quick_gelu": "QuickGELUActivation", "relu": "torch.nn.ReLU",
    "relu2": "ReLUSquaredActivation", "relu6": "torch.nn.ReLU6", "sigmoid": "torch.nn.Sigmoid",
    "silu": "SiLUActivation", "sqrtsoftplus": "SqrtSoftplusActivation", "swish": "torch.nn.SiLU",
    "tanh": "torch.nn.Tanh",
}
STATEFUL_ACTIVATIONS = ("prelu", "xielu")
# runtime probes that are False when a model is constructed outside a DeepSpeed ZeRO-3 / distributed context
FALSE_PROBES = (
    "transformers.integrations.deepspeed.is_deepspeed_zero3_enabled", "transformers.integrations.is_deepspeed_zero3_enabled",
    "transformers.integrations.fsdp.is_fsdp_managed_module",
    # flash-attn is a CUDA extension: never installed where a model is built on the CPU or the meta device
    "transformers.modeling_flash_attention_utils.is_flash_attn_available",
    "transformers.modeling_flash_attention_utils.flash_attn_supports_top_left_mask",
    "transformers.utils.is_flash_attn_2_available", "transformers.utils.import_utils.is_flash_attn_2_available",
)
AUTO_MODELS = ("transformers.AutoModel", "transformers.models.auto.AutoModel",
               "transformers.models.auto.modeling_auto.AutoModel")
CONFIG_MAPPINGS = ("transformers.CONFIG_MAPPING", "transformers.models.auto.CONFIG_MAPPING",
                   "transformers.models.auto.configuration_auto.CONFIG_MAPPING")
RUNTIME_CONFIG = "statedict_lint_transformers.runtime.PreTrainedConfig"


# keyword arguments of from_config/_from_config that are consumed there, not passed to the model's __init__
_FROM_CONFIG_ONLY = ("torch_dtype", "dtype", "attn_implementation", "experts_implementation", "trust_remote_code",
                     "code_revision", "device_map")


def _spec_attr(spec: Any, name: str, default: Any) -> Any:
    """An attribute of a ``SubConfigSpec`` instance; ``default`` for a plain configuration class."""
    cls = getattr(spec, "cls", None)
    attrs = getattr(spec, "attrs", None)
    if cls is not None and getattr(cls, "name", "") == "SubConfigSpec" and isinstance(attrs, dict):
        return attrs.get(name, default)
    return default


def _is_classvar(ann: Any) -> bool:
    node = ann
    if isinstance(node, cst.Subscript):
        node = node.value
    if isinstance(node, cst.Attribute):
        return node.attr.value == "ClassVar"
    return isinstance(node, cst.Name) and node.value == "ClassVar"


def config_fields(lib: "Transformers", cls: Any) -> Any:
    """The dataclass fields of a configuration class (every annotated class attribute that is not a
    ``ClassVar``, base classes first, as ``__init_subclass__``'s ``dataclass(cls)`` collects them) with defaults."""
    mro = getattr(cls, "mro", None)
    if mro is None:
        return lib.ev.unknown("fields of a configuration class that is not known", maybe_state=False)
    order: List[str] = []
    values: Dict[str, Any] = {}
    for c in reversed(mro()):
        for name, default_node, ann in getattr(c, "fields", []):
            if _is_classvar(ann):
                continue
            if name not in values:
                order.append(name)
            if name in c.attrs:
                values[name] = c.attrs[name]
            elif default_node is None:
                values[name] = Unknown(f"configuration field `{name}` of `{c.name}` has no default",
                                       lib.ev.line, lib.ev.path, False)
    return [(name, values[name]) for name in order]


@register
class Transformers(LibraryModel):
    name = "transformers"
    roots = ("statedict_lint_transformers",)
    functions = {
        "statedict_lint_transformers.config_fields": config_fields,
        "statedict_lint_transformers.sub_config_class": lambda lib, spec, sub=None: lib.sub_config_class(spec, sub),
        "statedict_lint_transformers.sub_config_kwargs": lambda lib, spec: dict(_spec_attr(spec, "init_kwargs", None) or {}),
        "statedict_lint_transformers.sub_config_optional": lambda lib, spec: _spec_attr(spec, "optional", False),
        "statedict_lint_transformers.config_to_dict": lambda lib, config: lib.config_to_dict(config),
        "statedict_lint_transformers.set_attribute": lambda lib, obj, key, value: lib.ev.setattr(obj, key, value),
        "statedict_lint_transformers.AutoModel.from_config": lambda lib, config, *a, **k: lib.auto_model(config, k),
    }
    overrides = tuple(RUNTIME_NAMES) + IDENTITY_DECORATORS + tuple(LAZY_REDIRECTS) + (
        "transformers.activations.ACT2FN", "transformers.activations.get_activation", "transformers.utils.logging",
    ) + FALSE_PROBES + AUTO_MODELS + CONFIG_MAPPINGS

    # `from transformers import UdopConfig` (transformers' lazy top level, which the evaluator cannot read): a
    # configuration class named in CONFIG_MAPPING_NAMES is answered from its configuration file
    top_level_overrides = ("transformers",)

    def __init__(self, ev: Any) -> None:
        super().__init__(ev)
        self._runtime: Any = None
        self._act2fn: Optional[Dict[str, Any]] = None
        self._version_ok: Optional[bool] = None

    # -- which transformers ------------------------------------------------------------------------
    def version_ok(self) -> bool:
        """Is the transformers whose source the evaluator reads a modelled version?"""
        if self._version_ok is None:
            src = find_transformers(self.ev.search_roots())
            self._version_ok = src is not None and src.modelled
            if src is not None and not src.modelled:
                self.ev.note(f"transformers {src.version} is not a modelled version (statedict-lint models "
                             f"{', '.join(MODELLED_VERSIONS)}): its PreTrainedModel and configuration machinery is "
                             f"read from source instead", 0, src.root, whole_prediction=True)
        return self._version_ok

    def runtime(self, name: str) -> Any:
        if self._runtime is None:
            self._runtime = self.ev.load_library_source(RUNTIME_PATH, RUNTIME_QUALNAME)
        found, v = self._runtime.lookup(name)
        return v if found else Unknown(f"`{name}` is missing from the transformers model", 0, RUNTIME_PATH)

    def override(self, full: str) -> Any:
        if not self.version_ok():
            return NOT_MINE
        if full in RUNTIME_NAMES:
            return self.runtime(RUNTIME_NAMES[full])
        if full in IDENTITY_DECORATORS:
            if full.rsplit(".", 1)[-1] in DECORATOR_FACTORIES:  # `@use_kernelized_func(apply_rotary_pos_emb)`
                return Intrinsic(full, lambda *a, **k: Intrinsic("decorator", lambda f: f))
            return Intrinsic(full, _identity_decorator)
        if full in LAZY_REDIRECTS:  # a name of a lazy package: read where the package would import it from
            module, name = LAZY_REDIRECTS[full]
            ns = self.ev.import_module(module, self.ev.line, self.ev.path)
            return ns if isinstance(ns, Unknown) else self.ev.getattr(ns, name)
        if full == "transformers.activations.ACT2FN":
            return self.act2fn()
        if full.count(".") == 1 and full.endswith("Config") and full not in RUNTIME_NAMES:
            return self.top_level_config(full.split(".")[1])
        if full in FALSE_PROBES:
            return Intrinsic(full, lambda *a, **k: False)
        if full in AUTO_MODELS:
            return NamespaceValue("statedict_lint_transformers.AutoModel")
        if full in CONFIG_MAPPINGS:
            return _ConfigMapping(self)
        if full == "transformers.utils.logging":  # loggers print; they hold no state
            return NamespaceValue("statedict_lint_transformers.logging")
        if full == "transformers.activations.get_activation":
            return Intrinsic(full, lambda name: self.ev.getitem(self.act2fn(), name))
        return NOT_MINE

    def attribute(self, full: str) -> Any:
        if full == "statedict_lint_transformers.logging.get_logger":
            return Intrinsic(full, lambda *a, **k: NamespaceValue("statedict_lint_transformers.logger"))
        if full.startswith("statedict_lint_transformers.logger."):
            return Intrinsic(full, lambda *a, **k: None)
        return NOT_MINE

    def auto_model(self, config: Any, kwargs: Dict[str, Any]) -> Any:
        """AutoModel.from_config(config): the base model class transformers maps the config's model_type to."""
        ev = self.ev
        # from_config maps the config's *class* (type(config)), not an instance attribute, to the model class
        cls_of = getattr(config, "cls", None)
        model_type = cls_of.find("model_type")[0] if isinstance(cls_of, ClassValue) else None
        src = find_transformers(ev.search_roots())
        if not isinstance(model_type, str) or src is None:
            return ev.unknown("AutoModel.from_config of a configuration whose model_type is not known")
        cls_name = base_class_for(src, model_type)
        if cls_name is None:
            return ev.unknown(f"AutoModel has no class for model_type {model_type!r} in transformers {src.version}")
        mod = module_name(src, model_type)
        ns = ev.import_module(f"transformers.models.{mod}.modeling_{mod.split('.')[-1]}", ev.line, ev.path)
        if isinstance(ns, Unknown):
            return ns
        cls = ev.getattr(ns, cls_name)
        if isinstance(cls, Unknown):
            return cls
        # _BaseAutoModelClass.from_config -> model_class._from_config(config, **kwargs) -> cls(config, **kwargs)
        kw = {k: v for k, v in kwargs.items() if k not in _FROM_CONFIG_ONLY}
        return ev.instantiate(cls, [config], kw)

    def top_level_config(self, name: str) -> Any:
        src = find_transformers(self.ev.search_roots())
        if src is None:
            return NOT_MINE
        model_type = next((mt for mt, n in config_mapping_names(src).items() if n == name), None)
        if model_type is None:
            return NOT_MINE
        try:
            return self.config_class_for(model_type)
        except KeyError:
            return NOT_MINE

    def config_to_dict(self, config: Any) -> Any:
        """PreTrainedConfig.to_dict(): the instance's attributes (private ones left out, as the saved config.json
        has them), ``model_type`` added, sub-configs as dicts."""
        attrs = getattr(config, "attrs", None)
        cls = getattr(config, "cls", None)
        if not isinstance(attrs, dict) or not isinstance(cls, ClassValue) or not any(c.qualname == RUNTIME_CONFIG
                                                                                     for c in cls.mro()):
            return self.ev.unknown("to_dict() of a value that is not a known configuration", maybe_state=False)
        out: Dict[str, Any] = {}
        for k, v in attrs.items():
            if k.startswith("_") or k in self.ev.getattr(cls, "attribute_map"):
                continue
            sub_mro = getattr(getattr(v, "cls", None), "mro", None)
            if sub_mro is not None and any(getattr(c, "qualname", "") == RUNTIME_CONFIG for c in sub_mro()):
                v = self.config_to_dict(v)
            out[k] = v
        mt, _owner = cls.find("model_type")
        out["model_type"] = mt
        return out

    def config_class_for(self, model_type: Any) -> Any:
        """CONFIG_MAPPING[model_type]: the configuration class transformers maps a model_type to (read from
        models/auto/auto_mappings.py as text, the class from its configuration file's source)."""
        ev = self.ev
        src = find_transformers(ev.search_roots())
        if not isinstance(model_type, str) or src is None:
            return ev.unknown("the configuration class of a model_type that is not known", maybe_state=False)
        name = config_class_name(src, model_type)
        if name is None:
            raise KeyError(model_type)
        mod = module_name(src, model_type)
        ns = ev.import_module(f"transformers.models.{mod}.configuration_{mod.split('.')[-1]}", ev.line, ev.path)
        if isinstance(ns, Unknown):
            return ns
        return ev.getattr(ns, name)

    def sub_config_class(self, spec: Any, sub: Any) -> Any:
        """SubConfigSpec.create_subconfig's class: the spec's class when it is a configuration class, else
        (AutoConfig) the class of the sub-config's ``model_type``, or the spec's."""
        cls = _spec_attr(spec, "config_class", spec)
        mro = getattr(cls, "mro", None)
        if mro is not None and any(getattr(c, "qualname", "") == RUNTIME_CONFIG for c in mro()):
            return cls
        model_type = sub.get("model_type") if isinstance(sub, dict) else None
        if model_type is None:
            model_type = _spec_attr(spec, "model_type", None)
        try:
            return self.config_class_for(model_type)
        except KeyError:
            return self.ev.unknown(f"no configuration class for model_type {model_type!r}", maybe_state=False)

    def act2fn(self) -> Dict[str, Any]:
        """ACT2FN as a dict of layer instances: every stateless activation is a stateless layer (sharing one
        instance between layers is harmless: it holds nothing); the two with parameters are Unknown."""
        if self._act2fn is None:
            table: Dict[str, Any] = {}
            torch = self.ev.torch
            for key, cls_name in STATELESS_ACTIVATIONS.items():
                if cls_name.startswith("torch.nn."):
                    cls = torch._stateless_class(cls_name.split(".")[-1])
                else:
                    cls = torch._stateless_class(cls_name, f"transformers.activations.{cls_name}")
                table[key] = self.ev.instantiate(cls, [], {})
            for key in STATEFUL_ACTIVATIONS:
                table[key] = Unknown(f"ACT2FN[{key!r}] builds a layer with parameters, which is not modelled",
                                     self.ev.line, self.ev.path, True)
            self._act2fn = table
        return self._act2fn


class _ConfigMapping(dict):
    """CONFIG_MAPPING: ``CONFIG_MAPPING["llama"]`` is looked up (and its source read) on first use."""

    def __init__(self, lib: "Transformers") -> None:
        super().__init__()
        self.lib = lib

    def __missing__(self, key: Any) -> Any:
        v = self.lib.config_class_for(key)
        self[key] = v
        return v

    def __contains__(self, key: Any) -> bool:
        src = find_transformers(self.lib.ev.search_roots())
        return isinstance(key, str) and src is not None and config_class_name(src, key) is not None

    def __deepcopy__(self, memo: Any) -> "_ConfigMapping":
        return self


def _identity_decorator(*args: Any, **kwargs: Any) -> Any:
    if len(args) == 1 and not kwargs and not isinstance(args[0], (str, int, float, bool)) and args[0] is not None:
        return args[0]  # @decorator
    return Intrinsic("decorator", lambda f, *a, **k: f)  # @decorator(...)


__all__ = ["Transformers", "RUNTIME_PATH", "NamespaceValue"]
