"""Python values the predictor evaluates (sorting, dict order, iterators, sets, dataclass keys): modelled exactly
(then the prediction equals torch) or left unknown (then nothing is claimed) -- never a wrong claim."""

from __future__ import annotations

import textwrap
from typing import Any

import pytest

torch = pytest.importorskip("torch")

from conftest import load_module_from_path, torch_table  # noqa: E402
from statedict_lint.predict.api import predict  # noqa: E402

HEADER = "from collections import OrderedDict\nimport torch\nimport torch.nn as nn\n"


def _exact(write_model: Any, body: str) -> Any:
    """The class M of ``body`` predicted complete and equal to torch's state_dict."""
    path = write_model(HEADER + textwrap.dedent(body))
    pred = predict(path, "M", {})
    assert pred.complete, pred.unresolved
    mod = load_module_from_path(path)
    with torch.device("meta"):
        expected = torch_table(mod.M())
    assert [(k.key, tuple(k.shape), k.dtype) for k in pred.keys] == expected
    return pred


def _unknown(write_model: Any, body: str, line: int) -> Any:
    """The class M of ``body`` predicted incomplete with a reason at ``line``; its sure keys are torch's."""
    path = write_model(HEADER + textwrap.dedent(body))
    pred = predict(path, "M", {})
    assert not pred.complete
    assert any(u.line == line for u in pred.unresolved), pred.unresolved
    mod = load_module_from_path(path)
    with torch.device("meta"):
        expected = {k: s for k, s, _ in torch_table(mod.M())}
    for k in pred.keys:
        if "{" not in k.key and "<" not in k.key:
            assert k.key in expected and tuple(k.shape) == expected[k.key], k
    return pred


@pytest.mark.parametrize("code", [
    "dims.sort(key=lambda d: (d % 3, d))",
    "dims.sort(key=lambda d: d % 2, reverse=True)",
    "dims.sort()",
    "dims = sorted(dims, key=lambda d: -d)",
    "dims = sorted(dims, key=lambda d: d % 3, reverse=True)",
])
def test_sort_with_key_is_modelled(write_model: Any, code: str) -> None:
    _exact(write_model, f'''
        class M(nn.Module):
            def __init__(self):
                super().__init__()
                dims = [5, 3, 9, 1, 4]
                {code}
                self.layers = nn.ModuleList(nn.Linear(d, 1) for d in dims)
    ''')


def test_sort_by_unknown_key_leaves_the_order_unknown(write_model: Any) -> None:
    # hash(str) depends on PYTHONHASHSEED: the order after the sort cannot be known, the list is not claimed
    pred = _unknown(write_model, '''
        class M(nn.Module):
            def __init__(self):
                super().__init__()
                dims = [5, 3, 9]
                dims.sort(key=lambda d: hash(str(d)))
                self.layers = nn.ModuleList(nn.Linear(d, 1) for d in dims)
    ''', 10)
    assert not [k for k in pred.keys if k.key.startswith("layers.")]


@pytest.mark.parametrize("code", [
    'od.move_to_end("a")',
    'od.move_to_end("c", last=False)',
    'od.move_to_end("a"); od.move_to_end("c", last=False)',
    'od.popitem(); od.popitem(last=False)',
])
def test_ordered_dict_reordering_is_modelled(write_model: Any, code: str) -> None:
    _exact(write_model, f'''
        class M(nn.Module):
            def __init__(self):
                super().__init__()
                od = OrderedDict((k, nn.Linear(1, i + 1)) for i, k in enumerate("abc"))
                {code}
                self.d = nn.ModuleDict(od)
    ''')


def test_plain_dict_popitem_is_modelled(write_model: Any) -> None:
    _exact(write_model, '''
        class M(nn.Module):
            def __init__(self):
                super().__init__()
                d = {"a": 1, "b": 2, "c": 3}
                d.popitem()
                self.d = nn.ModuleDict({k: nn.Linear(v, 1) for k, v in d.items()})
    ''')


