"""Soundness of the engine (issue 8): what the evaluator does not model exactly is Unknown with its line, a raise
it reaches through its own gap is "cannot know", and a raise Python would really make is reported as one.
Every claim here is judged against torch building the same source."""

from __future__ import annotations

import textwrap
from typing import Any, List, Tuple

import pytest

torch = pytest.importorskip("torch")

from statedict_lint.verify import runtime  # noqa: E402
from statedict_lint.predict.bindings import collect  # noqa: E402
from statedict_lint.errors import UserError  # noqa: E402
from statedict_lint.predict.api import predict  # noqa: E402

HEADER = "import torch\nimport torch.nn as nn\n"


def _src(body: str) -> str:
    return HEADER + textwrap.dedent(body)


def _rows(pred: Any) -> List[Tuple[str, Any, Any]]:
    return [(k.key, None if k.shape is None else tuple(k.shape), k.dtype) for k in pred.keys]


def _torch_rows(path: str, cls: str, sets: Tuple[str, ...] = ()) -> List[Tuple[str, Any, Any]]:
    dtype = torch.get_default_dtype()
    try:
        table = runtime.build(path, cls, collect(list(sets), []))
    finally:
        torch.set_default_dtype(dtype)
    return [(e.key, e.shape, e.dtype) for e in table.entries]


def _exact(path: str, cls: str, sets: Tuple[str, ...] = ()) -> None:
    pred = predict(path, cls, collect(list(sets), []))
    assert pred.complete, [(u.line, u.message) for u in pred.unresolved]
    assert _rows(pred) == _torch_rows(path, cls, sets)


def test_unmodelled_class_decorator_makes_an_incomplete_prediction_naming_it(write_model: Any) -> None:
    path = write_model(_src('''
        from somewhere_not_installed import register_everything

        @register_everything(kind="net")
        class Net(nn.Module):
            def __init__(self):
                super().__init__()
                self.fc = nn.Linear(2, 3)
    '''))
    pred = predict(path, "Net", {})
    assert not pred.complete and not pred.keys
    assert any("register_everything" in u.message and u.line == 6 for u in pred.unresolved), pred.unresolved


def test_unknown_call_at_import_makes_a_later_raise_cannot_know(write_model: Any) -> None:
    """A registry handed to unmodelled code at import may be filled there: the KeyError we would reach is
    ours, not the code's -- never 'construction fails'."""
    path = write_model(_src('''
        from plugins_not_installed import load_plugins

        LAYERS = {"linear": nn.Linear}
        load_plugins(LAYERS)

        class Net(nn.Module):
            def __init__(self, kind="conv"):
                super().__init__()
                self.body = LAYERS[kind](2, 2)
    '''))
    pred = predict(path, "Net", {})  # no UserError("constructing Net fails ... KeyError")
    assert not pred.complete
    assert not any(k.key.startswith("body.") for k in pred.keys), pred.keys
    assert any("load_plugins" in u.message for u in pred.unresolved), pred.unresolved


def test_real_type_errors_are_reported_like_python(write_model: Any) -> None:
    path = write_model(_src('''
        from dataclasses import dataclass

        class Plain:
            pass

        @dataclass
        class Cfg:
            dim: int = 4

        class A(nn.Module):
            def __init__(self):
                super().__init__()
                self.cfg = Plain(3)

        class B(nn.Module):
            def __init__(self):
                super().__init__()
                self.fc = nn.Linear(Cfg(width=3).dim, 2)

        class C(nn.Module):
            def __init__(self, **kwargs):
                super().__init__(**kwargs)
                self.fc = nn.Linear(2, 2)

        class UsesC(nn.Module):
            def __init__(self):
                super().__init__()
                self.c = C(hidden=4)
    '''))
    for cls, msg in (("A", "takes no arguments"), ("B", "unexpected keyword argument 'width'"),
                     ("UsesC", "unexpected keyword argument 'hidden'")):
        with pytest.raises(UserError, match=msg):
            predict(path, cls, {})
        with pytest.raises(UserError):
            runtime.build(path, cls, {})


def test_global_and_nonlocal_rebind_like_python(write_model: Any) -> None:
    path = write_model(_src('''
        WIDTH = 2

        def widen(n):
            global WIDTH
            WIDTH = WIDTH * n

        def counter():
            count = 1
            def bump():
                nonlocal count
                count += 2
                return count
            bump()
            return bump()

        class Net(nn.Module):
            def __init__(self):
                super().__init__()
                widen(3)
                self.fc = nn.Linear(WIDTH, counter())
    '''))
    _exact(path, "Net")


