"""Header-only checkpoint readers: no torch, no pickled code, no tensor data."""

from __future__ import annotations

from statedict_lint.checkpoint.records import Checkpoint, TensorRecord
from statedict_lint.checkpoint.readers import read

__all__ = ["Checkpoint", "TensorRecord", "read"]
