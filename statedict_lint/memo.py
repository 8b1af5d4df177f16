"""``LRU``: the one bounded in-process table (the least recently used entry goes first). Every in-process cache is
one of these, owned by the run that fills it: the predictor's ``predict.session.Session``, a lint run's
``rules.session.LintSession`` (and a few small module-level tables of parsed library files). A long flake8 or editor
session neither grows without limit nor keeps answers about files that changed."""

from __future__ import annotations

from collections import OrderedDict
from typing import Generic, Hashable, Optional, TypeVar

V = TypeVar("V")


class LRU(Generic[V]):
    """A mapping that keeps at most ``bound`` entries, dropping the least recently used."""

    __slots__ = ("bound", "data")

    def __init__(self, bound: int) -> None:
        if bound < 1:
            raise ValueError("an LRU table needs a bound of at least 1")
        self.bound = bound
        self.data: "OrderedDict[Hashable, V]" = OrderedDict()

    def get(self, key: Hashable, default: Optional[V] = None) -> Optional[V]:
        data = self.data
        try:
            value = data[key]
        except KeyError:
            return default
        data.move_to_end(key)
        return value

    def __getitem__(self, key: Hashable) -> V:
        value = self.data[key]  # (KeyError when absent, like a dict)
        self.data.move_to_end(key)
        return value

    def __setitem__(self, key: Hashable, value: V) -> None:
        data = self.data
        data[key] = value
        data.move_to_end(key)
        if len(data) > self.bound:
            data.popitem(last=False)

    def __contains__(self, key: object) -> bool:
        return key in self.data

    def __len__(self) -> int:
        return len(self.data)

    def clear(self) -> None:
        self.data.clear()