def test_registry_filled_by_a_module_level_loop(write_model: Any) -> None:
    path = write_model(_src('''
        BLOCKS = {}
        for name, width in (("small", 4), ("large", 16)):
            BLOCKS[name] = width

        class Net(nn.Module):
            def __init__(self, size="large"):
                super().__init__()
                self.fc = nn.Linear(BLOCKS[size], 2)
    '''))
    _exact(path, "Net")


def test_default_dtype_set_by_an_import_reached_during_construction(tmp_path: Any) -> None:
    """Python runs the imported module's top level before construction; the evaluator reaches it lazily,
    during construction, and predicts again with that default from the start."""
    pkg = tmp_path / "dtpkg"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "precision.py").write_text("import torch\n\ntorch.set_default_dtype(torch.float64)\nEPS = 1e-6\n")
    (pkg / "model.py").write_text(_src('''
        from dtpkg.precision import EPS

        class Net(nn.Module):
            def __init__(self):
                super().__init__()
                self.a = nn.Linear(2, 2)
                self.norm = nn.LayerNorm(2, eps=EPS)
    '''))
    import sys

    sys.path.insert(0, str(tmp_path))
    try:
        _exact(str(pkg / "model.py"), "Net")
        assert {d for _k, _s, d in _rows(predict(str(pkg / "model.py"), "Net", {}))} == {"float64"}
    finally:
        sys.path.remove(str(tmp_path))


def test_class_body_statements_not_evaluated_make_their_names_unknown(write_model: Any) -> None:
    path = write_model(_src('''
        import sys

        class Cfg:
            if sys.platform == "win32":
                width = 3
            else:
                width = 5

        class Net(nn.Module):
            def __init__(self):
                super().__init__()
                self.stem = nn.Linear(1, 1)
                self.fc = nn.Linear(Cfg.width, 2)
    '''))
    pred = predict(path, "Net", {})
    assert not pred.complete
    rows = dict((k, s) for k, s, _d in _rows(pred))
    assert rows["stem.weight"] == (1, 1)
    assert "fc.weight" not in rows or rows["fc.weight"] is None or rows["fc.weight"][1] is None


def test_setattr_hook_that_cannot_be_followed_is_not_guessed(write_model: Any) -> None:
    path = write_model(_src('''
        from somewhere_not_installed import route

        class Routed(nn.Module):
            def __setattr__(self, name, value):
                route(self, name, value)

            def __init__(self):
                super().__init__()
                self.fc = nn.Linear(2, 2)
    '''))
    pred = predict(path, "Routed", {})
    assert not pred.complete
    assert "fc.weight" not in [k.key for k in pred.keys]


def test_property_setters_run_and_properties_win_over_the_instance_dict(write_model: Any) -> None:
    path = write_model(_src('''
        class Cfg:
            def __init__(self, width=4):
                self._width = width
                self.width = width  # goes through the setter: doubles it

            @property
            def width(self):
                return self._width + 1

            @width.setter
            def width(self, value):
                self._width = 2 * value

        class Net(nn.Module):
            def __init__(self):
                super().__init__()
                self.fc = nn.Linear(Cfg(3).width, 2)
    '''))
    _exact(path, "Net")


def test_bindings_read_state_as_it_was_before_later_import_time_changes(write_model: Any) -> None:
    """Module-level assignments are evaluated lazily; import-time code that changes what they read must not
    leak into them (Python evaluated them first)."""
    path = write_model(_src('''
        class Defaults:
            dim = 4

        TABLE = {"w": 3}
        BEFORE = Defaults.dim * 2
        FROM_TABLE = TABLE["w"] + 1
        Defaults.dim = 9
        TABLE["w"] += 10

        def bump():
            Defaults.dim += 1

        SNAPSHOT = Defaults.dim
        bump()

        class Net(nn.Module):
            def __init__(self):
                super().__init__()
                self.a = nn.Linear(BEFORE, FROM_TABLE)
                self.b = nn.Linear(SNAPSHOT, Defaults.dim)
                self.c = nn.Linear(TABLE["w"], 1)
    '''))
    _exact(path, "Net")


