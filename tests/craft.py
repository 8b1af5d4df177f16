"""Hand-built hostile checkpoints for the tests: pickles written opcode by opcode through a real Pickler (torch's
own globals, storage persistent ids, BUILD states) and torch-style zip archives around them."""

from __future__ import annotations

import io
import os
import pickle
import resource
import subprocess
import sys
import zipfile
from collections import OrderedDict
import torch


class Storage:
    def __init__(self, key, numel, stype=None):
        self.key, self.numel, self.stype = key, numel, stype


class Tensor:
    def __init__(self, storage, size, stride=None, offset=0, state=None):
        self.storage, self.size, self.offset, self.state = storage, tuple(size), offset, state
        if stride is None:
            stride, acc = [], 1
            for d in reversed(self.size):
                stride.insert(0, acc)
                acc *= max(d, 1)
        self.stride = tuple(stride)

    def __reduce__(self):
        args = (self.storage, self.offset, self.size, self.stride, False, OrderedDict())
        out = (torch._utils._rebuild_tensor_v2, args)
        return out + (self.state,) if self.state is not None else out


class _Pickler(pickle.Pickler):
    def persistent_id(self, obj):
        if isinstance(obj, Storage):
            return ("storage", obj.stype or torch.FloatStorage, obj.key, "cpu", obj.numel)
        return None


def dumps(obj):
    buf = io.BytesIO()
    _Pickler(buf, protocol=2).dump(obj)
    return buf.getvalue()


def torch_zip(path, pkl, records, version=b"3\n", skip=()):
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as z:
        entries = [("archive/data.pkl", pkl), ("archive/byteorder", b"little")]
        entries += [(f"archive/data/{k}", v) for k, v in records.items()]
        entries += [("archive/version", version)]
        for name, data in entries:
            if name not in skip:
                z.writestr(name, data)


REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def run_bounded(args, timeout=60, mem_mb=1024, cwd=None, env=None, preexec=None):
    """The CLI in a child process limited to ``mem_mb`` of address space and ``timeout`` seconds: a hang or a
    blow-up fails the test (subprocess.TimeoutExpired / a MemoryError traceback / a signal), never the machine."""
    def limit():
        resource.setrlimit(resource.RLIMIT_AS, (mem_mb << 20, mem_mb << 20))
        if preexec is not None:
            preexec()

    full_env = dict(os.environ, PYTHONIOENCODING="utf-8", PYTHONPATH=REPO)
    full_env.update(env or {})
    return subprocess.run([sys.executable, "-m", "statedict_lint", *args], capture_output=True, text=True,
                          timeout=timeout, preexec_fn=limit, cwd=cwd, env=full_env, errors="surrogateescape")


def assert_one_line(proc, *needles, rc=2):
    assert proc.returncode == rc, (proc.returncode, proc.stdout[-2000:], proc.stderr[-2000:])
    err = proc.stderr
    assert "Traceback" not in err, err[-3000:]
    assert err.count("\n") == 1 and err.startswith("statedict-lint: error: "), err[-3000:]
    for n in needles:
        assert n in err, (n, err)
    return err
