"""numpy: imported by model code for constants and small computations; nothing of it is modelled yet, so
every name is Unknown (never state)."""

from __future__ import annotations

from statedict_lint.predict.libs import LibraryModel, register


@register
class Numpy(LibraryModel):
    name = "numpy"
    roots = ("numpy",)
