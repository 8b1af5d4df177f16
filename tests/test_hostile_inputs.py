"""Issue 12 (readers' part): each hostile input is built here and must end in the bounded, one-line outcome.

Where time or memory is the point, the command runs in a child process limited in address space and wall time
(``craft.run_bounded``): without the bound the child is killed or raises MemoryError, and the test fails."""

from __future__ import annotations

import json
import os
import pickle
import re
import signal
import stat
import struct
import subprocess
import sys
import zipfile

import pytest

torch = pytest.importorskip("torch")
safetensors_torch = pytest.importorskip("safetensors.torch")

from craft import Storage, Tensor, assert_one_line, dumps, run_bounded, torch_zip  # noqa: E402
from statedict_lint.cli import main  # noqa: E402


def _sd(n=3):
    return {f"layer.{i}.weight": torch.full((2, 2), float(i)) for i in range(n)}


def _zip_with_pickle(path, pkl):
    torch_zip(str(path), pkl, {})


def _fifo(path):
    os.mkfifo(str(path))
    return str(path)


# =========================================================================================== 12.4 bounds
def test_memo_shared_dicts_are_walked_once(tmp_path):
    # 100 keys per level all naming the same child (one memo entry each): 100**4 paths to the bottom
    bottom = {"w": torch.zeros(2)}
    level = bottom
    for _ in range(4):
        level = {f"k{i}": level for i in range(100)}
    p = tmp_path / "shared.pt"
    torch.save(level, str(p))
    assert p.stat().st_size < 20_000
    proc = run_bounded(["inspect", str(p)], timeout=60, mem_mb=1024)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "state_dict: ['k0.k0.k0.k0']" in proc.stdout
    assert "w " in proc.stdout


