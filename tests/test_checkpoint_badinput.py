"""Bad and hostile checkpoints: one line on stderr, exit 2, no payload ever runs; a fuzz test over mutations."""

from __future__ import annotations

import io
import json
import os
import pickle
import struct
import subprocess
import zipfile

import pytest

torch = pytest.importorskip("torch")
safetensors_torch = pytest.importorskip("safetensors.torch")
hypothesis = pytest.importorskip("hypothesis")
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from statedict_lint.cli import main  # noqa: E402


def _inspect(path, capsys):
    rc = main(["inspect", str(path)])
    cap = capsys.readouterr()
    return rc, cap.out, cap.err


def _assert_one_line_error(path, capsys, *needles):
    rc, out, err = _inspect(path, capsys)
    assert rc == 2, (rc, out, err)
    assert err.count("\n") == 1 and err.startswith("statedict-lint: error: "), err
    assert "Traceback" not in err
    for n in needles:
        assert n in err, (n, err)
    return err


# -- hostile pickles ---------------------------------------------------------------------------------
class _Payload:
    def __init__(self, func, args):
        self.func, self.args = func, args

    def __reduce__(self):
        return self.func, self.args


class _Exploit:
    """An object whose own __reduce__ names a non-torch class with a side-effecting constructor."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (subprocess.Popen, (["touch", self.marker],))


def _payloads(marker):
    return {
        "os.system": (_Payload(os.system, (f"touch {marker}",)), ("system",)),
        "eval": (_Payload(eval, (f"open({marker!r}, 'w').close()",)), ("builtins.eval",)),
        "exec": (_Payload(exec, (f"open({marker!r}, 'w').close()",)), ("builtins.exec",)),
        "subprocess": (_Payload(subprocess.call, (["touch", marker],)), ("subprocess.call",)),
        "reduce": (_Exploit(marker), ("subprocess.Popen",)),
    }


@pytest.mark.parametrize("fmt", ["zip", "legacy", "raw"])
@pytest.mark.parametrize("kind", ["os.system", "eval", "exec", "subprocess", "reduce"])
def test_pickled_payloads_are_refused_and_never_run(tmp_path, capsys, fmt, kind):
    marker = str(tmp_path / "PWNED")
    obj, needles = _payloads(marker)[kind]
    p = tmp_path / "evil.pt"
    state = {"weight": torch.zeros(2), "x": obj}
    if fmt == "raw":  # a bare pickle is not a torch file, but the payload must not run either
        p.write_bytes(pickle.dumps(state, protocol=2))
    else:
        torch.save(state, str(p), _use_new_zipfile_serialization=fmt == "zip")
    assert not os.path.exists(marker)
    err = _assert_one_line_error(p, capsys)
    if fmt != "raw":
        assert "refusing to unpickle global" in err and any(n in err for n in needles), err
    assert not os.path.exists(marker), "the payload ran"
    # and check refuses too, before any prediction
    rc = main(["check", "nosuch.py:M", str(p)])
    assert rc == 2
    assert not os.path.exists(marker)


def test_payload_in_legacy_sys_info_and_magic_pickles(tmp_path, capsys):
    marker = str(tmp_path / "PWNED")
    buf = io.BytesIO()
    pickle.dump(_Payload(os.system, (f"touch {marker}",)), buf, protocol=2)
    p = tmp_path / "evil.pt"
    p.write_bytes(buf.getvalue())
    _assert_one_line_error(p, capsys, "refusing to unpickle global")
    assert not os.path.exists(marker)


# -- malformed files ---------------------------------------------------------------------------------
def _good_zip(tmp_path):
    p = tmp_path / "good.pt"
    torch.save({"a.weight": torch.zeros(64, 64), "a.bias": torch.zeros(64)}, str(p))
    return p


def test_truncated_files(tmp_path, capsys):
    good = _good_zip(tmp_path)
    data = good.read_bytes()
    for cut in (10, len(data) // 2, len(data) - 30):
        p = tmp_path / f"cut{cut}.pt"
        p.write_bytes(data[:cut])
        _assert_one_line_error(p, capsys)
    legacy = tmp_path / "legacy.pt"
    torch.save({"w": torch.zeros(1000)}, str(legacy), _use_new_zipfile_serialization=False)
    ldata = legacy.read_bytes()
    for cut in (5, len(ldata) // 3, len(ldata) - 100):
        p = tmp_path / f"lcut{cut}.pt"
        p.write_bytes(ldata[:cut])
        _assert_one_line_error(p, capsys)
    st = tmp_path / "m.safetensors"
    safetensors_torch.save_file({"w": torch.zeros(100)}, str(st))
    sdata = st.read_bytes()
    for cut in (4, 20, len(sdata) - 10):
        p = tmp_path / f"scut{cut}.safetensors"
        p.write_bytes(sdata[:cut])
        _assert_one_line_error(p, capsys)


def test_wrong_magic(tmp_path, capsys):
    p = tmp_path / "x.pt"
    p.write_bytes(b"GIF89a" + b"\0" * 100)
    _assert_one_line_error(p, capsys, "not a checkpoint")
    q = tmp_path / "pickle.pt"
    q.write_bytes(pickle.dumps(12345, protocol=2) + pickle.dumps(1001, protocol=2))
    _assert_one_line_error(q, capsys, "wrong magic")
    e = tmp_path / "empty.pt"
    e.write_bytes(b"")
    _assert_one_line_error(e, capsys)
    _assert_one_line_error(tmp_path / "nosuch.pt", capsys, "no such file")


def _patch_central(data: bytes, name: bytes, field_offset: int, value: int) -> bytes:
    """Overwrite a 4-byte little-endian field of the central directory record of ``name``."""
    i = data.rfind(b"PK\x01\x02", 0)
    while i != -1:
        nlen = struct.unpack("<H", data[i + 28:i + 30])[0]
        if data[i + 46:i + 46 + nlen] == name:
            return data[:i + field_offset] + struct.pack("<I", value) + data[i + field_offset + 4:]
        i = data.rfind(b"PK\x01\x02", 0, i)
    raise AssertionError(f"{name!r} not found")


def test_zip_entries_lying_about_sizes(tmp_path, capsys):
    good = _good_zip(tmp_path)
    data = good.read_bytes()
    with zipfile.ZipFile(str(good)) as zf:
        names = {zi.filename: zi for zi in zf.infolist()}
    pkl = next(n for n in names if n.endswith("/data.pkl")).encode()
    storage = next(n for n in names if n.endswith("/data/0")).encode()
    real_pkl = names[pkl.decode()].file_size
    cases = {
        "pkl_bigger": _patch_central(_patch_central(data, pkl, 20, real_pkl + 500), pkl, 24, real_pkl + 500),
        "pkl_smaller": _patch_central(_patch_central(data, pkl, 20, real_pkl - 20), pkl, 24, real_pkl - 20),
        "pkl_huge": _patch_central(_patch_central(data, pkl, 20, 0x7FFFFFF0), pkl, 24, 0x7FFFFFF0),
        "storage_small": _patch_central(_patch_central(data, storage, 20, 8), storage, 24, 8),
        "storage_past_end": _patch_central(_patch_central(data, storage, 20, 10 ** 9), storage, 24, 10 ** 9),
    }
    for name, blob in cases.items():
        p = tmp_path / f"{name}.pt"
        p.write_bytes(blob)
        _assert_one_line_error(p, capsys)


def _safetensors(header: dict, data_len: int, raw_header: bytes = None) -> bytes:
    h = raw_header if raw_header is not None else json.dumps(header).encode()
    return struct.pack("<Q", len(h)) + h + b"\0" * data_len


@pytest.mark.parametrize("name,blob,needle", [
    ("too_long", struct.pack("<Q", 200 * 1024 * 1024) + b"{" + b" " * 100, "exceeds"),
    ("longer_than_file", struct.pack("<Q", 5000) + b'{"a": 1}', "claims"),
    ("not_json", _safetensors({}, 0, raw_header=b"{not json at all"), "not JSON"),
    ("not_utf8", _safetensors({}, 0, raw_header=b'{"\xff\xfe": 1}'), "not JSON"),
    ("overlap", _safetensors({"a": {"dtype": "F32", "shape": [4], "data_offsets": [0, 16]},
                              "b": {"dtype": "F32", "shape": [4], "data_offsets": [8, 24]}}, 24), "overlap"),
    ("out_of_range", _safetensors({"a": {"dtype": "F32", "shape": [4], "data_offsets": [0, 16]}}, 8), "outside"),
    ("negative", _safetensors({"a": {"dtype": "F32", "shape": [0], "data_offsets": [-4, -4]}}, 8), "outside"),
    ("size_vs_shape", _safetensors({"a": {"dtype": "F32", "shape": [3], "data_offsets": [0, 16]}}, 16), "needs"),
    ("bad_dtype", _safetensors({"a": {"dtype": "F33", "shape": [1], "data_offsets": [0, 4]}}, 4), "dtype"),
    ("bad_shape", _safetensors({"a": {"dtype": "F32", "shape": "x", "data_offsets": [0, 4]}}, 4), "shape"),
    ("bad_meta", _safetensors({"__metadata__": {"a": 1}}, 0), "__metadata__"),
    ("list_header", _safetensors([], 0, raw_header=b"{}") [:8] + b"[1]", "not"),
])
def test_bad_safetensors(tmp_path, capsys, name, blob, needle):
    p = tmp_path / f"{name}.safetensors"
    p.write_bytes(blob)
    _assert_one_line_error(p, capsys, needle)


def test_legacy_storage_count_lies(tmp_path, capsys):
    p = tmp_path / "legacy.pt"
    torch.save({"w": torch.zeros(1000)}, str(p), _use_new_zipfile_serialization=False)
    data = bytearray(p.read_bytes())
    # the element count of the only storage sits 8 + 4000 bytes before the end
    pos = len(data) - 4000 - 8
    assert struct.unpack("<q", bytes(data[pos:pos + 8]))[0] == 1000
    for count in (10, 2 ** 40, -1):
        data[pos:pos + 8] = struct.pack("<q", count)
        q = tmp_path / f"lie{count}.pt"
        q.write_bytes(bytes(data))
        _assert_one_line_error(q, capsys)


def test_pickle_claiming_huge_bytes_does_not_allocate(tmp_path, capsys):
    # a legacy-looking file whose main pickle claims a 1 TB bytes object
    head = pickle.dumps(0x1950A86A20F9469CFC6C, protocol=2) + pickle.dumps(1001, protocol=2) + \
        pickle.dumps({"little_endian": True}, protocol=2)
    evil = b"\x80\x04\x8e" + struct.pack("<Q", 2 ** 40) + b"abc"
    p = tmp_path / "huge.pt"
    p.write_bytes(head + evil)
    err = _assert_one_line_error(p, capsys)
    assert "truncated" in err or "too large" in err or "limit" in err, err


def test_pickle_claiming_impossible_bytearray_gives_one_line(tmp_path, capsys):
    # found by the fuzz test: BYTEARRAY8 with a length near 2**63 makes the C unpickler fail to allocate, and
    # CPython then prints "SystemError: deallocated bytearray object has exported buffers" on stderr too
    head = pickle.dumps(0x1950A86A20F9469CFC6C, protocol=2) + pickle.dumps(1001, protocol=2) + \
        pickle.dumps({"little_endian": True}, protocol=2)
    evil = b"\x80\x05\x96" + struct.pack("<Q", 2 ** 62) + b"abc"
    p = tmp_path / "huge_bytearray.pt"
    p.write_bytes(head + evil)
    err = _assert_one_line_error(p, capsys)
    assert "too large" in err or "truncated" in err or "limit" in err, err


# -- fuzz ------------------------------------------------------------------------------------------
def _seeds(tmp):
    out = {}
    sd = {"enc.weight": torch.zeros(4, 3), "enc.bias": torch.zeros(4).half(), "n": torch.tensor(3)}
    p = os.path.join(tmp, "seed.pt")
    torch.save({"state_dict": sd, "epoch": 1}, p)
    out["zip"] = open(p, "rb").read()
    torch.save(sd, p, _use_new_zipfile_serialization=False)
    out["legacy"] = open(p, "rb").read()
    safetensors_torch.save_file(sd, p)
    out["safetensors"] = open(p, "rb").read()
    return out


_SEEDS = {}


@settings(max_examples=int(os.environ.get("SDL_FUZZ_EXAMPLES", "0")) or 150, deadline=None,
          suppress_health_check=list(HealthCheck), derandomize="SDL_FUZZ_EXAMPLES" not in os.environ, database=None)
@given(kind=st.sampled_from(["zip", "legacy", "safetensors"]),
       edits=st.lists(st.tuples(st.floats(0, 1), st.integers(0, 255), st.sampled_from(["set", "insert", "delete"])),
                      min_size=1, max_size=6),
       cut=st.one_of(st.none(), st.floats(0, 1)))
def test_fuzz_mutated_checkpoints(tmp_path_factory, kind, edits, cut):
    if not _SEEDS:
        _SEEDS.update(_seeds(str(tmp_path_factory.mktemp("seeds"))))
    data = bytearray(_SEEDS[kind])
    for where, byte, op in edits:
        i = min(int(where * len(data)), len(data) - 1)
        if op == "set":
            data[i] = byte
        elif op == "insert":
            data.insert(i, byte)
        elif len(data) > 1:
            del data[i]
    if cut is not None:
        data = data[: int(cut * len(data))]
    p = tmp_path_factory.mktemp("fuzz") / "m.bin"
    p.write_bytes(bytes(data))
    import contextlib
    err = io.StringIO()
    out = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(out):
        rc = main(["inspect", str(p), "--format", "json"])  # any exception escaping main fails the test
    assert rc in (0, 2)
    if rc == 2:
        assert err.getvalue().count("\n") == 1 and err.getvalue().startswith("statedict-lint: error: ")
    else:
        json.loads(out.getvalue())
