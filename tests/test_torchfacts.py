"""statedict_lint/torchfacts.py against torch itself: the facts the predictor, the checkpoint readers and the lint
rules read (dtype names and byte sizes, storages, nn.Module's self-returning methods) are what the installed
torch says."""

from __future__ import annotations

import ast
import inspect
import textwrap

import pytest

from statedict_lint import torchfacts

torch = pytest.importorskip("torch")
nn = torch.nn

# torch's sub-byte shell dtypes (no storage format of their own) and their alias: deliberately not in the tables
SHELL_DTYPES = {f"{p}int{n}" for p in ("", "u") for n in range(1, 8)} | {"bit"}


def _torch_dtypes():
    return {n: getattr(torch, n) for n in dir(torch) if isinstance(getattr(torch, n, None), torch.dtype)}


def test_dtype_bytes_are_torchs_itemsizes_for_every_canonical_dtype():
    dts = _torch_dtypes()
    canonical = {n for n, d in dts.items() if str(d) == f"torch.{n}"} - SHELL_DTYPES
    assert set(torchfacts.DTYPE_BYTES) == canonical
    assert {n: dts[n].itemsize for n in canonical} == torchfacts.DTYPE_BYTES


def test_dtype_aliases_and_the_predictors_dtypes_name_what_torch_names():
    dts = _torch_dtypes()
    aliases = {n: str(d)[len("torch."):] for n, d in dts.items() if str(d) != f"torch.{n}" and n not in SHELL_DTYPES}
    assert torchfacts.DTYPE_ALIASES == aliases
    for name, canonical in torchfacts.DTYPES.items():
        assert str(getattr(torch, name)) == f"torch.{canonical}", name
        assert canonical in torchfacts.DTYPE_BYTES
    assert torchfacts.FLOATING == {c for c in torchfacts.DTYPES.values() if getattr(torch, c).is_floating_point}


def test_storage_dtypes():
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # TypedStorage is deprecated
        for name, dt in torchfacts.STORAGE_DTYPES.items():
            storage = getattr(torch, name)
            if name == "UntypedStorage":
                assert dt == "uint8"  # bytes
            else:
                assert storage.dtype == getattr(torch, dt), name


def _self_returning_in_source():
    """Module methods whose every ``return`` gives ``self``, ``self._apply(...)`` or ``self.train(...)`` (which
    return self), read from torch's nn/modules/module.py."""
    tree = ast.parse(textwrap.dedent(inspect.getsource(nn.Module)))
    cls = tree.body[0]
    assert isinstance(cls, ast.ClassDef)

    def gives_self(v):
        if isinstance(v, ast.Name) and v.id == "self":
            return True
        return isinstance(v, ast.Call) and isinstance(v.func, ast.Attribute) and \
            isinstance(v.func.value, ast.Name) and v.func.value.id == "self" and v.func.attr in ("_apply", "train")

    def returns(fn):  # the method's own returns, not those of functions defined inside it
        todo = list(fn.body)
        while todo:
            n = todo.pop()
            if isinstance(n, ast.Return):
                yield n.value
            elif not isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda, ast.ClassDef)):
                todo.extend(ast.iter_child_nodes(n))

    out = set()
    for f in cls.body:
        if isinstance(f, ast.FunctionDef) and not f.name.startswith("_"):
            rets = list(returns(f))
            if any(isinstance(d, ast.Name) and d.id == "overload" for d in f.decorator_list):
                continue
            if rets and all(r is not None and gives_self(r) for r in rets):
                out.add(f.name)
    return out


def test_module_self_returning_methods_are_torchs():
    assert torchfacts.MODULE_SELF_RETURNING == _self_returning_in_source()
    assert not hasattr(nn.Module, "mps")  # (the lint rules once listed it)


def test_module_self_returning_methods_return_the_module_when_called():
    m = nn.Linear(2, 2)
    calls = {"apply": (lambda x: None,), "to": ("cpu",), "to_empty": (), "type": (torch.float32,)}
    for name in sorted(torchfacts.MODULE_SELF_RETURNING):
        if name in ("cuda", "xpu", "ipu", "mtia"):  # no such device here: the source test above covers them
            continue
        kwargs = {"device": "cpu"} if name == "to_empty" else {}
        assert getattr(m, name)(*calls.get(name, ()), **kwargs) is m, name


def test_the_predictor_keeps_the_module_through_every_self_returning_method(tmp_path):
    from statedict_lint.predict.api import predict

    calls = ".".join(f"{n}()" for n in sorted(torchfacts.MODULE_SELF_RETURNING) if n not in ("apply", "type"))
    src = textwrap.dedent(f"""
        import torch.nn as nn

        class Net(nn.Module):
            def __init__(self):
                super().__init__()
                self.body = nn.Linear(2, 3).{calls}
    """)
    p = tmp_path / "m.py"
    p.write_text(src)
    pred = predict(str(p), "Net")
    assert pred.complete, pred.unresolved
    assert [k.key for k in pred.keys] == ["body.weight", "body.bias"]
