"""The one writer of docs/benchmarks.md: each benchmark owns a block
``<!-- bench:NAME --> ... <!-- /bench:NAME -->`` and rewrites only that block (atomically)."""

from __future__ import annotations

import os
from typing import Optional

DOC = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "docs", "benchmarks.md")


def write_block(name: str, text: str, title: Optional[str] = None, doc_path: str = DOC) -> None:
    """Replace block ``name`` (``inspect``, ``keys``, ...) with ``text`` under an optional ``## title``;
    append the block when the file or the block does not exist yet."""
    start, end = f"<!-- bench:{name} -->", f"<!-- /bench:{name} -->"
    try:
        with open(doc_path, encoding="utf-8") as fh:
            doc = fh.read()
    except FileNotFoundError:
        doc = "# Benchmarks\n"
    body = (f"## {title}\n\n" if title else "") + text.rstrip("\n") + "\n"
    block = f"{start}\n{body}{end}"
    if start in doc and end in doc:
        doc = doc[:doc.index(start)] + block + doc[doc.index(end) + len(end):]
    else:
        doc = doc.rstrip("\n") + "\n\n" + block + "\n"
    os.makedirs(os.path.dirname(doc_path), exist_ok=True)
    tmp = f"{doc_path}.tmp.{os.getpid()}"
    with open(tmp, "w", encoding="utf-8") as fh:
        fh.write(doc)
    os.replace(tmp, doc_path)


def machine() -> str:
    """Where the numbers come from, measured rather than asserted: interpreter, CPUs, load average."""
    import platform

    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    return (f"{platform.python_implementation()} {platform.python_version()}, {os.cpu_count()} CPUs, "
            f"1-minute load average {load:.1f} when the results were written (the benchmark's own processes "
            f"count in it; well above 1 means other jobs competed and the times are inflated)")
