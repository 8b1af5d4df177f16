"""Plain records the checkpoint readers produce instead of tensors (stdlib only, no torch)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional, Tuple

from statedict_lint.torchfacts import DTYPE_BYTES


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