def test_pickle_of_millions_of_objects_is_refused(tmp_path):
    # a list of 6M empty dicts: 6 MB of opcodes (tens of KB zipped), 400+ MB once built
    pkl = b"\x80\x02](" + b"}" * 6_000_000 + b"e."
    p = tmp_path / "objects.pt"
    with zipfile.ZipFile(str(p), "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("archive/data.pkl", pkl)
        z.writestr("archive/version", b"3\n")
    assert p.stat().st_size < 100_000
    for cmd in (["inspect", str(p)], ["migrate", str(p), "--map", str(_map(tmp_path, {"a.": "b."})),
                                      "-o", str(tmp_path / "out.pt")]):
        proc = run_bounded(cmd, timeout=60, mem_mb=700)
        assert_one_line(proc, "limit")
    assert not (tmp_path / "out.pt").exists()


def test_huge_literal_in_the_pickle_is_refused_without_reading_it(tmp_path):
    blob = b"\0" * (20 << 20)  # 20 MB of BINBYTES8 (under the pickle cap, over the literal cap), zipped ~20 KB
    pkl = b"\x80\x04\x95" + struct.pack("<Q", 0) + b"}\x8c\x01x\x8e" + struct.pack("<Q", len(blob)) + blob + b"s."
    p = tmp_path / "blob.pt"
    with zipfile.ZipFile(str(p), "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("archive/data.pkl", pkl)
        z.writestr("archive/version", b"3\n")
    del blob, pkl
    assert p.stat().st_size < 1_000_000
    for cmd in (["inspect", str(p)], ["migrate", str(p), "--map", str(_map(tmp_path, {"a.": "b."})),
                                      "-o", str(tmp_path / "out.pt")]):
        proc = run_bounded(cmd, timeout=60, mem_mb=600)
        assert_one_line(proc, "BINBYTES8", "limit")


def test_nested_dicts_for_migrate_are_bounded(tmp_path):
    # a million nested dicts: {"a": {"a": ...}} -- 4M opcodes for migrate's symbolic walk
    pkl = b"\x80\x02" + b"}X\x01\x00\x00\x00a" * 1_000_000 + b"}" + b"s" * 1_000_000 + b"."
    p = tmp_path / "nested.pt"
    with zipfile.ZipFile(str(p), "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("archive/data.pkl", pkl)
        z.writestr("archive/version", b"3\n")
    proc = run_bounded(["migrate", str(p), "--map", str(_map(tmp_path, {"a.": "b."})), "-o",
                        str(tmp_path / "out.pt")], timeout=60, mem_mb=900)
    assert_one_line(proc)
    assert not (tmp_path / "out.pt").exists()


def test_zip_claiming_500k_entries_is_refused_before_listing(tmp_path):
    p = tmp_path / "many.pt"
    torch.save(_sd(), str(p))
    data = bytearray(p.read_bytes())
    eocd = data.rfind(b"PK\x05\x06")
    struct.pack_into("<HH", data, eocd + 8, 0xFFFF, 0xFFFF)  # entries on this disk / total: zip64 says more
    z64 = data.rfind(b"PK\x06\x06")
    if z64 >= 0:
        struct.pack_into("<QQ", data, z64 + 24, 500_000, 500_000)
    else:
        struct.pack_into("<HH", data, eocd + 8, 50_000, 50_000)
    p.write_bytes(bytes(data))
    proc = run_bounded(["migrate", str(p), "--map", str(_map(tmp_path, {"a.": "b."})), "-o",
                        str(tmp_path / "out.pt")], timeout=60, mem_mb=600)
    assert_one_line(proc)
    proc = run_bounded(["inspect", str(p)], timeout=60, mem_mb=600)
    assert_one_line(proc)


def test_real_zip_over_the_entry_limit(tmp_path, monkeypatch, capsys):
    from statedict_lint.checkpoint import readers

    p = tmp_path / "m.pt"
    torch.save(_sd(40), str(p))  # 40 storages + 5 records
    monkeypatch.setattr(readers, "MAX_ZIP_ENTRIES", 20)
    assert main(["inspect", str(p)]) == 2
    assert "limit" in capsys.readouterr().err


def test_index_naming_100k_shards(tmp_path):
    wm = {f"k{i}": f"model-{i:06d}-of-100000.safetensors" for i in range(100_000)}
    p = tmp_path / "model.safetensors.index.json"
    p.write_text(json.dumps({"metadata": {}, "weight_map": wm}))
    proc = run_bounded(["inspect", str(p)], timeout=60, mem_mb=700)
    assert_one_line(proc, "100,000 shard files", "limit")


def test_index_with_many_keys_in_few_shards_is_linear(tmp_path):
    # 200k keys over 2 shard names: de-duplication must not be quadratic (it used a list)
    keys = {f"k{i}": torch.zeros(1) for i in range(4)}
    safetensors_torch.save_file(dict(list(keys.items())[:2]), str(tmp_path / "a.safetensors"))
    safetensors_torch.save_file(dict(list(keys.items())[2:]), str(tmp_path / "b.safetensors"))
    wm = {f"x{i}": ("a.safetensors" if i % 2 else "b.safetensors") for i in range(200_000)}
    p = tmp_path / "model.safetensors.index.json"
    p.write_text(json.dumps({"weight_map": wm}))
    proc = run_bounded(["inspect", str(p)], timeout=60, mem_mb=900)
    assert_one_line(proc, "mapped to")  # x0 is not in its shard: found after a linear pass


def test_huge_safetensors_header_is_refused(tmp_path):
    p = tmp_path / "big.safetensors"
    n = 100_000_000
    with open(p, "wb") as fh:
        fh.write(struct.pack("<Q", n) + b'{"a":' + b" " * 16)
        fh.truncate(8 + n + 16)  # sparse: the file really holds a 100 MB header
    for cmd in (["inspect", str(p)], ["migrate", str(p), "--map", str(_map(tmp_path, {"a": "b"})), "-o",
                                      str(tmp_path / "o.safetensors")]):
        proc = run_bounded(cmd, timeout=60, mem_mb=500)
        assert_one_line(proc, "limit")


def _map(tmp_path, mapping):
    p = tmp_path / "map.json"
    p.write_text(json.dumps(mapping))
    return p


@pytest.mark.parametrize("which", ["checkpoint", "index", "map", "config", "lock", "source"])
@pytest.mark.parametrize("kind", ["fifo", "devzero"])
def test_fifo_and_dev_zero_are_refused(tmp_path, which, kind):
    ck = tmp_path / "m.pt"
    torch.save(_sd(), str(ck))
    (tmp_path / "model.py").write_text("import torch.nn as nn\n\nclass M(nn.Module):\n    def __init__(self, n=3):\n"
                                       "        super().__init__()\n        self.layer = nn.ModuleList("
                                       "[nn.Linear(2, 2, bias=False) for _ in range(n)])\n")
    bad = str(tmp_path / f"bad_{which}.json") if which in ("index", "map", "config") else str(tmp_path / "bad")
    if which == "index":
        bad = str(tmp_path / "model.safetensors.index.json")
    if which == "source":
        bad = str(tmp_path / "bad.py")
    if kind == "fifo":
        _fifo(bad)
    else:
        os.symlink("/dev/zero", bad)
    cmds = {
        "checkpoint": ["inspect", bad],
        "index": ["inspect", bad],
        "map": ["migrate", str(ck), "--map", bad, "-o", str(tmp_path / "o.pt")],
        "config": ["check", f"{tmp_path / 'model.py'}:M", str(ck), "--config", f"cfg={bad}"],
        "lock": ["lint", str(tmp_path / "model.py"), "--lock", bad],
        "source": ["keys", f"{bad}:M"],
    }
    if which == "lock":  # both readers of a lock file: lint's SDL800 and lock --check
        proc = run_bounded(["lock", "--check", "-o", bad, str(tmp_path / "model.py")], timeout=30, mem_mb=800,
                           cwd=str(tmp_path))
        err = assert_one_line(proc)
        assert "regular file" in err, err
    proc = run_bounded(cmds[which], timeout=30, mem_mb=800, cwd=str(tmp_path))
    err = assert_one_line(proc)
    assert "regular file" in err or "not a" in err, err


def test_lock_file_fifo_through_lockfile_read(tmp_path):
    from statedict_lint.errors import UserError
    from statedict_lint.review.lockfile import read

    fifo = _fifo(tmp_path / "statedict.lock")
    with pytest.raises(UserError, match="FIFO"):
        read(fifo)


# =========================================================================================== 12.5 parser
@pytest.mark.parametrize("expr", ["(" * 100_000 + "1" + ")" * 100_000, "[" * 100_000 + "]" * 100_000,
                                  "a" + ".b" * 100_000, "f" + "()" * 100_000])
def test_deeply_nested_source_is_one_line_not_a_segfault(tmp_path, expr):
    p = tmp_path / "deep.py"
    p.write_text("import torch.nn as nn\n\nclass M(nn.Module):\n    def __init__(self):\n        super().__init__()\n"
                 "        self.l = nn.Linear(2, 2)\n\nx = " + expr + "\n")
    proc = run_bounded(["keys", f"{p}:M", "--no-cache"], timeout=60, mem_mb=1500)
    assert_one_line(proc, "nested too deeply")


def test_deep_brackets_after_a_syntax_error_never_reach_libcst(tmp_path):
    p = tmp_path / "deep.py"
    p.write_text("x = )\ny = " + "(" * 100_000 + ")" * 100_000 + "\n")
    proc = run_bounded(["keys", f"{p}:M", "--no-cache"], timeout=60, mem_mb=1500)
    assert_one_line(proc, "nested too deeply")


def test_source_over_the_size_limit(tmp_path):
    from statedict_lint.limits import MAX_SOURCE_BYTES

    p = tmp_path / "big.py"
    body = "import torch.nn as nn\n\nclass M(nn.Module):\n    def __init__(self):\n        super().__init__()\n" \
           "        self.l = nn.Linear(2, 2)\n"
    line = "x = 1  # " + "a" * 90 + "\n"
    p.write_text(body + line * (MAX_SOURCE_BYTES // len(line) + 10))
    proc = run_bounded(["keys", f"{p}:M", "--no-cache"], timeout=60, mem_mb=1500)
    assert_one_line(proc, "limit")
    proc = run_bounded(["lint", str(p), "--no-cache"], timeout=60, mem_mb=1500)
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    assert proc.stdout.count("SDL998") == 1 and "limit" in proc.stdout
    from statedict_lint.rules.engine import all_rules, run_rules
    import ast

    found = run_rules(ast.parse("x = 1\n"), p.read_text(), str(p), all_rules())  # the flake8 plugin's path
    assert [f.code for f in found] == ["SDL998"]


def test_lock_says_which_file_it_could_not_read(tmp_path):
    from statedict_lint.limits import MAX_SOURCE_BYTES

    repo = tmp_path / "repo"
    repo.mkdir()
    subprocess.run(["git", "init", "-q", str(repo)], check=True)
    (repo / "small.py").write_text("import torch.nn as nn\n\nclass N(nn.Module):\n    def __init__(self):\n"
                                   "        super().__init__()\n        self.l = nn.Linear(2, 2)\n")
    line = "x = 1  # " + "a" * 90 + "\n"
    (repo / "big.py").write_text("import torch.nn as nn\n\nclass M(nn.Module):\n    pass\n"
                                 + line * (MAX_SOURCE_BYTES // len(line) + 10))
    proc = run_bounded(["lock", "--no-cache"], timeout=120, mem_mb=1500, cwd=str(repo))
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "big.py: not read (larger than the 4 MiB limit" in proc.stderr


def test_long_sum_lints_as_one_line(tmp_path):
    p = tmp_path / "sum.py"
    p.write_text("import torch\nimport torch.nn as nn\n\nclass M(nn.Module):\n    def forward(self, x):\n"
                 "        return " + "+".join(["1"] * 3000) + "\n")
    proc = run_bounded(["lint", str(p), "--no-cache"], timeout=60, mem_mb=1500)
    assert "Traceback" not in proc.stderr and "RecursionError" not in proc.stderr + proc.stdout
    assert proc.stdout.count("\n") == 1 and "SDL998" in proc.stdout and "nested too deeply" in proc.stdout


def test_rule_recursion_is_one_finding(monkeypatch):
    import ast

    from statedict_lint.rules import engine

    rules = engine.all_rules()[:5]

    def boom(self, ctx):
        raise RecursionError("deep")

    for r in rules:
        monkeypatch.setattr(type(r), "check", boom)
    found = engine.run_rules(ast.parse("import torch\nx = torch.nn\n"), "import torch\nx = torch.nn # state_dict "
                             "Module load_state_dict\n", "f.py", rules)
    assert [f.code for f in found] == ["SDL999"]


# =========================================================================================== 12.7 tracebacks
def test_build_on_a_tensor_follows_torch(tmp_path, capsys):
    st = Storage("0", 4)
    cases = {
        "dict_state": ({"w": Tensor(st, (4,), state={"shape": (1000,)})}, None),  # torch: set_() refuses a str
        "set_": ({"w": Tensor(st, (4,), state=(st, 0, (2,), (1,)))}, (2,)),  # torch: tensor.set_(...) -> [2]
        "set_past_storage": ({"w": Tensor(st, (4,), state=(st, 0, (8,), (1,)))}, None),
    }
    for name, (obj, shape) in cases.items():
        p = tmp_path / f"{name}.pt"
        torch_zip(str(p), dumps(obj), {"0": b"\0" * 16})
        rc = main(["inspect", str(p), "--format", "json"])
        out, err = capsys.readouterr()
        if shape is None:
            with pytest.raises(Exception):
                torch.load(str(p), weights_only=True)
            assert rc == 2 and err.count("\n") == 1, err
        else:
            assert tuple(torch.load(str(p), weights_only=True)["w"].shape) == shape
            assert rc == 0 and json.loads(out)["keys"]["w"]["shape"] == list(shape)


def test_build_cannot_change_shared_stand_ins(tmp_path, capsys):
    # BUILD on torch.float32 (a shared dtype object) or on a rebuild function must not change them for the next
    # load of the same process
    def u(s):
        return b"X" + struct.pack("<I", len(s)) + s.encode()

    builds = {
        "dtype": b"ctorch\nfloat32\n}" + u("name") + u("int8") + b"sb",
        "function": b"ctorch._utils\n_rebuild_tensor_v2\nN}" + u("__defaults__") + b")s\x86b",
        "layout": b"ctorch\nstrided\n}" + u("name") + u("x") + b"sb",
    }
    from statedict_lint.checkpoint.unpickler import ALLOWED

    for name, op in builds.items():
        p = tmp_path / f"{name}.pt"
        torch_zip(str(p), b"\x80\x02}" + u("x") + op + b"s.", {})
        assert main(["inspect", str(p)]) == 2, name
        assert "pickle BUILD" in capsys.readouterr().err, name
    assert ALLOWED[("torch", "float32")].name == "float32"
    assert ALLOWED[("torch", "strided")].name == "torch.strided" and ALLOWED[("torch", "strided")].state is None
    good = tmp_path / "good.pt"
    torch.save({"w": torch.zeros(2, dtype=torch.float32)}, str(good))
    assert main(["inspect", str(good), "--format", "json"]) == 0
    assert json.loads(capsys.readouterr().out)["keys"]["w"]["dtype"] == "float32"


def test_huge_dimension_and_huge_int(tmp_path, capsys):
    st = Storage("0", 4)
    p = tmp_path / "dim.pt"
    torch_zip(str(p), dumps({"w": Tensor(st, (10 ** 5000, 0), stride=(1, 1))}), {"0": b"\0" * 16})
    assert main(["inspect", str(p)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "int64" in err
    with pytest.raises(Exception):
        torch.load(str(p), weights_only=True)
    q = tmp_path / "int.pt"
    torch.save({"model": _sd(), "epoch": 10 ** 5000}, str(q))
    assert main(["inspect", str(q)]) == 0
    assert "epoch: int of 16610 bits" in capsys.readouterr().out
    h = {"a": {"dtype": "F32", "shape": [10 ** 4000], "data_offsets": [0, 4]}}
    s = tmp_path / "dim.safetensors"
    raw = json.dumps(h).encode()
    s.write_bytes(struct.pack("<Q", len(raw)) + raw + b"\0" * 4)
    assert main(["inspect", str(s)]) == 2
    assert capsys.readouterr().err.count("\n") == 1


def test_lone_surrogate_key_prints(tmp_path):
    raw = b'{"a\\udc80b":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}'
    p = tmp_path / "s.safetensors"
    p.write_bytes(struct.pack("<Q", len(raw)) + raw + b"\0" * 4)
    proc = run_bounded(["inspect", str(p)], env={"PYTHONIOENCODING": "utf-8:strict"})
    assert proc.returncode == 0, proc.stderr
    assert "a\\udc80b" in proc.stdout
    proc = run_bounded(["inspect", str(p), "--format", "json"])
    assert proc.returncode == 0 and "a\\udc80b" in json.loads(proc.stdout)["keys"].__repr__()


def _zip_bytes_patch(data, name, local_off, central_off, fmt, value):
    """Patch a field of ``name``'s local header (offset local_off) and central record (central_off)."""
    data = bytearray(data)
    with zipfile.ZipFile(__import__("io").BytesIO(bytes(data))) as z:
        zi = z.getinfo(name)
    if local_off is not None:
        struct.pack_into(fmt, data, zi.header_offset + local_off, value)
    i = data.rfind(b"PK\x01\x02")
    while i != -1:
        nlen = struct.unpack_from("<H", data, i + 28)[0]
        if bytes(data[i + 46:i + 46 + nlen]) == name.encode():
            struct.pack_into(fmt, data, i + central_off, value)
            break
        i = data.rfind(b"PK\x01\x02", 0, i)
    return bytes(data)


@pytest.mark.parametrize("kind", ["bad_crc", "encrypted", "compression", "offset_past_end"])
def test_migrate_on_broken_zip_entries(tmp_path, kind):
    src = tmp_path / "m.pt"
    torch.save(_sd(), str(src))
    data = src.read_bytes()
    with zipfile.ZipFile(str(src)) as z:
        storage = next(n for n in z.namelist() if n.endswith("/data/0"))
        zi = z.getinfo(storage)
    if kind == "bad_crc":
        data = bytearray(data)
        start = zi.header_offset + 30 + sum(struct.unpack_from("<HH", data, zi.header_offset + 26))
        data[start] ^= 0xFF
        data = bytes(data)
    elif kind == "encrypted":
        data = _zip_bytes_patch(data, storage, 6, 8, "<H", zi.flag_bits | 1)
    elif kind == "compression":
        data = _zip_bytes_patch(data, storage, 8, 10, "<H", 99)
    else:
        data = _zip_bytes_patch(data, storage, None, 42, "<I", len(data) + 10_000)
    src.write_bytes(data)
    out = tmp_path / "out.pt"
    proc = run_bounded(["migrate", str(src), "--map", str(_map(tmp_path, {"layer.": "block."})), "-o", str(out)])
    assert_one_line(proc)
    assert not out.exists() and not [n for n in os.listdir(tmp_path) if ".sdl-migrate-" in n]


@pytest.mark.parametrize("entry", [{"dtype": ["F32"], "shape": [1], "data_offsets": [0, 4]},
                                   {"dtype": "F32", "shape": [10 ** 30], "data_offsets": [0, 4]},
                                   {"dtype": "F32", "shape": [1], "data_offsets": [0, 10 ** 30]}])
def test_migrate_on_bad_safetensors_headers(tmp_path, entry):
    raw = json.dumps({"a.w": entry}).encode()
    src = tmp_path / "m.safetensors"
    src.write_bytes(struct.pack("<Q", len(raw)) + raw + b"\0" * 4)
    out = tmp_path / "o.safetensors"
    proc = run_bounded(["migrate", str(src), "--map", str(_map(tmp_path, {"a.": "b."})), "-o", str(out)])
    assert_one_line(proc)
    assert not out.exists()


# =========================================================================================== 12.8 as strict as torch
def _torch_refuses(path):
    with pytest.raises(Exception):
        if str(path).endswith(".safetensors"):
            safetensors_torch.load_file(str(path))
        else:
            torch.load(str(path), weights_only=True)


def test_storage_record_larger_than_its_storage(tmp_path, capsys):
    p = tmp_path / "big_record.pt"
    torch_zip(str(p), dumps({"w": Tensor(Storage("0", 4), (4,))}), {"0": b"\0" * 24})
    _torch_refuses(p)  # "record size (24 bytes) does not match expected size (16 bytes ...)"
    assert main(["inspect", str(p)]) == 2
    assert "torch.load refuses" in capsys.readouterr().err
    ok = tmp_path / "exact.pt"
    torch_zip(str(ok), dumps({"w": Tensor(Storage("0", 4), (4,))}), {"0": b"\0" * 16})
    torch.load(str(ok), weights_only=True)
    assert main(["inspect", str(ok)]) == 0


def test_negative_dimension(tmp_path, capsys):
    p = tmp_path / "neg.pt"
    torch_zip(str(p), dumps({"w": Tensor(Storage("0", 4), (2, -2), stride=(1, 1))}), {"0": b"\0" * 16})
    _torch_refuses(p)
    assert main(["inspect", str(p)]) == 2
    assert "negative size" in capsys.readouterr().err


def test_zip_without_version_record(tmp_path, capsys):
    p = tmp_path / "nover.pt"
    torch_zip(str(p), dumps({"w": Tensor(Storage("0", 4), (4,))}), {"0": b"\0" * 16}, skip=("archive/version",))
    _torch_refuses(p)
    assert main(["inspect", str(p)]) == 2
    assert "version" in capsys.readouterr().err
    for version, loads in ((b"99\n", False), (b"x\n", False), (b"10\n", True)):
        q = tmp_path / "v.pt"
        torch_zip(str(q), dumps({"w": Tensor(Storage("0", 4), (4,))}), {"0": b"\0" * 16}, version=version)
        if loads:
            torch.load(str(q), weights_only=True)
        else:
            _torch_refuses(q)
        assert main(["inspect", str(q)]) == (0 if loads else 2)
        capsys.readouterr()


def test_zip_whose_first_entry_is_not_in_a_folder(tmp_path, capsys):
    p = tmp_path / "flat.pt"
    with zipfile.ZipFile(str(p), "w") as z:
        z.writestr("data.pkl", dumps({"w": Tensor(Storage("0", 4), (4,))}))
        z.writestr("data/0", b"\0" * 16)
        z.writestr("version", b"3\n")
    _torch_refuses(p)
    assert main(["inspect", str(p)]) == 2
    assert "subdirectory" in capsys.readouterr().err


def test_legacy_file_missing_a_storage(tmp_path, capsys):
    import io

    p = tmp_path / "leg.pt"
    torch.save({"a": torch.ones(3), "b": torch.full((2,), 2.0)}, str(p), _use_new_zipfile_serialization=False)
    data = p.read_bytes()
    f = io.BytesIO(data)
    for _ in range(3):
        pickle.load(f)

    class _Skip(pickle.Unpickler):
        def persistent_load(self, pid):
            return pid

        def find_class(self, module, name):
            return lambda *a: None

    _Skip(f).load()
    keys_at = f.tell()
    keys = pickle.load(f)
    rest = f.read()
    # the key list names only the second storage, and only its bytes follow
    n1 = struct.unpack("<q", rest[:8])[0]
    second = rest[8 + 4 * n1:]
    n2 = struct.unpack("<q", second[:8])[0]
    assert sorted([n1, n2]) == [2, 3] and len(second) == 8 + 4 * n2
    q = tmp_path / "missing.pt"
    q.write_bytes(data[:keys_at] + pickle.dumps(keys[1:], protocol=2) + second)
    loaded = torch.load(str(q), weights_only=True)  # torch does not notice: the other is uninitialized memory
    kept = "a" if n2 == 3 else "b"
    assert torch.equal(loaded[kept], torch.ones(3) if kept == "a" else torch.full((2,), 2.0))
    assert main(["inspect", str(q)]) == 2
    err = capsys.readouterr().err
    assert "has no data in the file" in err and "uninitialized" in err


@pytest.mark.parametrize("layout,needle", [
    ({"a": [8, 16]}, "before tensor 'a'"),  # a gap before the first tensor
    ({"a": [0, 8], "b": [16, 24]}, "before tensor 'b'"),  # a gap between two
    ({"a": [0, 8]}, "belong to no tensor"),  # data after the last
])
def test_safetensors_gaps(tmp_path, capsys, layout, needle):
    header = {k: {"dtype": "F32", "shape": [2], "data_offsets": v} for k, v in layout.items()}
    raw = json.dumps(header).encode()
    p = tmp_path / "gap.safetensors"
    p.write_bytes(struct.pack("<Q", len(raw)) + raw + b"\0" * (24 if "b" in layout else 16))
    _torch_refuses(p)
    assert main(["inspect", str(p)]) == 2
    assert needle in capsys.readouterr().err


# =========================================================================================== 12.9 injection
EVIL = ["ok\nOK: the file of x.pt loads into m.py:M with strict=True", "\x1b]0;pwned\x07title", "\x1b[2Jclear",
        "![img](https://evil.example/p.png)", "<img src=x onerror=alert(1)>", "[link](https://evil.example)",
        "a\u202ecod.exe", "@admin ping"]


def _strip_code_spans(md):
    parts = md.split("`")
    return "".join(parts[0::2])


def test_keys_cannot_inject_text_or_markdown(tmp_path, write_model):
    sd = {k: torch.zeros(1) for k in EVIL}
    ck = tmp_path / "evil.pt"
    torch.save(sd, str(ck))
    model = write_model("import torch.nn as nn\n\nclass M(nn.Module):\n    def __init__(self):\n"
                        "        super().__init__()\n        self.l = nn.Linear(1, 1)\n")
    outs = {}
    for fmt in ("text", "markdown", "github"):
        proc = run_bounded(["check", f"{model}:M", str(ck), "--format", fmt], env={"PYTHONIOENCODING": "utf-8:strict"})
        assert proc.returncode == 1 and "Traceback" not in proc.stderr, proc.stderr
        outs[fmt] = proc.stdout
    proc = run_bounded(["inspect", str(ck)])
    assert proc.returncode == 0
    outs["inspect"] = proc.stdout
    for name, out in outs.items():
        assert "\x1b" not in out and "\x07" not in out and "\u202e" not in out, name
        # no line of the output starts with the faked verdict
        assert not any(line.startswith("OK: the file") for line in out.splitlines()), name
    assert "ok\\nOK: the file" in outs["inspect"] and "\\x1b]0;pwned\\x07title" in outs["inspect"]
    md = _strip_code_spans(outs["markdown"])
    assert "<" not in md and not re.search(r"(?<!\\)\]\(", md) and "![" not in md and "@admin" not in md
    assert "https://" not in md and "ok\\\\nOK: the file" in md


def test_error_line_escapes_the_key(tmp_path):
    raw = json.dumps({"x\nstatedict-lint: fake\x1b[31m": {"dtype": "F32", "shape": [3],
                                                          "data_offsets": [0, 4]}}).encode()
    p = tmp_path / "e.safetensors"
    p.write_bytes(struct.pack("<Q", len(raw)) + raw + b"\0" * 4)
    proc = run_bounded(["inspect", str(p)])
    err = assert_one_line(proc)
    assert "\x1b" not in err


def test_escape_functions():
    from statedict_lint.report.escape import markdown, text

    assert text("a.b_c.weight") == "a.b_c.weight" and text("é.ß") == "é.ß"
    assert text("a\nb\x1b[0m\udc80") == "a\\nb\\x1b[0m\\udc80"
    md = markdown("key `a<b>|c` and <b>x</b> [l](u) *e* http://x.y @u")
    assert "`a<b>\\|c`" in md  # inside a code span: literal, only the cell separator escaped
    assert "&lt;b>x&lt;/b>" in md and "\\[l\\](u)" in md and "\\*e\\*" in md
    assert "http:\u200b//" in md and "@\u200bu" in md
    assert markdown("a`b") == "a`b`" and "``" not in markdown("`x``y`")


# =========================================================================================== 12.10 symlinks
def test_symlinks_out_of_the_named_folder_are_refused(tmp_path, capsys):
    outside = tmp_path / "outside"
    outside.mkdir()
    safetensors_torch.save_file({"secret": torch.zeros(1)}, str(outside / "s.safetensors"))
    folder = tmp_path / "folder"
    folder.mkdir()
    os.symlink(str(outside / "s.safetensors"), str(folder / "model.safetensors"))
    assert main(["inspect", str(folder)]) == 2
    err = capsys.readouterr().err
    assert "outside" in err and err.count("\n") == 1
    # an index whose shard is a link out of the index's folder
    sharded = tmp_path / "sharded"
    sharded.mkdir()
    safetensors_torch.save_file({"a": torch.zeros(1)}, str(sharded / "model-1.safetensors"))
    os.symlink(str(outside / "s.safetensors"), str(sharded / "model-2.safetensors"))
    (sharded / "model.safetensors.index.json").write_text(json.dumps(
        {"weight_map": {"a": "model-1.safetensors", "secret": "model-2.safetensors"}}))
    assert main(["inspect", str(sharded / "model.safetensors.index.json")]) == 2
    assert "outside" in capsys.readouterr().err
    # a link that stays inside is fine
    os.unlink(str(sharded / "model-2.safetensors"))
    safetensors_torch.save_file({"secret": torch.zeros(1)}, str(sharded / "real-2.safetensors"))
    os.symlink("real-2.safetensors", str(sharded / "model-2.safetensors"))
    assert main(["inspect", str(sharded / "model.safetensors.index.json")]) == 0
    capsys.readouterr()


# =========================================================================================== 12.3 / 12.11 migrate
def _migrate(tmp_path, src, mapping, out, *extra):
    return run_bounded(["migrate", str(src), "--map", str(_map(tmp_path, mapping)), "-o", str(out), *extra])


def test_force_replaces_only_regular_files(tmp_path):
    src = tmp_path / "m.pt"
    torch.save(_sd(), str(src))
    fifo = _fifo(tmp_path / "fifo")
    target = tmp_path / "victim.txt"
    target.write_text("keep me")
    link = tmp_path / "link.pt"
    os.symlink(str(target), str(link))
    (tmp_path / "dir.pt").mkdir()
    outs = [fifo, str(link), str(tmp_path / "dir.pt")]
    dev = tmp_path / "null"
    try:
        os.mknod(str(dev), stat.S_IFCHR | 0o600, os.makedev(1, 3))
        outs.append(str(dev))
    except (PermissionError, OSError):
        pass
    for out in outs:
        proc = _migrate(tmp_path, src, {"layer.": "block."}, out, "--force")
        assert_one_line(proc)
    assert stat.S_ISFIFO(os.lstat(fifo).st_mode) and os.path.islink(str(link)) and target.read_text() == "keep me"
    if dev.exists():
        assert stat.S_ISCHR(os.lstat(str(dev)).st_mode)
    assert not [n for n in os.listdir(tmp_path) if ".sdl-migrate-" in n]
    # a regular file is replaced with --force, and gets the user's umask
    reg = tmp_path / "old.pt"
    reg.write_text("x")
    os.chmod(str(reg), 0o600)
    proc = run_bounded(["migrate", str(src), "--map", str(_map(tmp_path, {"layer.": "block."})), "-o", str(reg),
                        "--force"], preexec=lambda: os.umask(0o027))
    assert proc.returncode == 0, proc.stderr
    assert stat.S_IMODE(os.stat(str(reg)).st_mode) == 0o640
    assert list(torch.load(str(reg), weights_only=True)) == [f"block.{i}.weight" for i in range(3)]


def test_stale_temps_of_a_killed_run_are_removed(tmp_path):
    src = tmp_path / "m.pt"
    torch.save(_sd(), str(src))
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    stale = tmp_path / f".out.pt.sdl-migrate-{dead.pid}-0123456789abcdef.tmp"
    stale.write_bytes(b"\0" * 1000)
    live = tmp_path / f".out.pt.sdl-migrate-{os.getpid()}-fedcba9876543210.tmp"  # a running migrate's: kept
    live.write_bytes(b"\0")
    other = tmp_path / f".other.pt.sdl-migrate-{dead.pid}-0123456789abcdef.tmp"  # another output's: kept
    other.write_bytes(b"\0")
    proc = _migrate(tmp_path, src, {"layer.": "block."}, tmp_path / "out.pt")
    assert proc.returncode == 0, proc.stderr
    assert not stale.exists() and live.exists() and other.exists()


def test_sigterm_removes_the_temp(tmp_path):
    src = tmp_path / "m.pt"
    torch.save(_sd(), str(src))
    out = tmp_path / "out.pt"
    driver = tmp_path / "driver.py"
    # SIGTERM arrives while the output is being written (deterministically: from inside the copy loop)
    driver.write_text(
        "import os, shutil, signal, sys\n"
        "real = shutil.copyfileobj\n"
        "def copy(*a, **k):\n"
        "    os.kill(os.getpid(), signal.SIGTERM)\n"
        "    return real(*a, **k)\n"
        "shutil.copyfileobj = copy\n"
        "from statedict_lint.cli import main\n"
        "sys.exit(main(sys.argv[1:]))\n")
    env = dict(os.environ, PYTHONPATH=os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    proc = subprocess.run([sys.executable, str(driver), "migrate", str(src), "--map",
                           str(_map(tmp_path, {"layer.": "block."})), "-o", str(out)],
                          capture_output=True, text=True, timeout=60, env=env)
    assert proc.returncode == 128 + signal.SIGTERM, (proc.returncode, proc.stderr)
    assert not out.exists()
    assert not [n for n in os.listdir(tmp_path) if ".sdl-migrate-" in n]


def test_map_to_metadata_is_refused(tmp_path):
    src = tmp_path / "m.safetensors"
    safetensors_torch.save_file({"meta.x": torch.zeros(1), "w.__metadata__": torch.zeros(1)}, str(src))
    out = tmp_path / "o.safetensors"
    for mapping in ({"meta.x": "__metadata__"}, {"w.": ""}):
        proc = _migrate(tmp_path, src, mapping, out)
        assert_one_line(proc, "__metadata__")
        assert not out.exists()


def test_only_the_state_dicts_are_renamed_and_counted(tmp_path):
    model = torch.nn.Sequential(torch.nn.Linear(2, 2), torch.nn.Linear(2, 2))
    opt = torch.optim.Adam(model.parameters())
    model(torch.zeros(1, 2)).sum().backward()
    opt.step()
    sd = model.state_dict()
    ckpt = {"model": sd, "ema": {k: v.clone() for k, v in sd.items()}, "optimizer": opt.state_dict(),
            "config": {"0.weight": "a config value that looks like a key", "layers": {"0.": 1}},
            "names": list(sd)}
    src = tmp_path / "c.pt"
    torch.save(ckpt, str(src))
    out = tmp_path / "o.pt"
    proc = _migrate(tmp_path, src, {"0.": "first."}, out)
    assert proc.returncode == 0, proc.stderr
    assert "renamed 2 of 4 keys of ['model']" in proc.stdout
    assert "also renamed 2 key(s) of the state_dict-like ['ema']" in proc.stdout
    new = torch.load(str(out), weights_only=True)
    assert list(new["model"]) == ["first.weight", "first.bias", "1.weight", "1.bias"]
    assert list(new["ema"]) == list(new["model"])
    assert new["config"] == ckpt["config"] and new["names"] == ckpt["names"]
    assert new["optimizer"]["param_groups"] == ckpt["optimizer"]["param_groups"]
    for k in new["optimizer"]["state"]:
        for name, t in ckpt["optimizer"]["state"][k].items():
            assert torch.equal(new["optimizer"]["state"][k][name], t)
    fresh = torch.nn.Sequential()
    fresh.add_module("first", torch.nn.Linear(2, 2))
    fresh.add_module("1", torch.nn.Linear(2, 2))
    fresh.load_state_dict(new["model"], strict=True)


# =========================================================================================== 11.6 migrate --check
TIED = """
import torch.nn as nn


class LM(nn.Module):
    def __init__(self, vocab=11, dim=4):
        super().__init__()
        self.wte = nn.Embedding(vocab, dim)
        self.blocks = nn.ModuleList([nn.Linear(dim, dim) for _ in range(2)])
        self.lm_head = nn.Linear(dim, vocab, bias=False)
        self.wte.weight = self.lm_head.weight
"""


def test_migrate_check_accepts_a_tied_safetensors_file(tmp_path, write_model):
    from conftest import load_module_from_path

    path = write_model(TIED, "lm.py")
    lm = load_module_from_path(path).LM()
    src = tmp_path / "lm.safetensors"
    safetensors_torch.save_model(lm, str(src))  # stores the tied weight once
    out = tmp_path / "new.safetensors"
    proc = _migrate(tmp_path, src, {"blocks.": "blocks."}, out, "--check", f"{path}:LM")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "note: `" in proc.stdout and "shares its tensor with" in proc.stdout and "load_model" in proc.stdout
    fresh = load_module_from_path(path).LM()
    missing, unexpected = safetensors_torch.load_model(fresh, str(out))
    assert not missing and not unexpected


def test_migrate_check_proposes_the_compile_prefix_map(tmp_path, write_model):
    from conftest import load_module_from_path

    new_src = TIED.replace("self.blocks", "self.layers").replace("self.wte.weight = self.lm_head.weight\n", "")
    path = write_model(new_src, "lm.py")
    old = load_module_from_path(write_model(TIED.replace("self.wte.weight = self.lm_head.weight\n", ""),
                                            "old.py")).LM()
    compiled = torch.compile(old)  # lazy: nothing is compiled until called; its state_dict has `_orig_mod.`
    src = tmp_path / "compiled.pt"
    torch.save(compiled.state_dict(), str(src))
    assert all(k.startswith("_orig_mod.") for k in torch.load(str(src), weights_only=True))
    out = tmp_path / "new.pt"
    proc = _migrate(tmp_path, src, {"blocks.": "layers."}, out, "--check", f"{path}:LM")
    assert proc.returncode == 1
    lines = proc.stdout.splitlines()
    assert len(lines) == 2, proc.stdout  # the headline and the one cause, not one line per key
    assert "`_orig_mod.`" in lines[1] and "torch.compile" in lines[1] and "every key matches" in lines[1]
    suggested = json.loads(lines[1][lines[1].index("{"):])
    assert suggested == {"_orig_mod.": "", "_orig_mod.blocks.": "layers."}
    proc = _migrate(tmp_path, src, suggested, out, "--check", f"{path}:LM")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    load_module_from_path(path).LM().load_state_dict(torch.load(str(out), weights_only=True), strict=True)


def test_keys_from_source_are_escaped(tmp_path, write_model):
    path = write_model("import torch\nimport torch.nn as nn\n\nclass M(nn.Module):\n    def __init__(self):\n"
                       "        super().__init__()\n        self.register_buffer('a\\x1b[2J\\nOK', torch.zeros(1))\n")
    m = __import__("conftest").load_module_from_path(path).M()
    assert list(m.state_dict()) == ["a\x1b[2J\nOK"]  # torch takes the name as it is
    proc = run_bounded(["keys", f"{path}:M", "--no-cache"])
    assert proc.returncode == 0, proc.stderr
    assert "\x1b" not in proc.stdout and "a\\x1b[2J\\nOK" in proc.stdout
    assert not any(line.startswith("OK") for line in proc.stdout.splitlines())


def test_lint_never_reads_a_fifo_or_dev_zero_in_a_tree(tmp_path):
    os.symlink("/dev/zero", str(tmp_path / "zero.py"))  # git can commit this link
    _fifo(tmp_path / "fifo.py")
    (tmp_path / "ok.py").write_text("import torch\n")
    proc = run_bounded(["lint", "--no-cache", "."], timeout=60, mem_mb=800, cwd=str(tmp_path))
    assert "Traceback" not in proc.stderr and proc.returncode == 1, proc.stderr[-2000:]
    lines = proc.stdout.splitlines()
    assert [ln.split(":")[0] for ln in lines if "fifo.py" in ln] == ["./fifo.py"]
    assert all("SDL998" in ln and "not a regular file" in ln for ln in lines)
    # the link out of the tree is not read either: a warning (lint skips links out of the folder) or SDL998
    assert "zero.py" in proc.stderr or any("zero.py" in ln for ln in lines)


def test_index_shards_that_alias_or_recurse(tmp_path, capsys):
    safetensors_torch.save_file({"a": torch.zeros(1)}, str(tmp_path / "one.safetensors"))
    for i in range(3):
        os.symlink("one.safetensors", str(tmp_path / f"s{i}.safetensors"))
    idx = tmp_path / "model.safetensors.index.json"
    idx.write_text(json.dumps({"weight_map": {f"k{i}": f"s{i}.safetensors" for i in range(3)}}))
    assert main(["inspect", str(idx)]) == 2
    assert "are the same file" in capsys.readouterr().err
    idx.write_text(json.dumps({"weight_map": {"a": "model.safetensors.index.json"}}))
    assert main(["inspect", str(idx)]) == 2
    assert "is an index" in capsys.readouterr().err


def test_colour_and_escaping_together(tmp_path, write_model):
    sd = {"a\x1b]0;pwned\x07b": torch.zeros(1), "ok\nOK: fake": torch.zeros(1)}
    ck = tmp_path / "evil.pt"
    torch.save(sd, str(ck))
    model = write_model("import torch.nn as nn\n\nclass M(nn.Module):\n    def __init__(self):\n"
                        "        super().__init__()\n        self.l = nn.Linear(1, 1)\n")
    proc = run_bounded(["check", f"{model}:M", str(ck), "--color=always"])
    assert proc.returncode == 1, proc.stderr
    out = proc.stdout
    assert "\x1b[" in out  # the tool's own colours are there
    assert "\x1b]" not in out and "\x07" not in out and "a\\x1b]0;pwned\\x07b" in out  # the key's are not
    assert "\\x1b[" not in out  # and no colour code of ours was escaped into text
    assert not any(line.startswith("OK: fake") for line in out.splitlines())
