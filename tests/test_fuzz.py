"""Property tests over mutated pickles, zips, safetensors headers and source files (fixed seed, few examples in
`make test`; `make fuzz` runs many more: SDL_FUZZ_EXAMPLES).

Properties: no exception ever escapes the CLI (every bad input is exit 2 with one stderr line); what migrate
accepts it writes as a file the reader accepts; a safetensors header the reader accepts is one safetensors
itself loads, and the other way round."""

from __future__ import annotations

import contextlib
import io
import json
import os
import struct

import pytest

torch = pytest.importorskip("torch")
safetensors_torch = pytest.importorskip("safetensors.torch")
pytest.importorskip("hypothesis")
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from craft import Storage, Tensor, dumps, torch_zip  # noqa: E402
from statedict_lint.cli import main  # noqa: E402

SCALE = int(os.environ.get("SDL_FUZZ_EXAMPLES", "0"))


def examples(default: int) -> int:
    return SCALE or default


def _settings(default: int):  # fixed seed: the same examples on every run of `make test`
    return settings(max_examples=examples(default), deadline=None, suppress_health_check=list(HealthCheck),
                    derandomize=not SCALE, database=None)


def _run(argv):
    err, out = io.StringIO(), io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(out):
        rc = main(argv)  # any exception escaping main fails the test
    if rc == 2:
        assert err.getvalue().count("\n") == 1 and err.getvalue().startswith("statedict-lint: error: "), \
            err.getvalue()
    assert "Traceback" not in err.getvalue()
    return rc, out.getvalue(), err.getvalue()


def _mutate(data: bytes, edits, cut) -> bytes:
    b = bytearray(data)
    for where, byte, op in edits:
        i = min(int(where * len(b)), max(len(b) - 1, 0))
        if op == "set" and b:
            b[i] = byte
        elif op == "insert":
            b.insert(i, byte)
        elif len(b) > 1:
            del b[i]
    if cut is not None:
        b = b[: int(cut * len(b))]
    return bytes(b)


_EDITS = st.lists(st.tuples(st.floats(0, 1), st.integers(0, 255), st.sampled_from(["set", "insert", "delete"])),
                  min_size=1, max_size=6)
_SEEDS = {}


def _seeds(tmp):
    if not _SEEDS:
        sd = {"enc.weight": torch.arange(12.0).reshape(4, 3), "enc.bias": torch.zeros(4).half(),
              "dec.weight": torch.ones(3, 4)}
        p = os.path.join(tmp, "seed.pt")
        torch.save({"model": sd, "epoch": 1}, p)
        _SEEDS["zip"] = open(p, "rb").read()
        safetensors_torch.save_file(sd, p)
        _SEEDS["safetensors"] = open(p, "rb").read()
    return _SEEDS


# -- migrate over mutated files ------------------------------------------------------------------------------------
@_settings(40)
@given(kind=st.sampled_from(["zip", "safetensors"]), edits=_EDITS, cut=st.one_of(st.none(), st.floats(0.5, 1)))
def test_fuzz_migrate(tmp_path_factory, kind, edits, cut):
    d = tmp_path_factory.mktemp("mig")
    src = d / ("m.pt" if kind == "zip" else "m.safetensors")
    src.write_bytes(_mutate(_seeds(str(d))[kind], edits, cut))
    (d / "map.json").write_text(json.dumps({"enc.": "encoder."}))
    out = d / ("o.pt" if kind == "zip" else "o.safetensors")
    rc, _, _ = _run(["migrate", str(src), "--map", str(d / "map.json"), "-o", str(out)])
    assert rc in (0, 2)
    assert [n for n in os.listdir(d) if ".sdl-migrate-" in n] == []
    if rc == 0:  # what migrate writes, the reader reads, with the keys renamed
        rc2, text, _ = _run(["inspect", str(out), "--format", "json"])
        assert rc2 == 0
        assert not any(k.startswith("enc.") for k in json.loads(text)["keys"])
    else:
        assert not out.exists()