def test_enum_members_that_are_also_strings_stay_unknown_values(write_model: Any) -> None:
    """`class Fmt(str, Enum)`: a member equals its string; the evaluator does not decide such comparisons."""
    path = write_model(_src('''
        from enum import Enum

        class Fmt(str, Enum):
            NCHW = "NCHW"
            NHWC = "NHWC"

        class Kind(Enum):
            A = 1
            B = 2

        class Net(nn.Module):
            def __init__(self, fmt="NHWC", kind=Kind.B):
                super().__init__()
                self.stem = nn.Linear(2, 2)
                if Fmt(fmt) == "NHWC":
                    self.perm = nn.Linear(3, 3)
                if kind is Kind.B and kind.value == 2:
                    self.b = nn.Linear(4, 4)
    '''))
    pred = predict(path, "Net", {})
    rows = {k.key: k for k in pred.keys}
    assert rows["b.weight"].condition is None and rows["perm.weight"].condition is not None
    real = {k for k, _s, _d in _torch_rows(path, "Net")}
    assert {"stem.weight", "perm.weight", "b.weight"} <= real


def test_copies_and_branches_keep_what_an_object_is(write_model: Any) -> None:
    """copy.copy makes a new object; a NamedTuple stays a tuple and a frozen dataclass stays frozen on both
    branches of an undecidable condition."""
    path = write_model(_src('''
        import copy
        from dataclasses import dataclass
        from typing import NamedTuple

        class Dims(NamedTuple):
            a: int
            b: int = 3

        @dataclass
        class Cfg:
            dim: int = 4

        class Net(nn.Module):
            def __init__(self, flag: bool, dims=Dims(2)):
                super().__init__()
                base = Cfg()
                wide = copy.copy(base)
                wide.dim = 8
                if flag:
                    x, y = dims
                else:
                    y, x = dims
                self.fc = nn.Linear(base.dim, wide.dim)
                self.g = nn.Linear(dims[0], dims.b)
    '''))
    pred = predict(path, "Net", {})
    rows = {k.key: k for k in pred.keys}
    assert rows["fc.weight"].shape == (8, 4) and rows["g.weight"].shape == (3, 2)
    for flag in ("flag=True", "flag=False"):
        real = {k: s for k, s, _d in _torch_rows(path, "Net", (flag,))}
        assert real["fc.weight"] == (8, 4) and real["g.weight"] == (3, 2)


def test_attributes_set_under_names_that_cannot_be_known_are_not_read_back_stale(write_model: Any) -> None:
    path = write_model(_src('''
        from plugins_not_installed import extra_options

        class Cfg:
            def __init__(self, **kwargs):
                self.dim = 4
                for k, v in kwargs.items():
                    setattr(self, k, v)

        OPTIONS = {}
        extra_options(OPTIONS)

        class Net(nn.Module):
            def __init__(self):
                super().__init__()
                self.stem = nn.Linear(1, 1)
                cfg = Cfg(**OPTIONS)
                self.fc = nn.Linear(cfg.dim, 2)
    '''))
    pred = predict(path, "Net", {})
    assert not pred.complete
    rows = {k: s for k, s, _d in _rows(pred)}
    assert rows["stem.weight"] == (1, 1)
    assert rows.get("fc.weight") is None or rows["fc.weight"][1] is None, rows


def test_a_script_running_its_training_loop_at_import_still_predicts(write_model: Any) -> None:
    """Module-level code is run, but one top-level statement has a step budget: a script's endless work at
    import is a gap (what it binds is unknown), not the end of the prediction."""
    path = write_model(_src('''
        def train():
            total = 0
            for epoch in range(1000):
                for step in range(1000):
                    total += step
            return total

        WIDTH = 6
        train()

        class Net(nn.Module):
            def __init__(self):
                super().__init__()
                self.fc = nn.Linear(WIDTH, 2)
    '''))
    _exact(path, "Net")


def test_default_tensor_type_set_at_import(write_model: Any) -> None:
    path = write_model(_src('''
        import warnings
        warnings.filterwarnings("ignore")
        torch.set_default_tensor_type(torch.DoubleTensor)

        class Net(nn.Module):
            def __init__(self):
                super().__init__()
                self.fc = nn.Linear(2, 2)
                self.register_buffer("ids", torch.arange(3))
    '''))
    try:
        _exact(path, "Net")
    finally:
        torch.set_default_tensor_type(torch.FloatTensor)


