"""statedict-lint's model of transformers 5.23's runtime, written as ordinary Python source.

NEVER imported by statedict-lint: the evaluator parses this file as text and interprets it like user code,
in place of the transformers names that ``predict/libs/transformers.py`` overrides (``PreTrainedModel``,
``PreTrainedConfig`` and its mixins, ``GenerationMixin``, ``PeftAdapterMixin``, ``ACT2FN``, ...). It keeps only
what decides a state_dict and what model code reads back from these classes:

* ``PreTrainedConfig``: the class's dataclass fields with their defaults, ``XConfig(**config.json)``,
  ``attribute_map`` aliases (``n_embd`` read as ``hidden_size``), sub-configs (``sub_configs_defaults``:
  a dict in config.json becomes the sub-config class), ``num_labels`` from ``id2label`` (2 without one),
  the rest of the keyword arguments set as attributes, ``get_text_config``;
* ``PreTrainedModel``: ``config`` stored, ``post_init`` ties ``_tied_weights_keys`` when the config's
  ``tie_word_embeddings`` says so (``target -> source``, the target's bias padded as ``_adjust_bias`` does), and
  nothing else: weight initialisation, attention-implementation checks, gradient checkpointing, generation
  configs and adapters hold no state in the state_dict;
* stateless mixins.

The library model checks that the installed transformers is a modelled version (``MODELLED_VERSIONS`` in
``statedict_lint/hf/source.py``); tests/test_hf_keys.py compares the predictions with transformers itself.
"""

import torch
from torch import nn

from statedict_lint_transformers import (
    config_fields, config_to_dict, set_attribute, sub_config_class, sub_config_kwargs, sub_config_optional,
)


class PushToHubMixin:
    pass


class RotaryEmbeddingConfigMixin:
    def convert_rope_params_to_dict(self, **kwargs):
        # rope_scaling / rope_theta of old configs become `rope_parameters`; RoPE tables are non-persistent buffers
        rope_scaling = kwargs.pop("rope_scaling", None)
        rope_theta = kwargs.pop("rope_theta", None)
        if self.rope_parameters is None:
            params = {}
            if rope_scaling is not None:
                params = dict(rope_scaling)
            if rope_theta is not None:
                params["rope_theta"] = rope_theta
            if "rope_type" not in params:
                params["rope_type"] = "default"
            self.rope_parameters = params
        return kwargs


class HeterogeneousConfigMixin:
    pass


