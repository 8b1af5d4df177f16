"""Real model code for the benchmarks, taken from PyPI (the one network source these machines reach).

``python bench/corpus.py [NAME]`` prints the folder of a corpus, downloading and unpacking it on first use into
``$SDL_BENCH_CACHE`` (default ``~/.cache/statedict-lint-bench``). Nothing of it is ever committed: the
benchmarks only read it.

Corpora (pinned so results stay comparable between runs):

* ``timm``: ``timm==1.0.31``, folder ``timm/models`` -- 119 files, ~102k lines, the largest file
  ``vision_transformer.py`` (~5.3k lines); the library's layers sit beside it under ``timm/layers``.
* ``transformers``: ``transformers==5.24.0``, folder ``transformers/models``.
"""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile

CORPORA = {
    "timm": ("timm==1.0.31", "timm/models"),
    "transformers": ("transformers==5.24.0", "transformers/models"),
}


def cache_dir() -> str:
    return os.environ.get("SDL_BENCH_CACHE") or os.path.join(os.path.expanduser("~"), ".cache", "statedict-lint-bench")


def corpus(name: str = "timm") -> str:
    """Folder of the corpus ``name`` (downloaded once with ``pip download --no-deps``)."""
    spec, sub = CORPORA[name]
    root = os.path.join(cache_dir(), spec.replace("==", "-"))
    folder = os.path.join(root, sub)
    if os.path.isdir(folder):
        return folder
    dl = os.path.join(cache_dir(), "wheels")
    os.makedirs(dl, exist_ok=True)
    subprocess.run([sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "--only-binary=:all:",
                    "-d", dl, spec], check=True)
    dist = spec.split("==")[0].replace("-", "_")
    wheel = next(os.path.join(dl, f) for f in sorted(os.listdir(dl))
                 if f.startswith(dist + "-" + spec.split("==")[1] + "-") and f.endswith(".whl"))
    top = sub.split("/")[0] + "/"
    with zipfile.ZipFile(wheel) as zf:
        zf.extractall(root, [n for n in zf.namelist() if n.startswith(top) and n.endswith(".py")])
    return folder


if __name__ == "__main__":
    print(corpus(sys.argv[1] if len(sys.argv) > 1 else "timm"))
