"""Plain records the checkpoint readers produce instead of tensors (stdlib only, no torch)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional, Tuple

DTYPE_BYTES = {
    "float64": 8, "float32": 4, "float16": 2, "bfloat16": 2, "complex128": 16, "complex64": 8, "complex32": 4,
    "int64": 8, "int32": 4, "int16": 2, "int8": 1, "uint8": 1, "bool": 1,
    "uint16": 2, "uint32": 4, "uint64": 8,
    "float8_e4m3fn": 1, "float8_e5m2": 1, "float8_e4m3fnuz": 1, "float8_e5m2fnuz": 1, "float8_e8m0fnu": 1,
    "float4_e2m1fn_x2": 1, "bits8": 1, "bits16": 2, "bits1x8": 1, "bits2x4": 1, "bits4x2": 1,
    "qint8": 1, "qint32": 4, "quint8": 1, "quint4x2": 1, "quint2x4": 1,
}

# torch.<Name>Storage -> dtype name
STORAGE_DTYPES = {
    "DoubleStorage": "float64", "FloatStorage": "float32", "HalfStorage": "float16", "LongStorage": "int64",
    "IntStorage": "int32", "ShortStorage": "int16", "CharStorage": "int8", "ByteStorage": "uint8",
    "BoolStorage": "bool", "BFloat16Storage": "bfloat16", "ComplexDoubleStorage": "complex128",
    "ComplexFloatStorage": "complex64", "QInt8Storage": "qint8", "QInt32Storage": "qint32",
    "QUInt8Storage": "quint8", "QUInt4x2Storage": "quint4x2", "QUInt2x4Storage": "quint2x4",
    "UntypedStorage": "uint8",
}

# torch dtype attribute names that may appear as globals (torch.float32, torch.half, ...)
DTYPE_ALIASES = {
    "float": "float32", "double": "float64", "half": "float16", "long": "int64", "int": "int32", "short": "int16",
    "cfloat": "complex64", "cdouble": "complex128", "chalf": "complex32",
}


@dataclass(frozen=True)
class DType:
    name: str

    def __setstate__(self, state: Any) -> None:  # shared by every load: a pickle BUILD must not change it
        raise TypeError("pickle BUILD on a dtype")


@dataclass
class StorageRecord:
    key: str
    dtype: str
    location: str
    numel: int  # elements of ``dtype`` (bytes for an untyped storage)

    def __setstate__(self, state: Any) -> None:  # a pickle BUILD would otherwise overwrite the fields
        raise TypeError("pickle BUILD on a storage (torch's loader refuses it)")


@dataclass
class TensorRecord:
    dtype: str
    shape: Tuple[int, ...]
    storage: str = ""  # storage key inside the container
    offset: int = 0  # storage offset in elements
    stride: Optional[Tuple[int, ...]] = None
    location: str = ""
    file: str = ""  # the container entry or file holding the data ("archive/data/0", "model-00001.safetensors")
    byte_range: Optional[Tuple[int, int]] = None  # safetensors: [begin, end) in its data buffer
    is_parameter: bool = False

    def __setstate__(self, state: Any) -> None:
        # without this, a pickle BUILD would overwrite the fields (shape, dtype) with whatever it carries;
        # the unpickler's tensors implement torch's own BUILD semantics instead
        raise TypeError("pickle BUILD on a tensor")

    @property
    def numel(self) -> int:
        n = 1
        for d in self.shape:
            n *= d
        return n

    @property
    def nbytes(self) -> int:
        return self.numel * DTYPE_BYTES.get(self.dtype, 0)

    def to_json(self) -> Dict[str, Any]:
        out: Dict[str, Any] = {"dtype": self.dtype, "shape": list(self.shape)}
        if self.storage:
            out["storage"] = self.storage
            out["offset"] = self.offset
        if self.byte_range is not None:
            out["data_offsets"] = list(self.byte_range)
        out["file"] = self.file
        return out


@dataclass
class Inert:
    """An admitted non-tensor object (argparse.Namespace, numpy scalar, ...) kept as a record, never built."""

    name: str
    args: tuple = ()
    state: Any = None

    def __setstate__(self, state: Any) -> None:
        self.state = state

    def __repr__(self) -> str:
        return f"<{self.name}>"


@dataclass
class Checkpoint:
    path: str
    format: str  # "torch-zip" | "torch-legacy" | "safetensors" | "sharded" (with the shards' format)
    root: Any  # the unpickled object tree, tensors as TensorRecord
    files: List[str] = field(default_factory=list)
    metadata: Optional[Dict[str, str]] = None  # safetensors __metadata__ (merged over shards)
    size: int = 0  # bytes on disk over all files