class PreTrainedConfig(PushToHubMixin, RotaryEmbeddingConfigMixin, HeterogeneousConfigMixin):
    model_type = ""
    base_config_key = ""
    sub_configs_defaults = {}
    attribute_map = {}
    is_composition = False

    # the dataclass fields of transformers 5.23's PreTrainedConfig, with their defaults
    transformers_version: str = None
    architectures: list = None
    output_hidden_states: bool = False
    return_dict: bool = True
    dtype: str = None
    chunk_size_feed_forward: int = 0
    is_encoder_decoder: bool = False
    id2label: dict = None
    label2id: dict = None
    problem_type: str = None

    def __init__(self, **kwargs):
        known = []
        for name, default in config_fields(type(self)):
            known.append(name)
            if name in kwargs:
                setattr(self, name, kwargs[name])
            else:
                setattr(self, name, default)
        self._sdl_aliases()
        extra = {}
        for key in kwargs:
            if key not in known:
                extra[key] = kwargs[key]
        self.__post_init__(**extra)
        self._sdl_aliases()

    def _sdl_aliases(self):
        # PreTrainedConfig.__getattribute__/__setattr__ map `attribute_map` names to the field they stand for
        for alias in self.attribute_map:
            real = self.attribute_map[alias]
            if hasattr(self, real):
                object.__setattr__(self, alias, getattr(self, real))

    def _sdl_set(self, key, value):
        if key in self.attribute_map:
            key = self.attribute_map[key]
        setattr(self, key, value)
        self._sdl_aliases()

    def __post_init__(self, **kwargs):
        for key in self.sub_configs_defaults:
            spec = self.sub_configs_defaults[key]
            sub = getattr(self, key)
            if sub is None and sub_config_optional(spec):
                continue
            if isinstance(sub, PreTrainedConfig):
                continue
            if sub is None:
                sub = sub_config_kwargs(spec)
            sub_cls = sub_config_class(spec, sub)
            sub = sub_cls(**sub)
            setattr(self, key, sub)
        kwargs.pop("torch_dtype", None)
        # `num_labels` stays in kwargs (transformers reads it with .get): the loop at the end sets it again, so
        # an explicit num_labels that disagrees with id2label wins (the setter rebuilds id2label)
        if self.id2label is None:
            n = kwargs.get("num_labels", None)
            if n is None:
                n = 2
            self.id2label = {i: "LABEL_" + str(i) for i in range(n)}
        else:
            self.id2label = {int(k): self.id2label[k] for k in self.id2label}
        if hasattr(self, "rope_parameters"):
            kwargs = self.convert_rope_params_to_dict(**kwargs)
        self._name_or_path = str(kwargs.pop("name_or_path", ""))
        kwargs.pop("_commit_hash", None)
        self._output_attentions = kwargs.pop("output_attentions", False)
        self._attn_implementation = kwargs.pop("attn_implementation", None)
        self._attn_implementation_internal = self._attn_implementation
        self._experts_implementation = kwargs.pop("experts_implementation", None)
        kwargs.pop("per_layer_config", None)
        for key in kwargs:
            if key not in ("_attn_implementation_internal", "_experts_implementation_internal"):
                self._sdl_set(key, kwargs[key])

    @property
    def num_labels(self):
        if self.id2label is None:
            return None
        return len(self.id2label)

    @num_labels.setter
    def num_labels(self, num_labels):
        # transformers stores no `num_labels`: it rebuilds `id2label` when the count differs
        if self.id2label is None or self.num_labels != num_labels:
            self.id2label = {i: "LABEL_" + str(i) for i in range(num_labels)}
            self.label2id = {self.id2label[i]: i for i in self.id2label}

    @property
    def name_or_path(self):
        return self._name_or_path

    @property
    def output_attentions(self):
        return self._output_attentions

    @property
    def use_return_dict(self):
        return self.return_dict

    def to_dict(self):
        return config_to_dict(self)

    def __setattr__(self, key, value):
        # every assignment comes here, as in transformers: an `attribute_map` name writes the field it stands for
        if key in self.attribute_map:
            key = self.attribute_map[key]
        object.__setattr__(self, key, value)
        self._sdl_aliases()

    def get_text_config(self, decoder=None, encoder=None):
        names = []
        for name in ("text_encoder", "decoder", "generator", "text_config"):
            if hasattr(self, name) and getattr(self, name) is not None:
                names.append(name)
        if len(names) == 1:
            return getattr(self, names[0])
        return self


PretrainedConfig = PreTrainedConfig


class SubConfigSpec:
    def __init__(self, config_class, model_type=None, init_kwargs=None, optional=False):
        self.config_class = config_class
        self.model_type = model_type
        self.init_kwargs = init_kwargs
        self.optional = optional


# -- models ------------------------------------------------------------------------------------------------


class ModelOutput:
    # the output dataclasses of forward(): never built in __init__, no state
    pass


class OutputRecorder:
    # `_can_record_outputs` entries: forward hooks, no state
    def __init__(self, target_class=None, index=0, layer_name=None, class_name=None):
        self.target_class = target_class
        self.index = index
        self.layer_name = layer_name
        self.class_name = class_name


def _interval_field(default=None, **kwargs):
    return default


def interval(min=None, max=None, exclude_min=False, exclude_max=False):
    # a validated dataclass field: `interval(min=0.0, max=1.0)(default=0.02)` -- only the default matters here
    return _interval_field


def is_flash_attention_requested(config=None, requested_attention_implementation=None):
    impl = requested_attention_implementation
    if impl is None and config is not None:
        impl = config._attn_implementation
    return impl is not None and "flash" in impl