def test_import_that_may_fail_inside_init_gives_conditional_keys(write_model: Any) -> None:
    path = write_model(_src('''
        class Block(nn.Module):
            def __init__(self, dim=8):
                super().__init__()
                try:
                    from fused_norm_not_installed import FusedLayerNorm
                    self.norm = FusedLayerNorm(dim)
                except ImportError:
                    self.norm = nn.LayerNorm(dim)
                self.fc = nn.Linear(dim, dim)
    '''))
    pred = predict(path, "Block", {})
    assert not pred.complete
    rows = {k.key: k for k in pred.keys}
    assert rows["fc.weight"].condition is None and tuple(rows["fc.weight"].shape) == (8, 8)
    assert rows["norm.weight"].condition is not None and "fused_norm_not_installed" in rows["norm.weight"].condition
    real = {k for k, _s, _d in _torch_rows(path, "Block")}
    assert {"norm.weight", "fc.weight"} <= real


def test_subclass_of_a_stateless_torch_layer_passes_its_arguments_up(write_model: Any) -> None:
    """`super().__init__(kernel_size, ...)` in a subclass of nn.MaxPool2d is MaxPool2d's __init__, not
    nn.Module's (which takes no arguments): no false TypeError."""
    path = write_model(_src('''
        class MaxPoolSame(nn.MaxPool2d):
            def __init__(self, kernel_size, stride=None):
                super().__init__(kernel_size, stride, (0, 0), 1, False)

        class OldStyle(nn.ReLU):
            def __init__(self):
                nn.ReLU.__init__(self, inplace=True)

        class Net(nn.Module):
            def __init__(self):
                super().__init__()
                self.pool = MaxPoolSame(3, 2)
                self.act = OldStyle()
                self.fc = nn.Linear(2, 2)
    '''))
    _exact(path, "Net")


def test_setattr_hook_that_cannot_be_followed_never_leaves_the_old_value(write_model: Any) -> None:
    """A config whose __setattr__ recurses forever as written for the evaluator (it calls setattr on itself): the
    write is lost, so the attribute must not read back as its class default (which would be a wrong shape)."""
    path = write_model(_src('''
        class Cfg:
            width = 8

            def __init__(self, **kw):
                for k in kw:
                    setattr(self, k, kw[k])

            def __setattr__(self, key, value):
                setattr(self, key, value)  # recursion Python would not survive either: the evaluator gives up


        class Net(nn.Module):
            def __init__(self, width=64):
                super().__init__()
                cfg = Cfg(width=width)
                self.fc = nn.Linear(cfg.width, 2)
    '''))
    pred = predict(path, "Net", {})
    assert not pred.complete
    assert all(8 not in (k.shape or ()) for k in pred.keys), _rows(pred)


def test_object_setattr_applies_a_property_setter_as_python_does(write_model: Any) -> None:
    """transformers' PreTrainedConfig.__setattr__ ends in super().__setattr__: a property setter (num_labels
    rebuilding id2label) still runs, and the head is sized by it."""
    path = write_model(_src('''
        class Cfg:
            def __init__(self):
                self.id2label = {0: "a", 1: "b", 2: "c"}

            @property
            def num_labels(self):
                return len(self.id2label)

            @num_labels.setter
            def num_labels(self, n):
                self.id2label = {i: str(i) for i in range(n)}

            def __setattr__(self, key, value):
                object.__setattr__(self, key, value)


        class Net(nn.Module):
            def __init__(self):
                super().__init__()
                cfg = Cfg()
                cfg.num_labels = 1
                self.head = nn.Linear(4, cfg.num_labels)
    '''))
    _exact(path, "Net")


