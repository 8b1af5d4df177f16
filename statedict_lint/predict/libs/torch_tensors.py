"""Parameters, buffers, tensor factories and shape operations over ``TensorSpec``: a mixin of ``TorchLib``."""

from __future__ import annotations

import math
from typing import Any, Callable, Dict, List, Optional

from statedict_lint.predict import tensorops
from statedict_lint.predict.libs import LibraryModel
from statedict_lint.predict.libs._common import ceil_div, ev_iter, raise_
from statedict_lint.predict.symbolic import Sym, is_int, is_intlike
from statedict_lint.predict.values import (
    BufferMarker,
    DtypeValue,
    Intrinsic,
    Opaque,
    ParamValue,
    Repeated,
    TensorSpec,
    Unknown,
)
from statedict_lint.torchfacts import (
    DTYPE_BYTES,
    DTYPES,
    FLOATING,
)


class TensorMixin(LibraryModel):  # (a part of TorchLib)

    # -- parameters and buffers --------------------------------------------------------------
    def make_parameter(self, data: Any = None, requires_grad: Any = True) -> Any:
        line, path = self._where()
        if data is None:
            return ParamValue(TensorSpec((0,), self._default_float(), line, path))
        if isinstance(data, ParamValue):
            return ParamValue(data.tensor)
        if isinstance(data, TensorSpec):
            return ParamValue(data)
        if isinstance(data, Unknown):
            return ParamValue(TensorSpec(None, None, line, path, data.reason))
        if isinstance(data, Opaque):
            return ParamValue(TensorSpec(None, None, line, path, f"tensor comes from unbound parameter `{data.name}`"))
        raise raise_(self.ev, "nn.Parameter needs a tensor")

    def make_buffer(self, data: Any = None, *, persistent: Any = True) -> Any:
        line, path = self._where()
        t = data if isinstance(data, TensorSpec) else (data.tensor if isinstance(data, ParamValue) else
                                                       TensorSpec(None, None, line, path, "buffer data cannot be known"))
        return BufferMarker(t, bool(persistent) if isinstance(persistent, bool) else True)

    def make_uninitializedparameter(self, requires_grad: Any = True, device: Any = None, dtype: Any = None) -> Any:
        line, path = self._where()
        return ParamValue(TensorSpec(None, self._dtype_name(dtype) if dtype is not None else self._default_float(), line, path,
                                     "lazy module: the shape is set by the first forward pass"))

    def make_uninitializedbuffer(self, requires_grad: Any = False, device: Any = None, dtype: Any = None) -> Any:
        line, path = self._where()
        return TensorSpec(None, self._dtype_name(dtype) if dtype is not None else self._default_float(), line, path,
                          "lazy module: the shape is set by the first forward pass")

    def _default_float(self) -> Optional[str]:
        """torch's default floating dtype as import-time code left it (``torch.set_default_dtype``); None when
        it cannot be known."""
        return self.ev.default_dtype

    def _dtype_name(self, d: Any) -> Optional[str]:
        if d is None:
            return self._default_float()
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

        def spec(shape: Any, default_dtype: Optional[str] = self._default_float()) -> TensorSpec:
            d = dtype if dtype_arg is not None else default_dtype
            return TensorSpec(shape, d, line, path, why if shape is not None else why or "shape cannot be known")

        if name in ("zeros", "ones", "empty", "randn", "rand", "Tensor", "FloatTensor", "LongTensor", "BoolTensor",
                    "IntTensor", "HalfTensor", "DoubleTensor", "ByteTensor"):
            default = {"LongTensor": "int64", "BoolTensor": "bool", "IntTensor": "int32", "HalfTensor": "float16",
                       "DoubleTensor": "float64", "ByteTensor": "uint8"}.get(name, self._default_float())
            if name.endswith("Tensor") and len(args) == 1 and isinstance(args[0], (list, tuple)) and \
                    not all(is_intlike(x) for x in args[0]) or name.endswith("Tensor") and len(args) == 1 and \
                    isinstance(args[0], list):
                return self._from_data(args[0], dtype_arg, default, line, path)
            return spec(self._shape_arg(args, kwargs), default)
        if name == "full":
            size = args[0] if args else kwargs.get("size")
            fill = args[1] if len(args) > 1 else kwargs.get("fill_value")
            default = "bool" if isinstance(fill, bool) else "int64" if is_int(fill) else \
                self._default_float() if isinstance(fill, float) else None
            return spec(self._shape_arg((size,), {}), default)
        if name == "randint":
            size = kwargs.get("size", args[-1] if args else None)
            return spec(self._shape_arg((size,), {}), "int64")
        if name == "arange":
            nums = [a.sym() if isinstance(a, Opaque) else a for a in args]
            start: Any  # (values of the interpreted code: ints, floats, symbols or anything else)
            end: Any
            step: Any
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
            default = "int64" if all_int else self._default_float() if all(isinstance(x, (int, float, Sym)) for x in (start, end, step)) else None
            if all_int:
                n = ceil_div(end - start, step)
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
                d = dtype if dtype_arg is not None else _float_result(name, src.dtype)
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
            d = specs[0].dtype
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
            grids = tensorops.meshgrid([x.shape for x in specs], indexing)
            if grids is None:
                return self.ev.unknown("meshgrid of tensors that are not 1-D", maybe_state=False)
            return tuple(TensorSpec(sh, x.dtype, line, path) for sh, x in zip(grids, specs))
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
            d = self._default_float()
        elif "int" in kinds:
            d = "int64"
        elif "bool" in kinds:
            d = "bool"
        else:
            d = self._default_float()
        if any(isinstance(x, (Unknown, Repeated, TensorSpec, Opaque)) for x in flat):
            return TensorSpec(None, d, line, path, "tensor data cannot be known")
        return TensorSpec(tuple(shape), d, line, path)

    def tensor_attr(self, t: Any, name: str) -> Any:
        ev = self.ev
        if isinstance(t, DtypeValue):
            if name == "is_floating_point":
                return t.name in FLOATING
            if name == "itemsize":

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
                return self._in_place_reshape(t, spec, name)
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
        return self._shape_method(t, spec, name, with_shape)

    def _shape_method(self, t: Any, spec: TensorSpec, name: str, with_shape: Callable[..., TensorSpec]) -> Any:
        """The tensor methods that rearrange a shape (view, reshape, squeeze, expand, flatten, permute, ...)."""
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
        return self._value_method(t, spec, name, with_shape)

    def _value_method(self, t: Any, spec: TensorSpec, name: str, with_shape: Callable[..., TensorSpec]) -> Any:
        """Reductions, element-wise methods, ``new_*`` factories and in-place methods of a tensor."""
        ev = self.ev
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
                if name == "pow" and spec.dtype in _INTEGRAL and not all(isinstance(x, int) for x in a):
                    return with_shape(spec.shape, None, "integer tensor to a power that may not be an int")
                return with_shape(spec.shape, _float_result(name, spec.dtype))
            return Intrinsic(f"Tensor.{name}", same)
        if name in ("transpose_", "swapaxes_", "swapdims_"):
            return self._in_place_reshape(t, spec, name)
        if name.endswith("_") and not name.startswith("_"):
            # an in-place method we do not model (resize_, set_, as_strided_, ...) may change the shape and dtype
            # of this very tensor -- a parameter's or buffer's: neither is known any more
            def unknown_in_place(*a: Any, **k: Any) -> Any:
                self.forget_tensor(spec, f"`Tensor.{name}()` at line {ev.line} is not modelled: it may change the "
                                         f"tensor's shape and dtype in place")
                return t
            return Intrinsic(f"Tensor.{name}", unknown_in_place)
        return ev.unknown(f"tensor method `{name}` is not modelled", maybe_state=False)

    def forget_tensor(self, spec: TensorSpec, why: str) -> None:
        """The tensor ``spec`` was changed in place in a way not modelled: every reference to it (the parameter
        or buffer holding it) has an unknown shape and dtype from now on."""
        spec.shape, spec.dtype, spec.why = None, None, why
        spec.line, spec.path = self.ev.line, self.ev.path

    def replace_tensor(self, spec: TensorSpec, new: Any, why: str) -> None:
        """``spec`` now holds ``new``'s data in place (``.data = new``, ``set_(new)``, ``unsqueeze_``):
        shape and dtype are ``new``'s, seen through every reference to the tensor."""
        if isinstance(new, ParamValue):
            new = new.tensor
        if not isinstance(new, TensorSpec):
            self.forget_tensor(spec, why)
            return
        spec.shape, spec.dtype, spec.why = new.shape, new.dtype, new.why
        spec.line, spec.path = self.ev.line, self.ev.path

    def _in_place_reshape(self, t: Any, spec: TensorSpec, name: str) -> Any:
        """``t_``/``squeeze_``/``unsqueeze_``/``transpose_``: the out-of-place method's shape, written into the
        tensor itself (a buffer or parameter holding it changes shape)."""
        base = {"swapdims_": "transpose_"}.get(name, name)[:-1]

        def run(*a: Any, **k: Any) -> Any:
            why = f"`Tensor.{name}()` at line {self.ev.line} with arguments that cannot be known"
            meth = self.tensor_attr(TensorSpec(spec.shape, spec.dtype, spec.line, spec.path, spec.why), base)
            new = self.ev.call(meth, list(a), dict(k)) if isinstance(meth, Intrinsic) else None
            self.replace_tensor(spec, new, why)
            if isinstance(new, TensorSpec) and new.shape is None:
                spec.why = why
            return t
        return Intrinsic(f"Tensor.{name}", run)

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
                raise raise_(self.ev, str(exc))
            dtype = tensorops.promote(ta.dtype, tb.dtype)
            if op == "/" and dtype is not None and dtype not in FLOATING:
                dtype = self._default_float()
            return TensorSpec(shape, dtype, line, path, "" if shape is not None and dtype else "broadcast result")
        t = ta or tb
        other = sb if ta is not None else sa
        assert t is not None
        if isinstance(other, (int, float, bool, Sym)):
            dtype = t.dtype
            if isinstance(other, float) and t.dtype not in FLOATING:
                dtype = self._default_float()
            if op == "/" and t.dtype not in FLOATING:
                dtype = self._default_float()
            return TensorSpec(t.shape, dtype, line, path, t.why)
        return TensorSpec(None, None, line, path, "operation with an unknown operand")


_INTEGRAL = ("int64", "int32", "int16", "int8", "uint8", "uint16", "uint32", "uint64", "bool")
# operations whose result is floating point even for an integer or bool input (torch promotes to the default dtype)
_FLOAT_OPS = ("exp", "log", "sqrt", "rsqrt", "sin", "cos", "sigmoid", "tanh", "reciprocal", "softmax")


def _float_result(name: str, dtype: Any) -> Any:
    """The dtype of ``torch.<name>(x)`` for ``x`` of ``dtype``: torch.log(arange(...)) is float32, not int64."""
    if name in _FLOAT_OPS and dtype in _INTEGRAL:
        return "float32"
    return dtype