class GenerationMixin:
    pass


class PeftAdapterMixin:
    pass


class EmbeddingAccessMixin:
    pass


class ModuleUtilsMixin:
    pass


class PreTrainedModel(nn.Module, EmbeddingAccessMixin, ModuleUtilsMixin, PushToHubMixin, PeftAdapterMixin):
    config_class = None
    base_model_prefix = ""
    main_input_name = "input_ids"
    input_modalities = ("text",)
    model_tags = None
    _auto_class = None
    _no_split_modules = None
    _skip_keys_device_placement = None
    _keep_in_fp32_modules = None
    _keep_in_fp32_modules_strict = None
    _keys_to_ignore_on_load_missing = None
    _keys_to_ignore_on_load_unexpected = None
    _keys_to_ignore_on_save = None
    _tied_weights_keys = None
    is_parallelizable = False
    supports_gradient_checkpointing = False
    _is_stateful = False
    _supports_flash_attn = False
    _supports_sdpa = False
    _supports_flex_attn = False
    _can_compile_fullgraph = False
    _supports_attention_backend = False
    _can_record_outputs = None

    def __init__(self, config, *inputs, **kwargs):
        super().__init__()
        self.config = config
        self.name_or_path = config.name_or_path
        # _check_and_adjust_attn_implementation without a request, flash-attention or kernels installed: sdpa
        # when the class supports it, else eager
        if config._attn_implementation is None:
            if self._supports_sdpa:
                config._attn_implementation = "sdpa"
            else:
                config._attn_implementation = "eager"
            config._attn_implementation_internal = config._attn_implementation

    @classmethod
    def _from_config(cls, config, **kwargs):
        for key in ("torch_dtype", "dtype", "attn_implementation", "experts_implementation", "device_map"):
            kwargs.pop(key, None)
        return cls(config, **kwargs)

    @classmethod
    def from_config(cls, config, **kwargs):
        return cls._from_config(config, **kwargs)

    def post_init(self):
        self.tie_weights()

    def tie_weights(self, missing_keys=None, recompute_mapping=True):
        if not getattr(self.config, "tie_word_embeddings", False):
            return
        mapping = self._tied_weights_keys
        if mapping is None:
            return
        for target in mapping:
            source = mapping[target]
            source_param = self.get_parameter_or_buffer(source)
            parts = target.split(".")
            parent = self
            for p in parts[:-1]:
                parent = getattr(parent, p)
            setattr(parent, parts[-1], source_param)
            self._adjust_bias(parent, source_param)

    def _adjust_bias(self, output_embeddings, input_embeddings):
        # the output layer's bias is padded to the (tied) weight's rows; only the shape matters here
        if getattr(output_embeddings, "bias", None) is not None and hasattr(output_embeddings, "weight"):
            rows = output_embeddings.weight.shape[0]
            if output_embeddings.bias.shape[0] != rows:
                output_embeddings.bias = nn.Parameter(torch.empty(rows, dtype=output_embeddings.bias.dtype))

    def get_parameter_or_buffer(self, target):
        parts = target.split(".")
        module = self
        for p in parts[:-1]:
            module = getattr(module, p)
        return getattr(module, parts[-1])

    def init_weights(self):
        pass

    def _backward_compatibility_gradient_checkpointing(self):
        pass

    def gradient_checkpointing_enable(self, gradient_checkpointing_kwargs=None):
        pass

    def can_generate(self):
        return False

    def get_input_embeddings(self):
        base = getattr(self, self.base_model_prefix, self)
        if base is not self:
            return base.get_input_embeddings()
        return getattr(self, "embed_tokens", None)

    @property
    def base_model(self):
        return getattr(self, self.base_model_prefix, self)

    @property
    def dtype(self):
        return torch.float32


PretrainedModel = PreTrainedModel


class PreTrainedAudioTokenizerBase(PreTrainedModel):
    # encode/decode interface of audio tokenizers: no state of its own
    pass


class GradientCheckpointingLayer(nn.Module):
    gradient_checkpointing = False