def test_sequential_takes_only_an_ordered_dict_as_names_and_never_shows_an_object_repr(write_model: Any) -> None:
    # torch: nn.Sequential(OrderedDict) names its children; a plain dict is one item, not a Module (TypeError)
    path = write_model(_src('''
        from collections import OrderedDict

        class PlainDictSeq(nn.Module):
            def __init__(self):
                super().__init__()
                self.body = nn.Sequential({"fc": nn.Linear(2, 3)})

        class OrderedSeq(nn.Module):
            def __init__(self):
                super().__init__()
                self.body = nn.Sequential(OrderedDict(fc=nn.Linear(2, 3), act=nn.ReLU()))

        class UnknownName(nn.Module):
            def __init__(self, names):
                super().__init__()
                stem = OrderedDict()
                stem.update(names)
                stem["fc"] = nn.Linear(2, 3)
                self.stem = nn.Sequential(stem)
    '''))
    with pytest.raises(UserError, match="TypeError: dict is not a Module subclass"):
        runtime.build(path, "PlainDictSeq", collect([], []))
    with pytest.raises(UserError, match="constructing PlainDictSeq fails"):
        predict(path, "PlainDictSeq", {})
    _exact(path, "OrderedSeq")
    pred = predict(path, "UnknownName", {})
    assert not pred.complete
    assert all(" object at 0x" not in u.message for u in pred.unresolved), pred.unresolved
    assert [k.key for k in pred.keys] == ["stem.fc.weight", "stem.fc.bias"]
    assert any("name that cannot be known" in u.message for u in pred.unresolved), pred.unresolved


# --- modules handed to code the evaluator does not follow (an unknown function, an unmodelled Module method) ---

NATIVE = '''
import torch.nn as nn


def add_head(module):
    module.head = nn.Linear(4, 3)
    module.fc = nn.Linear(4, 6)


def noop(*args, **kwargs):
    return None
'''


def _native(tmp_path: Any, monkeypatch: Any, name: str) -> None:
    """A module torch imports but the static prediction cannot read (as a compiled extension): written outside
    the model's folder, put on torch's path only after the prediction was made."""
    folder = tmp_path / "native_site"
    folder.mkdir(exist_ok=True)
    (folder / f"{name}.py").write_text(NATIVE)
    monkeypatch.syspath_prepend(str(folder))


def test_unknown_function_given_self_leaves_what_it_reaches_unclaimed(write_model: Any, tmp_path: Any,
                                                                     monkeypatch: Any) -> None:
    path = write_model(_src('''
        from sdl_native_a import add_head

        class Net(nn.Module):
            def __init__(self):
                super().__init__()
                self.fc = nn.Linear(4, 4)
                add_head(self)
                self.out = nn.Linear(self.fc.out_features, 2)
                self.tail = nn.Linear(2, 2)
    '''), name="native_a_model.py")
    pred = predict(path, "Net", {})
    _native(tmp_path, monkeypatch, "sdl_native_a")
    rows = dict((k, (s, d)) for k, s, d in _torch_rows(path, "Net"))
    assert rows["fc.weight"][0] == (6, 4) and rows["out.weight"][0] == (2, 6) and "head.weight" in rows
    assert not pred.complete
    reasons = [(u.line, u.message) for u in pred.unresolved]
    assert any(line == 10 and "add_head" in msg for line, msg in reasons), reasons
    # fc.* may have been replaced and `self.fc` read afterwards is unknown: no shape of fc.* or out.* is claimed;
    # it may also have registered a state_dict hook on `self`: no key of Net is claimed for sure (as for a hook)
    assert not [k.key for k in pred.keys if k.condition is None], [(k.key, k.shape) for k in pred.keys]
    assert all(k.shape is None or not any(isinstance(d, int) and d not in (2,) for d in k.shape)
               for k in pred.keys if k.key.startswith(("fc.", "out."))), [(k.key, k.shape) for k in pred.keys]
    assert any("state_dict hook" in msg and "add_head" in msg for _, msg in reasons), reasons
    assert "tail.weight" in [k.key for k in pred.keys]


def test_calls_that_are_modelled_do_not_taint_the_modules_they_are_given(write_model: Any) -> None:
    path = write_model(_src('''
        import logging

        log = logging.getLogger(__name__)

        class Net(nn.Module):
            def __init__(self):
                super().__init__()
                self.fc = nn.Linear(4, 4)
                self.layers = nn.ModuleList([nn.Linear(4, 4) for _ in range(3)])
                nn.init.trunc_normal_(self.fc.weight, std=0.02)
                nn.init.constant_(self.fc.bias, 0.0)
                assert isinstance(self.fc, nn.Linear) and callable(self.fc)
                print(self, len(self.layers), type(self.fc).__name__)
                log.info("built %s with %d layers", self, len(self.layers))
                logging.getLogger("x").debug("%r", self.layers)
                for layer in self.layers:
                    nn.init.kaiming_uniform_(layer.weight, a=5 ** 0.5)
                self.head = nn.Linear(self.fc.out_features, len(self.layers))
    '''))
    _exact(path, "Net")