def test_move_to_end_of_unknown_key_leaves_the_dict_unknown(write_model: Any) -> None:
    pred = _unknown(write_model, '''
        class M(nn.Module):
            def __init__(self):
                super().__init__()
                od = OrderedDict((k, nn.Linear(1, i + 1)) for i, k in enumerate("abc"))
                od.move_to_end(min(od, key=lambda k: hash(k)))
                self.d = nn.ModuleDict(od)
    ''', 10)
    assert not [k for k in pred.keys if k.key.startswith("d.") and "<" not in k.key]


def test_iterating_a_set_of_strings_leaves_its_order_unknown(write_model: Any) -> None:
    # the order of a set of str changes with PYTHONHASHSEED: no key built from it is claimed
    pred = _unknown(write_model, '''
        class M(nn.Module):
            def __init__(self, names=("query", "key", "value")):
                super().__init__()
                self.proj = nn.ModuleDict({n: nn.Linear(2, 2) for n in set(names)})
    ''', 8)
    assert not [k for k in pred.keys if k.key.startswith("proj.") and "<" not in k.key]


@pytest.mark.parametrize("expr", [
    "sorted(set(names))",
    "sorted({n.upper() for n in names}, reverse=True)",
    "[max(set(names)), min(set(names))]",
    "sorted(set(names) | {'gate'})",
])
def test_order_free_uses_of_a_string_set_are_exact(write_model: Any, expr: str) -> None:
    _exact(write_model, f'''
        class M(nn.Module):
            def __init__(self, names=("query", "key", "value", "key")):
                super().__init__()
                self.proj = nn.ModuleDict({{n: nn.Linear(len(n), 2) for n in {expr}}})
    ''')


def test_a_set_of_numbers_iterates_in_cpython_order(write_model: Any) -> None:
    # not sorted: {10, 3, 17, 8} iterates 8, 17, 10, 3 in CPython (hash(n) == n, table of 8 slots)
    _exact(write_model, '''
        class M(nn.Module):
            def __init__(self):
                super().__init__()
                self.layers = nn.ModuleList(nn.Linear(d, 1) for d in {10, 3, 17, 8})
                self.total = nn.Linear(sum({1, 2, 3}), 1)
    ''')


@pytest.mark.parametrize("code", [
    # a generator expression is used up by its first reader
    "g = (nn.Linear(2, 2) for _ in range(2)); self.a = nn.ModuleList(g); self.b = nn.ModuleList(g)",
    # next() advances an iterator; the rest is what is left
    "it = iter([4, 5, 6]); self.first = nn.Linear(next(it), 1); self.rest = nn.ModuleList(nn.Linear(d, 1) for d in it)",
    "it = iter([4, 5]); next(it); next(it); self.last = nn.Linear(next(it, 7), 1)",
    # zip, map, enumerate, filter, reversed are one-shot iterators
    "p = zip([1, 2], [3, 4]); list(p); self.p = nn.ModuleList(nn.Linear(x, y) for x, y in p)",
    "m = map(lambda d: nn.Linear(d, 1), [2, 3]); self.m = nn.ModuleList(m); self.n = nn.ModuleList(m)",
    "e = enumerate([2, 3]); next(e); self.e = nn.ModuleDict({str(i): nn.Linear(d, 1) for i, d in e})",
    # a break leaves the rest of the iterator to its next reader
    "it = iter([1, 2, 3, 4])\n"
    "                for d in it:\n"
    "                    if d == 2:\n"
    "                        break\n"
    "                self.after = nn.ModuleList(nn.Linear(d, 1) for d in it)",
    # a list iterator reads the list as it is when it runs
    "xs = [1]; it = iter(xs); xs.append(2); self.live = nn.ModuleList(nn.Linear(d, 1) for d in it)",
    "self.names = nn.ModuleDict({'_'.join(map(str, (1, 2))): nn.Linear(1, 1)})",
])
def test_iterators_are_consumed_once(write_model: Any, code: str) -> None:
    _exact(write_model, f'''
        class M(nn.Module):
            def __init__(self):
                super().__init__()
                {code}
    ''')


