"""migrate / rewrite: keys renamed in real torch and safetensors files, tensors bit-identical, files safe."""

from __future__ import annotations

import json
import os
import struct
import zipfile
from typing import Any, Dict

import pytest

torch = pytest.importorskip("torch")
nn = torch.nn

from statedict_lint.cli import main  # noqa: E402
from statedict_lint.checkpoint.rewrite import KeyMap, record_offsets, rewrite  # noqa: E402


class OldBlock(nn.Module):
    def __init__(self, d: int) -> None:
        super().__init__()
        self.attn = nn.Linear(d, 3 * d)
        self.ln = nn.LayerNorm(d)
        self.net = nn.Sequential(nn.Linear(d, 2 * d), nn.Linear(2 * d, d))
        self.bn = nn.BatchNorm1d(d)


class NewBlock(nn.Module):
    def __init__(self, d: int) -> None:
        super().__init__()
        self.self_attn = nn.Linear(d, 3 * d)
        self.ln = nn.LayerNorm(d)
        self.net = nn.Sequential(nn.Linear(d, 2 * d), nn.Dropout(0.1), nn.Linear(2 * d, d))
        self.norm = nn.BatchNorm1d(d)


class OldNet(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.h = nn.ModuleList([OldBlock(4) for _ in range(3)])


class NewNet(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.h = nn.ModuleList([NewBlock(4) for _ in range(3)])


MAP = {"h.{i}.attn.": "h.{i}.self_attn.", "h.{i}.net.1.": "h.{i}.net.2.", "h.{i}.bn.": "h.{i}.norm."}


def _randomized(model: nn.Module) -> Dict[str, Any]:
    g = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for _name, t in model.state_dict().items():
            if t.is_floating_point():
                t.copy_(torch.randn(t.shape, generator=g))
            else:
                t.fill_(7)
    return model.state_dict()


def save_safetensors(sd: Dict[str, Any], path: str) -> None:
    """Write a safetensors file from torch tensors (the official writer needs numpy, absent here)."""
    codes = {torch.float32: "F32", torch.int64: "I64", torch.float16: "F16"}
    header: Dict[str, Any] = {"__metadata__": {"format": "pt"}}
    blobs = []
    off = 0
    for k, v in sd.items():
        b = bytes(v.contiguous().reshape(-1).view(torch.uint8).tolist())
        header[k] = {"dtype": codes[v.dtype], "shape": list(v.shape), "data_offsets": [off, off + len(b)]}
        off += len(b)
        blobs.append(b)
    h = json.dumps(header).encode()
    h += b" " * (-len(h) % 8)
    with open(path, "wb") as fh:
        fh.write(struct.pack("<Q", len(h)) + h + b"".join(blobs))


def _load_any(path: str) -> Dict[str, Any]:
    if path.endswith(".safetensors"):
        from safetensors.torch import load_file

        return load_file(path)
    return torch.load(path, weights_only=True)


@pytest.mark.parametrize("fmt", ["zip", "safetensors"])
def test_round_trip_strict_load_bit_identical(tmp_path: Any, fmt: str) -> None:
    sd = _randomized(OldNet())
    src = str(tmp_path / ("old.pt" if fmt == "zip" else "old.safetensors"))
    (torch.save(sd, src) if fmt == "zip" else save_safetensors(sd, src))
    before = open(src, "rb").read()
    (tmp_path / "map.json").write_text(json.dumps(MAP))
    dst = str(tmp_path / ("new.pt" if fmt == "zip" else "new.safetensors"))
    assert main(["migrate", src, "--map", str(tmp_path / "map.json"), "-o", dst]) == 0
    assert open(src, "rb").read() == before  # input untouched
    new = NewNet()
    loaded = _load_any(dst)
    new.load_state_dict(loaded, strict=True)
    kmap = KeyMap(MAP)
    got = new.state_dict()
    assert len(got) == len(sd)
    for old_key, t in sd.items():
        new_key = kmap.apply(old_key)
        assert (new_key != old_key) == any(f".{a}." in old_key for a in ("attn", "bn", "net.1"))
        assert got[new_key].dtype == t.dtype
        assert torch.equal(got[new_key], t), new_key


def test_zip_layout_kept_aligned_and_mmap_loadable(tmp_path: Any) -> None:
    sd = _randomized(OldNet())
    src, dst = str(tmp_path / "old.pt"), str(tmp_path / "new.pt")
    torch.save(sd, src)
    rewrite(src, dst, KeyMap(MAP))
    zin, zout = zipfile.ZipFile(src), zipfile.ZipFile(dst)
    names_in = [i.filename for i in zin.infolist()]
    assert [i.filename for i in zout.infolist()] == names_in  # same archive folder, same order
    assert any(n.endswith("/byteorder") for n in names_in) and any(n.endswith("/version") for n in names_in)
    for name in names_in:
        if not name.endswith("data.pkl"):
            assert zout.read(name) == zin.read(name), name
        assert zout.getinfo(name).compress_type == zipfile.ZIP_STORED
    for name, off in record_offsets(dst).items():
        assert off % 64 == 0, (name, off)
    mm = torch.load(dst, weights_only=True, mmap=True)
    kmap = KeyMap(MAP)
    for k, t in sd.items():
        assert torch.equal(mm[kmap.apply(k)], t)
    # per-module metadata follows the renamed prefixes (BatchNorm reads its version from it)
    meta = torch.load(dst, weights_only=True)._metadata
    assert "h.0.norm" in meta and "h.0.bn" not in meta and meta["h.0.norm"]["version"] == 2


def test_only_dict_keys_are_renamed_even_when_the_string_object_is_shared(tmp_path: Any) -> None:
    key = "0.weight"
    obj = {"model": {key: torch.ones(2)}, "names": [key], "ema": {key: torch.zeros(2)}}
    src, dst = str(tmp_path / "c.pt"), str(tmp_path / "c2.pt")
    torch.save(obj, src)
    res = rewrite(src, dst, KeyMap({"0.": "fc."}))
    out = torch.load(dst, weights_only=True)
    assert list(out["model"]) == ["fc.weight"] and list(out["ema"]) == ["fc.weight"]
    assert out["names"] == ["0.weight"]  # a plain string value keeps its text
    assert torch.equal(out["ema"]["fc.weight"], torch.zeros(2))
    assert ("0.weight", "fc.weight") in res.renamed


def test_refuses_existing_output_and_input_overwrite(tmp_path: Any, capsys: Any) -> None:
    src, dst = str(tmp_path / "old.pt"), str(tmp_path / "new.pt")
    torch.save(_randomized(OldNet()), src)
    (tmp_path / "map.json").write_text(json.dumps(MAP))
    m = str(tmp_path / "map.json")
    (tmp_path / "new.pt").write_bytes(b"keep me")
    assert main(["migrate", src, "--map", m, "-o", dst]) == 2
    assert "--force" in capsys.readouterr().err
    assert open(dst, "rb").read() == b"keep me"
    assert main(["migrate", src, "--map", m, "-o", src, "--force"]) == 2
    assert "input" in capsys.readouterr().err
    assert main(["migrate", src, "--map", m, "-o", dst, "--force"]) == 0
    NewNet().load_state_dict(torch.load(dst, weights_only=True), strict=True)
    assert not [f for f in os.listdir(tmp_path) if f.startswith(".sdl-migrate-")]  # no temp file left


def test_collisions_and_bad_input_exit_2(tmp_path: Any, capsys: Any) -> None:
    src = str(tmp_path / "old.pt")
    torch.save(_randomized(OldNet()), src)
    (tmp_path / "clash.json").write_text(json.dumps({"h.0.attn.weight": "h.0.ln.weight"}))
    assert main(["migrate", src, "--map", str(tmp_path / "clash.json"), "-o", str(tmp_path / "x.pt")]) == 2
    assert "already exists" in capsys.readouterr().err
    assert not (tmp_path / "x.pt").exists()
    (tmp_path / "junk.pt").write_bytes(b"not a checkpoint at all")
    (tmp_path / "m.json").write_text("{}")
    assert main(["migrate", str(tmp_path / "junk.pt"), "--map", str(tmp_path / "m.json"), "-o",
                 str(tmp_path / "y.pt")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err
    (tmp_path / "bad.json").write_text("[1, 2]")
    assert main(["migrate", src, "--map", str(tmp_path / "bad.json"), "-o", str(tmp_path / "z.pt")]) == 2


def test_keymap_prefers_exact_then_longest_prefix() -> None:
    k = KeyMap({"a.": "x.", "a.b.": "y.", "a.b.c": "z", "h.{i}.q.": "h.{i}.k."})
    assert k.apply("a.b.c") == "z"
    assert k.apply("a.b.d") == "y.d"
    assert k.apply("a.e") == "x.e"
    assert k.apply("h.12.q.w") == "h.12.k.w"
    assert k.apply("h.x.q.w") == "h.x.q.w"  # placeholders match numbers only
    assert k.apply("ab.c") == "ab.c"