def test_unknown_function_given_only_numbers_keeps_the_claims(write_model: Any) -> None:
    path = write_model(_src('''
        from sdl_not_installed import make_norm

        class Net(nn.Module):
            def __init__(self):
                super().__init__()
                self.fc = nn.Linear(4, 4)
                self.norm = make_norm(4)
                self.head = nn.Linear(4, 2)
    '''))
    pred = predict(path, "Net", {})
    assert not pred.complete
    claimed = {k.key: k.shape for k in pred.keys if k.condition is None}
    assert claimed == {"fc.weight": (4, 4), "fc.bias": (4,), "head.weight": (2, 4), "head.bias": (2,)}


def test_unknown_function_given_a_child_in_a_list_taints_that_child(write_model: Any) -> None:
    path = write_model(_src('''
        from sdl_not_installed import init_all

        class Net(nn.Module):
            def __init__(self):
                super().__init__()
                self.a = nn.Linear(2, 2)
                self.b = nn.Linear(3, 3)
                init_all([self.a], scale={"m": self.b})
                self.c = nn.Linear(self.a.in_features, 1)
    '''))
    pred = predict(path, "Net", {})
    assert not pred.complete
    sure = {k.key: k.shape for k in pred.keys if k.condition is None and k.shape is not None}
    assert not any(key.startswith(("a.", "b.")) for key in sure), sure
    assert sure["c.weight"] == (1, None), sure  # `self.a.in_features` read after the call is unknown


def test_unmodelled_module_method_makes_reads_unknown_never_attribute_error(write_model: Any) -> None:
    """set_submodule/_apply are not modelled: what they may change is unknown, and reading `self.block` after
    them is unknown with the line -- torch builds the class, so 'construction fails' would be false."""
    path = write_model(_src('''
        class Block(nn.Module):
            def __init__(self):
                super().__init__()
                self.proj = nn.Linear(4, 4)

        class Net(nn.Module):
            def __init__(self):
                super().__init__()
                self.block = Block()
                self.block._apply(lambda t: t)
                self.head = nn.Linear(self.block.proj.out_features, 2)
                self.x = self.undefined_name if hasattr(self, "undefined_name") else nn.Linear(1, 1)
    '''))
    table = _torch_rows(path, "Net")
    assert [k for k, _, _ in table] == ["block.proj.weight", "block.proj.bias", "head.weight", "head.bias",
                                        "x.weight", "x.bias"]
    pred = predict(path, "Net", {})  # no UserError("constructing Net fails ... no attribute")
    assert not pred.complete
    reasons = [(u.line, u.message) for u in pred.unresolved]
    assert any(line == 13 and "_apply" in msg for line, msg in reasons), reasons
    sure = {k.key: k.shape for k in pred.keys if k.condition is None}
    assert sure["head.weight"] == (2, None), sure
    assert not any(key.startswith("block.") for key in sure), sure


def test_a_real_missing_attribute_still_fails_construction(write_model: Any) -> None:
    """Precision the other way: without any unmodelled call a missing attribute is Python's AttributeError."""
    path = write_model(_src('''
        class Net(nn.Module):
            def __init__(self):
                super().__init__()
                self.fc = nn.Linear(2, 2)
                self.head = nn.Linear(self.missing.out_features, 2)
    '''))
    with pytest.raises(UserError, match="no attribute"):
        predict(path, "Net", {})
    with pytest.raises(UserError):
        runtime.build(path, "Net", {})


def test_listing_classes_follows_deep_import_time_code_without_crashing() -> None:
    """module_classes evaluates every top-level name: deep import-time recursion (CLIP's tokenizer through the
    `regex` package) ran on the default stack and crashed with RecursionError (bench/realcode.py: error)."""
    import os

    from statedict_lint.predict.api import module_classes

    path = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "fixtures", "redteam",
                        "import_time_recursion.py")
    assert module_classes(path) == [("Head", 20)]
    pred = predict(path, "Head", {})
    assert pred.complete and _rows(pred) == [("fc.weight", (2, 4), "float32"), ("fc.bias", (2,), "float32")]


