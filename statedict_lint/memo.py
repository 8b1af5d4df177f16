"""``Memo``: a bounded in-process memo (the least recently used entry goes first). Every in-process cache outside
the predictor is one of these, owned by the run that fills it (``rules.session.LintSession`` for lint), so a long
flake8 or editor session neither grows without limit nor keeps answers about files that changed."""

from __future__ import annotations

from collections import OrderedDict
from typing import Any, Generic, Hashable, TypeVar

V = TypeVar("V")
_MISSING: Any = object()


class Memo(Generic[V]):
    def __init__(self, limit: int) -> None:
        if limit < 1:
            raise ValueError("a memo holds at least one entry")
        self.limit = limit
        self._data: "OrderedDict[Hashable, V]" = OrderedDict()

    def __contains__(self, key: Hashable) -> bool:
        return key in self._data

    def __getitem__(self, key: Hashable) -> V:
        value = self._data[key]
        self._data.move_to_end(key)
        return value

    def get(self, key: Hashable, default: Any = None) -> Any:
        value = self._data.get(key, _MISSING)
        if value is _MISSING:
            return default
        self._data.move_to_end(key)
        return value

    def __setitem__(self, key: Hashable, value: V) -> None:
        self._data[key] = value
        self._data.move_to_end(key)
        while len(self._data) > self.limit:
            self._data.popitem(last=False)

    def __len__(self) -> int:
        return len(self._data)

    def clear(self) -> None:
        self._data.clear()
