"""Facts about torch (2.13) as plain data, with no imports: dtype names and byte sizes, nn.Module's own attributes
and the methods that return the module itself, the containers and their methods, the tensor factories. The
predictor, the checkpoint readers and the lint rules read them from here; tests/test_torchfacts.py checks them
against torch.
"""

# The dtypes the predictor models: torch attribute name (or alias) -> canonical name.
DTYPES = {
    "float32": "float32", "float": "float32", "float64": "float64", "double": "float64",
    "float16": "float16", "half": "float16", "bfloat16": "bfloat16", "int64": "int64", "long": "int64",
    "int32": "int32", "int": "int32", "int16": "int16", "short": "int16", "int8": "int8", "uint8": "uint8",
    "bool": "bool", "complex64": "complex64", "cfloat": "complex64", "complex128": "complex128",
    "cdouble": "complex128", "uint16": "uint16", "uint32": "uint32", "uint64": "uint64",
    "float8_e4m3fn": "float8_e4m3fn", "float8_e5m2": "float8_e5m2",
}
FLOATING = {"float32", "float64", "float16", "bfloat16", "float8_e4m3fn", "float8_e5m2"}
# Bytes per element of every torch dtype (torch 2.13's `dtype.itemsize`), by canonical name. Left out: the
# sub-byte shell dtypes int1..int7 / uint1..uint7 (no storage format of their own): a checkpoint naming one is
# refused as an unknown dtype.
DTYPE_BYTES = {
    "float64": 8, "float32": 4, "float16": 2, "bfloat16": 2, "complex128": 16, "complex64": 8, "complex32": 4,
    "int64": 8, "int32": 4, "int16": 2, "int8": 1, "uint8": 1, "bool": 1,
    "uint16": 2, "uint32": 4, "uint64": 8,
    "float8_e4m3fn": 1, "float8_e5m2": 1, "float8_e4m3fnuz": 1, "float8_e5m2fnuz": 1, "float8_e8m0fnu": 1,
    "float4_e2m1fn_x2": 1, "bits8": 1, "bits16": 2, "bits1x8": 1, "bits2x4": 1, "bits4x2": 1,
    "qint8": 1, "qint32": 4, "quint8": 1, "quint4x2": 1, "quint2x4": 1,
}

# torch.<Name>Storage (the typed storages of pickled checkpoints) -> dtype name
STORAGE_DTYPES = {
    "DoubleStorage": "float64", "FloatStorage": "float32", "HalfStorage": "float16", "LongStorage": "int64",
    "IntStorage": "int32", "ShortStorage": "int16", "CharStorage": "int8", "ByteStorage": "uint8",
    "BoolStorage": "bool", "BFloat16Storage": "bfloat16", "ComplexDoubleStorage": "complex128",
    "ComplexFloatStorage": "complex64", "QInt8Storage": "qint8", "QInt32Storage": "qint32",
    "QUInt8Storage": "quint8", "QUInt4x2Storage": "quint4x2", "QUInt2x4Storage": "quint2x4",
    "UntypedStorage": "uint8",
}

# torch's other names of dtypes (torch.half, torch.long, ...) -> canonical name; they may appear as pickle globals
# (left out: torch.bit, the alias of the shell dtype uint1)
DTYPE_ALIASES = {
    "float": "float32", "double": "float64", "half": "float16", "long": "int64", "int": "int32", "short": "int16",
    "cfloat": "complex64", "cdouble": "complex128", "chalf": "complex32",
}

# Features that model code probes with hasattr() to support torch < 2.0; all present in torch >= 2.0.
TORCH2_FEATURES = {
    "torch.nn.functional.scaled_dot_product_attention", "torch.compile", "torch.nn.RMSNorm",
    "torch.nn.functional.gelu", "torch.nn.functional.silu", "torch.nn.functional.mish", "torch.nn.SiLU",
    "torch.nn.Mish", "torch.nn.GELU", "torch.nn.Identity", "torch.nn.functional.rms_norm", "torch.nn.Buffer",
    "torch.nn.utils.parametrizations", "torch.nn.utils.parametrizations.weight_norm", "torch.fx", "torch.jit",
    "torch.backends.mps", "torch.func", "torch.vmap", "torch.autocast", "torch.nn.functional.layer_norm",
    "torch.nn.functional.hardswish", "torch.nn.functional.hardsigmoid", "torch.nn.Hardswish", "torch.nn.Hardsigmoid",
}

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
# Methods of torch.nn.Module (torch 2.13) that return the module itself (`return self`, through `self._apply(...)` or
# `self.train(False)`): `Net().to(dev).eval()` is still the Net. There is no `Module.mps()`.
MODULE_SELF_RETURNING = frozenset((
    "apply", "bfloat16", "cpu", "cuda", "double", "eval", "float", "half", "ipu", "mtia", "requires_grad_",
    "share_memory", "to", "to_empty", "train", "type", "xpu",
))
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

FACTORIES = ("concat", "concatenate", "permute", "transpose", "unsqueeze", "squeeze", "reshape", "mean", "sum", "zeros", "ones", "empty", "randn", "rand", "full", "arange", "eye", "tensor", "linspace",
             "logspace", "randint", "tril", "triu", "zeros_like", "ones_like", "empty_like", "randn_like",
             "rand_like", "full_like", "as_tensor", "from_numpy", "Tensor", "FloatTensor", "LongTensor",
             "BoolTensor", "IntTensor", "HalfTensor", "DoubleTensor", "ByteTensor", "cat", "stack", "meshgrid",
             "flatten", "outer", "exp", "log", "sqrt", "sin", "cos", "clone", "normal", "randperm", "polar",
             "cumsum", "where", "abs", "pow", "einsum", "matmul", "diag", "sigmoid", "tanh", "softmax")