def test_conditions_say_what_kind_they_are(write_model: Any) -> None:
    """keys words its heading from the kind: a switch (an unbound value), a hook/override/code not followed, or
    another condition the tool cannot decide (the environment). The kind survives the prediction cache."""
    from statedict_lint.commands.keys import format_text
    from statedict_lint.predict.cache import dump_prediction, load_prediction

    path = write_model(_src('''
        import os

        def _hook(module, sd, prefix, meta):
            return sd

        class Net(nn.Module):
            def __init__(self, bias):
                super().__init__()
                self.hooked = nn.Linear(2, 2)
                self.hooked.register_state_dict_post_hook(_hook)
                self.fc = nn.Linear(2, 2, bias=bias)
                if os.environ.get("WIDE"):
                    self.wide = nn.Linear(2, 8)
    '''))
    pred = predict(path, "Net", {})
    kinds = {u.message: u.kind for u in pred.unresolved if u.message.startswith("some keys exist only if ")}
    assert sorted(kinds.values()) == ["condition", "hook", "switch"], kinds
    assert kinds["some keys exist only if bias (line 14)"] == "switch"
    assert [u.kind for u in load_prediction(dump_prediction(pred)).unresolved] == [u.kind for u in pred.unresolved]
    text = format_text(pred)
    for heading in ("keys that exist only for some values of an unbound switch:",
                    "keys that a state_dict hook, an override or code not followed may rename, drop or change:",
                    "keys that exist only under a condition that cannot be decided here:"):
        assert text.count(heading) == 1, text
    switch_part = text.split("unbound switch:")[1].split("\n\n")[0]
    assert "bias (line 14)" in switch_part and "WIDE" not in switch_part and "hook" not in switch_part


def test_unknown_function_mapped_over_a_list_of_unknown_length_taints_it(write_model: Any) -> None:
    path = write_model(_src('''
        from sdl_not_installed import drop_bias

        class Net(nn.Module):
            def __init__(self, n):
                super().__init__()
                self.first = nn.Linear(2, 2)
                self.layers = nn.ModuleList([nn.Linear(2, 2) for _ in range(n)])
                list(map(drop_bias, self.layers))
                self.after = nn.Linear(2, 2)
    '''))
    pred = predict(path, "Net", {})
    assert not any(k.key.startswith("layers.") and k.condition is None for k in pred.keys), pred.keys
    assert any("drop_bias" in u.message for u in pred.unresolved), pred.unresolved
    assert [k.key for k in pred.keys if k.condition is None] == ["after.weight", "after.bias"]


def test_set_submodule_is_modelled_as_torch_does(write_model: Any) -> None:
    path = write_model(_src('''
        class Block(nn.Module):
            def __init__(self):
                super().__init__()
                self.proj = nn.Linear(4, 4)

        class Loose(nn.Module):
            def __init__(self):
                super().__init__()
                self.block = Block()
                self.set_submodule("block.extra", nn.Linear(3, 3))
                self.set_submodule("block.proj", nn.Linear(4, 5))
                self.set_submodule("top", nn.Linear(1, 1))

        class NotAModule(nn.Module):
            def __init__(self):
                super().__init__()
                self.block = Block()
                self.set_submodule("block.proj.weight", nn.Linear(1, 1))

        class StrictMissing(nn.Module):
            def __init__(self):
                super().__init__()
                self.block = Block()
                self.set_submodule("block.nope", nn.Linear(1, 1), strict=True)

        class NoParent(nn.Module):
            def __init__(self):
                super().__init__()
                self.set_submodule("ghost.fc", nn.Linear(1, 1))
    '''))
    _exact(path, "Loose")
    for cls in ("NotAModule", "StrictMissing", "NoParent"):
        with pytest.raises(UserError, match="fails"):
            predict(path, cls, {})
        with pytest.raises(UserError):
            runtime.build(path, cls, {})


def test_type_of_plain_values_is_the_builtin(write_model: Any) -> None:
    """type(x) of an int/str/list/... is that builtin (CLIP's clip.py calls type() on a str at import; after the
    builtins were split into factories this ended in an internal KeyError)."""
    path = write_model(_src('''
        NAMES = [type("x").__name__, type(3).__name__]
        WIDTH = type(3)("4") + len(type([1])((5, 6)))

        class Net(nn.Module):
            def __init__(self):
                super().__init__()
                self.fc = nn.Linear(WIDTH, len(NAMES) + (1 if type(2.0) is float else 0))
    '''))
    _exact(path, "Net")