def test_iterator_consumed_under_an_undecidable_condition_is_unknown(write_model: Any) -> None:
    pred = _unknown(write_model, '''
        import os
        class M(nn.Module):
            def __init__(self):
                super().__init__()
                it = iter([3, 4, 5])
                if os.environ.get("SKIP_FIRST"):
                    next(it)
                self.rest = nn.ModuleList(nn.Linear(d, 1) for d in it)
    ''', 12)
    assert not [k for k in pred.keys if k.key.startswith("rest.") and "<" not in k.key]


FROZEN = '''
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Key:
    h: int
    w: int


@dataclass(frozen=True)
class Outer:
    inner: Key
    tag: str = "x"


@dataclass(frozen=True)
class Sub(Key):
    pass
'''


@pytest.mark.parametrize("expr", [
    "{Key(2, 3): 10, Key(2, 4): 20}[Key(2, 4)]",
    "{Outer(Key(1, 2)): 7}[Outer(Key(1, 2), 'x')]",
    "len({Key(1, 1), Key(1, 1), Key(1, 2)}) + 3",
    "5 if Key(1, 2) == Key(1, 2) else 9",
    "5 if Key(1, 2) == Sub(1, 2) else 9",  # the generated __eq__ compares the exact class
    "{Key(1, 2): 4}.get(Sub(1, 2), 6)",
])
def test_frozen_dataclass_instances_hash_and_compare_by_value(write_model: Any, expr: str) -> None:
    _exact(write_model, FROZEN + f'''
class M(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear({expr}, 1)
''')


def test_frozen_dataclass_key_with_unknown_field_is_unknown(write_model: Any) -> None:
    # an unknown field: the lookup cannot be decided (never a false KeyError)
    path = write_model(HEADER + FROZEN + '''
class M(nn.Module):
    def __init__(self, w):
        super().__init__()
        table = {Key(2, 3): 10, Key(2, w): 20}
        self.fc = nn.Linear(table[Key(2, 3)], 1)
''')
    pred = predict(path, "M", {})
    assert not pred.complete
    # Key(2, w) may equal Key(2, 3) (w == 3 gives 20): the in-features of fc are not claimed
    assert [k.shape for k in pred.keys if k.key == "fc.weight"] == [(1, None)]


ENUMS = '''
import enum


class Variant(enum.Enum):
    TINY = (8, 1)
    BASE = (16, 2)

    def __init__(self, width, depth):
        self.width = width
        self.depth = depth


class Single(enum.Enum):
    A = 3

    def __init__(self, n):
        self.double = 2 * n


class Act(enum.Enum):
    def __new__(cls, value, layer):
        obj = object.__new__(cls)
        obj._value_ = value
        obj.layer = layer
        return obj

    RELU = ("relu", 4)
'''


@pytest.mark.parametrize("member", ["Variant.TINY", "Variant.BASE"])
def test_enum_init_unpacks_tuple_values(write_model: Any, member: str) -> None:
    from statedict_lint.predict import bindings as bindings_mod

    path = write_model(HEADER + ENUMS + '''
class M(nn.Module):
    def __init__(self, variant=Variant.BASE):
        super().__init__()
        self.blocks = nn.ModuleList(nn.Linear(variant.width, Single.A.double) for _ in range(variant.depth))
''')
    pred = predict(path, "M", bindings_mod.collect([f"variant={member}"], []))
    assert pred.complete, pred.unresolved
    mod = load_module_from_path(path)
    with torch.device("meta"):
        expected = torch_table(mod.M(eval("mod." + member)))
    assert [(k.key, tuple(k.shape), k.dtype) for k in pred.keys] == expected


def test_binding_an_enum_member_that_is_not_modelled_is_unknown_not_refused(write_model: Any) -> None:
    from statedict_lint.predict import bindings as bindings_mod

    path = write_model(HEADER + ENUMS + '''
class M(nn.Module):
    def __init__(self, act=None):
        super().__init__()
        self.fc = nn.Linear(2, 2)
        if act is not None:
            self.extra = nn.Linear(act.layer, 1)
''')
    pred = predict(path, "M", bindings_mod.collect(["act=Act.RELU"], []))
    assert not pred.complete
    assert [k.key for k in pred.keys if "<" not in k.key][:2] == ["fc.weight", "fc.bias"]
    assert all(u.line > 0 for u in pred.unresolved)
