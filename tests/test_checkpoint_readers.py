"""Header-only readers against torch.load(weights_only=True, map_location='meta') and safetensors."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections import OrderedDict

import pytest

torch = pytest.importorskip("torch")
safetensors_torch = pytest.importorskip("safetensors.torch")

from statedict_lint.checkpoint import read  # noqa: E402
from statedict_lint.checkpoint.container import find_state_dict  # noqa: E402
from statedict_lint.checkpoint.records import TensorRecord  # noqa: E402
from statedict_lint.cli import main  # noqa: E402


def _table(obj):
    """Flatten a torch object tree or a record tree into {path: (dtype, shape)} / {path: value}."""
    out = {}

    def walk(o, path):
        if isinstance(o, torch.Tensor):
            out[path] = (str(o.dtype).replace("torch.", ""), tuple(o.shape))
        elif isinstance(o, TensorRecord):
            out[path] = (o.dtype, tuple(o.shape))
        elif isinstance(o, dict):
            for k, v in o.items():
                walk(v, f"{path}/{k}")
        elif isinstance(o, (list, tuple)) and not isinstance(o, torch.Size):
            for i, v in enumerate(o):
                walk(v, f"{path}[{i}]")
        else:
            out[path] = o

    walk(obj, "")
    return out


def _mixed_state():
    base = torch.arange(24, dtype=torch.float32).reshape(4, 6)
    sd = OrderedDict()
    sd["f32"] = torch.randn(3, 4)
    sd["f16"] = torch.randn(5).half()
    sd["bf16"] = torch.randn(2, 2, 2).bfloat16()
    sd["f64"] = torch.randn(1, dtype=torch.float64)
    sd["i64"] = torch.tensor(7)
    sd["i32"] = torch.zeros(3, dtype=torch.int32)
    sd["i8"] = torch.zeros(2, dtype=torch.int8)
    sd["u8"] = torch.zeros(2, dtype=torch.uint8)
    sd["bool"] = torch.zeros(4, dtype=torch.bool)
    sd["u16"] = torch.zeros(3, dtype=torch.uint16)  # saved through _rebuild_tensor_v3
    sd["f8"] = torch.zeros(3, dtype=torch.float8_e4m3fn)
    sd["c64"] = torch.zeros(2, dtype=torch.complex64)
    sd["empty"] = torch.zeros(0, 3)
    sd["transposed"] = base.t()  # non-contiguous view
    sd["slice"] = base[1:3]  # view with an offset into a shared storage
    sd["whole"] = base
    sd["param"] = torch.nn.Parameter(torch.ones(2))
    return sd


CONTAINERS = {
    "plain": lambda sd: sd,
    "nested": lambda sd: {"state_dict": sd, "epoch": 3, "best": 0.5, "names": ["a", "b"], "flags": (True, None),
                          "optimizer": {"state": {0: {"step": torch.tensor(4.0)}}, "param_groups": [{"lr": 0.1}]}},
}


@pytest.mark.parametrize("legacy", [False, True])
@pytest.mark.parametrize("container", sorted(CONTAINERS))
def test_torch_formats_match_torch_load(tmp_path, legacy, container):
    sd = _mixed_state()
    if legacy:  # torch itself cannot read back untyped storages (uint16, float8) from the legacy format
        del sd["u16"], sd["f8"]
    obj = CONTAINERS[container](sd)
    p = str(tmp_path / "ck.pt")
    torch.save(obj, p, _use_new_zipfile_serialization=not legacy)
    ck = read(p)
    assert ck.format == ("torch-legacy" if legacy else "torch-zip")
    ref = torch.load(p, weights_only=True, map_location="meta")
    assert _table(ck.root) == _table(ref)


def test_storage_offsets_and_sharing(tmp_path):
    sd = _mixed_state()
    p = str(tmp_path / "ck.pt")
    torch.save(sd, p)
    root = read(p).root
    assert root["slice"].storage == root["whole"].storage == root["transposed"].storage
    assert root["slice"].offset == 6 and root["slice"].stride == (6, 1)
    assert root["transposed"].stride == (1, 6)
    assert root["param"].is_parameter and not root["f32"].is_parameter
    assert root["f32"].file.endswith(f"/data/{root['f32'].storage}")


def test_metadata_versions_are_read(tmp_path):
    m = torch.nn.Sequential(torch.nn.Linear(2, 2), torch.nn.BatchNorm1d(2))
    p = str(tmp_path / "ck.pt")
    torch.save(m.state_dict(), p)
    found = find_state_dict(read(p))
    assert found.versions == dict(m.state_dict()._metadata)


def test_safetensors_matches_safe_open(tmp_path):
    sd = {k: v.contiguous() for k, v in _mixed_state().items() if k not in ("slice", "transposed", "whole", "f8")}
    p = str(tmp_path / "m.safetensors")
    safetensors_torch.save_file(sd, p, metadata={"format": "pt"})
    ck = read(p)
    ref = safetensors_torch.load_file(p)
    assert _table(dict(ck.root)) == _table(ref)
    assert ck.metadata == {"format": "pt"}
    for k, rec in ck.root.items():
        assert rec.byte_range[1] - rec.byte_range[0] == rec.nbytes


def test_sharded_safetensors_index_and_directory(tmp_path):
    a = {"x.weight": torch.randn(3, 2), "x.bias": torch.randn(3)}
    b = {"y.weight": torch.randn(4, 3)}
    safetensors_torch.save_file(a, str(tmp_path / "model-00001-of-00002.safetensors"))
    safetensors_torch.save_file(b, str(tmp_path / "model-00002-of-00002.safetensors"))
    wm = {k: "model-00001-of-00002.safetensors" for k in a}
    wm.update({k: "model-00002-of-00002.safetensors" for k in b})
    (tmp_path / "model.safetensors.index.json").write_text(json.dumps({"metadata": {}, "weight_map": wm}))
    for target in (str(tmp_path / "model.safetensors.index.json"), str(tmp_path)):
        ck = read(target)
        assert ck.format == "sharded safetensors"
        assert {k: (v.dtype, v.shape) for k, v in ck.root.items()} == \
            {k: ("float32", tuple(v.shape)) for k, v in {**a, **b}.items()}
        assert ck.root["y.weight"].file == "model-00002-of-00002.safetensors"


def test_sharded_torch_index(tmp_path):
    a = {"x.weight": torch.randn(3, 2)}
    b = {"y.weight": torch.randn(4, 3).half()}
    torch.save(a, str(tmp_path / "pytorch_model-1.bin"))
    torch.save(b, str(tmp_path / "pytorch_model-2.bin"))
    wm = {"x.weight": "pytorch_model-1.bin", "y.weight": "pytorch_model-2.bin"}
    (tmp_path / "pytorch_model.bin.index.json").write_text(json.dumps({"weight_map": wm}))
    ck = read(str(tmp_path))
    assert ck.format == "sharded torch-zip"
    assert ck.root["y.weight"].dtype == "float16" and ck.root["y.weight"].shape == (4, 3)
    assert ck.root["y.weight"].file.startswith("pytorch_model-2.bin:")


def test_index_with_missing_key_in_shard_is_an_error(tmp_path, capsys):
    safetensors_torch.save_file({"a": torch.zeros(1)}, str(tmp_path / "s1.safetensors"))
    (tmp_path / "x.index.json").write_text(json.dumps({"weight_map": {"a": "s1.safetensors", "b": "s1.safetensors"}}))
    assert main(["inspect", str(tmp_path / "x.index.json")]) == 2
    assert "'b'" in capsys.readouterr().err


def test_containers(tmp_path):
    m = torch.nn.Linear(3, 2)
    cases = {
        "state_dict": ({"state_dict": m.state_dict(), "epoch": 1}, ["state_dict"], "container"),
        "model": ({"model": m.state_dict(), "optimizer": {"state": {}, "param_groups": []}}, ["model"], "container"),
        "ema": ({"model": m.state_dict(), "model_ema": m.state_dict()}, ["model"], "container"),
        "deep": ({"ckpt": {"net": {"model_state_dict": m.state_dict()}}}, ["ckpt", "net", "model_state_dict"],
                 "container"),
        "lightning": ({"state_dict": {"model." + k: v for k, v in m.state_dict().items()}, "epoch": 2,
                       "global_step": 10, "pytorch-lightning_version": "2.1.0", "optimizer_states": []},
                      ["state_dict"], "lightning"),
    }
    for name, (obj, path, kind) in cases.items():
        p = str(tmp_path / f"{name}.pt")
        torch.save(obj, p)
        found = find_state_dict(read(p))
        assert found.path == path, name
        assert found.kind == kind, name
        assert set(found.state_dict) == set(torch.load(p, weights_only=True)[path[0]].keys() if len(path) == 1
                                            else found.state_dict)
    found = find_state_dict(read(str(tmp_path / "ema.pt")), key="model_ema")
    assert found.path == ["model_ema"] and found.explicit
    assert "model_ema" in find_state_dict(read(str(tmp_path / "ema.pt"))).alternatives
    found = find_state_dict(read(str(tmp_path / "state_dict.pt")))
    assert found.others == {"epoch": "1"}


def test_inspect_cli_json_and_text(tmp_path, capsys):
    m = torch.nn.Sequential(torch.nn.Linear(3, 2), torch.nn.LayerNorm(2))
    p = str(tmp_path / "ck.pt")
    torch.save({"model": m.state_dict(), "epoch": 5}, p)
    assert main(["inspect", p, "--format", "json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["container"]["key"] == "model"
    assert data["others"] == {"epoch": "5"}
    assert {k: v["shape"] for k, v in data["keys"].items()} == {k: list(v.shape) for k, v in m.state_dict().items()}
    assert data["numel"] == sum(v.numel() for v in m.state_dict().values())
    assert data["bytes"] == 4 * data["numel"]
    assert main(["inspect", p]) == 0
    out = capsys.readouterr().out
    assert "0.weight" in out and "[2, 3]" in out and "epoch: 5" in out


def test_inspect_loader_torch_agrees(tmp_path, capsys):
    p = str(tmp_path / "ck.pt")
    torch.save(_mixed_state(), p)
    assert main(["inspect", p, "--format", "json"]) == 0
    native = json.loads(capsys.readouterr().out)
    assert main(["inspect", p, "--format", "json", "--loader", "torch"]) == 0
    via_torch = json.loads(capsys.readouterr().out)
    assert {k: (v["dtype"], v["shape"]) for k, v in native["keys"].items()} == \
        {k: (v["dtype"], v["shape"]) for k, v in via_torch["keys"].items()}


def test_inspect_does_not_import_torch(tmp_path):
    p = str(tmp_path / "ck.pt")
    torch.save({"w": torch.zeros(2)}, p)
    code = ("import sys; from statedict_lint.cli import main; rc = main(['inspect', %r]); "
            "bad = [m for m in ('torch', 'libcst', 'numpy') if m in sys.modules]; "
            "print('IMPORTED', bad); sys.exit(rc)") % p
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env={**os.environ})
    assert out.returncode == 0, out.stderr
    assert "IMPORTED []" in out.stdout
