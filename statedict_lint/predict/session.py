"""What predictions in one process share: parsed sources and per-node facts, in bounded tables.

A ``Session`` owns every cache of the predictor (the parsed CSTs of ``source/loader``, string literal values,
the catalog's top-level chunks, which ``if`` statements jump, which names a node mentions). Each table is an LRU
with a bound, so a long run (a flake8 or lint run, ``snapshot`` of a whole tree, the benchmark corpus) keeps at
most that many entries whatever it reads. ``predict(..., session=...)`` and ``Evaluator(..., session=...)`` take
one; without it they use the process's default session (``default_session()``), itself bounded.

Tables keyed by ``id()`` of a node keep the node itself in their value: an id is never reused while its entry
lives, and an evicted entry is simply computed again.
"""

from __future__ import annotations

from typing import Any, Dict

from statedict_lint.memo import LRU

# default bounds (entries per table)
SOURCES = 512  # parsed files (a timm run reads a few hundred)
STRINGS = 50_000  # string literal source text -> value
NODES = 200_000  # per-node facts (id-keyed, node kept alive by the entry)
CATALOGS = 4  # the catalog split into chunks, per (path, mtime)


class Session:
    """The bounded caches one run of predictions shares."""

    def __init__(self, sources: int = SOURCES, strings: int = STRINGS, jumps: int = NODES, names: int = NODES,
                 catalogs: int = CATALOGS) -> None:
        self.sources: LRU[Any] = LRU(sources)  # sha1(text):path -> source.loader.SourceFile
        self.strings: LRU[Any] = LRU(strings)  # string literal source -> its value
        self.catalog_chunks: LRU[Any] = LRU(catalogs)  # (path, mtime) -> [(name or None, source chunk)]
        self.jumps: LRU[Any] = LRU(jumps)  # id(if statement) -> (statement, has return/break/continue)
        self.names: LRU[Any] = LRU(names)  # id(node) -> (node, names it mentions)

    def tables(self) -> Dict[str, LRU[Any]]:
        return {"sources": self.sources, "strings": self.strings, "catalog_chunks": self.catalog_chunks,
                "jumps": self.jumps, "names": self.names}

    def clear(self) -> None:
        for table in self.tables().values():
            table.clear()


_DEFAULT = Session()


def default_session() -> Session:
    """The process's session, for callers that do not pass their own."""
    return _DEFAULT