# -- pickles built from random opcodes -----------------------------------------------------------------------------
_S = Storage("0", 6)
_PIECES = [
    dumps({"w": Tensor(_S, (2, 3))})[2:-1], dumps({"w": Tensor(_S, (6,), state=(_S, 0, (3,), (1,)))})[2:-1],
    dumps([Tensor(_S, (6,))])[2:-1], dumps((1, 2))[2:-1], dumps("key")[2:-1], dumps(10 ** 30)[2:-1],
    b"}", b"]", b"(", b"t", b"l", b"d", b"s", b"u", b"a", b"e", b"b", b"R", b"0", b"2", b"1", b"N", b"\x88",
    b"q\x00", b"h\x00", b"r\xff\xff\xff\x7f", b"j\x00\x00\x00\x00", b"K\x07", b"X\x01\x00\x00\x00k",
    b"\x8e\xff\xff\xff\xff\xff\xff\xff\x7f", b"ctorch\nfloat32\n", b"ctorch._utils\n_rebuild_tensor_v2\n",
    b"ccollections\nOrderedDict\n", b"cos\nsystem\n", b"\x95\xff\xff\xff\xff\x00\x00\x00\x00",
]


@_settings(150)
@given(pieces=st.lists(st.integers(0, len(_PIECES) - 1), min_size=0, max_size=25))
def test_fuzz_pickle_opcodes(tmp_path_factory, pieces):
    pkl = b"\x80\x02" + b"".join(_PIECES[i] for i in pieces) + b"."
    p = tmp_path_factory.mktemp("pkl") / "p.pt"
    torch_zip(str(p), pkl, {"0": b"\0" * 24})
    rc, _, _ = _run(["inspect", str(p), "--format", "json"])
    assert rc in (0, 2)


# -- safetensors headers: the reader agrees with safetensors ---------------------------------------------------------
_DT = {"F32": 4, "F16": 2, "I64": 8, "U8": 1, "BOOL": 1}


@st.composite
def _header(draw):
    n = draw(st.integers(0, 4))
    header, off = {}, 0
    for i in range(n):
        dt = draw(st.sampled_from(sorted(_DT)))
        shape = draw(st.lists(st.integers(0, 3), max_size=3))
        size = _DT[dt]
        for d in shape:
            size *= d
        gap = draw(st.sampled_from([0, 0, 0, 1, 4]))
        begin = off + gap
        end = begin + size + draw(st.sampled_from([0, 0, 0, 1, -1]))
        header[f"t{i}"] = {"dtype": dt, "shape": shape, "data_offsets": [begin, max(end, begin - 1)]}
        off = max(end, begin)
    data_len = off + draw(st.sampled_from([0, 0, 0, 2]))
    if draw(st.booleans()):
        header["__metadata__"] = draw(st.sampled_from([{"format": "pt"}, {"a": 1}, []]))
    return header, data_len


@_settings(200)
@given(case=_header())
def test_fuzz_safetensors_headers_agree_with_safetensors(tmp_path_factory, case):
    header, data_len = case
    raw = json.dumps(header).encode()
    raw += b" " * (-len(raw) % 8)
    p = tmp_path_factory.mktemp("st") / "h.safetensors"
    p.write_bytes(struct.pack("<Q", len(raw)) + raw + b"\0" * data_len)
    rc, _, err = _run(["inspect", str(p)])
    assert rc in (0, 2)
    try:
        safetensors_torch.load_file(str(p))
        theirs = True
    except Exception:
        theirs = False
    if rc == 2 and "no state_dict found" in err:  # an empty header is a valid file without tensors
        rc = 0
    assert (rc == 0) == theirs, (header, data_len, err)


# -- mutated model source ----------------------------------------------------------------------------------------
SOURCE = '''import torch
import torch.nn as nn


class Net(nn.Module):
    def __init__(self, width=8, depth=2):
        super().__init__()
        self.stem = nn.Conv2d(3, width, 3)
        self.blocks = nn.ModuleList([nn.Linear(width, width) for _ in range(depth)])
        self.register_buffer("scale", torch.ones(width))
        self.head = nn.Linear(width * (1 + 1), 10)
'''


@_settings(25)
@given(edits=st.lists(st.tuples(st.floats(0, 1), st.sampled_from(list(b"()[]{}.,:=+*\n \"'#0aZ\\")),
                                st.sampled_from(["set", "insert", "delete"])), min_size=1, max_size=8),
       nest=st.sampled_from([0, 0, 150, 250]))
def test_fuzz_source(tmp_path_factory, edits, nest):
    text = _mutate(SOURCE.encode(), edits, None).decode("utf-8", "replace")
    if nest:
        text += "\nx = " + "(" * nest + "1" + ")" * nest + "\n"
    p = tmp_path_factory.mktemp("src") / "net.py"
    p.write_text(text, encoding="utf-8")
    rc, _, _ = _run(["keys", f"{p}:Net", "--no-cache"])
    assert rc in (0, 1, 2)
    from statedict_lint.rules.engine import lint_source

    for f in lint_source(text, str(p)):  # never raises; an internal error is one finding, not a crash
        assert f.code != "SDL999", f.message
