"""The predictor's caches are owned by a ``Session`` of bounded LRU tables (predict/session.py): a long run stays
at or under the bounds, eviction never changes a prediction, and id()-keyed tables keep their key objects."""

from __future__ import annotations

import gc
import pathlib

import pytest

from statedict_lint.errors import UserError
from statedict_lint.predict import session as session_mod
from statedict_lint.predict.api import module_classes, predict
from statedict_lint.memo import LRU
from statedict_lint.predict.session import Session

FIXTURES = pathlib.Path(__file__).resolve().parent.parent / "fixtures"


def test_lru_keeps_the_most_recently_used_up_to_its_bound():
    t: LRU[int] = LRU(3)
    for i in range(3):
        t[i] = i
    assert t.get(0) == 0  # 0 is now the most recent
    t[3] = 3
    assert 1 not in t and {0, 2, 3} == set(t.data) and len(t) == 3
    t[4] = 4
    assert 2 not in t and t.get(2) is None and len(t) == 3
    with pytest.raises(ValueError):
        LRU(0)


def _jobs():
    jobs = []
    for f in sorted(FIXTURES.glob("*.py")):
        try:
            jobs.extend((str(f), name) for name, _ in module_classes(str(f)))
        except UserError:
            continue
    return jobs


def _facts(pred):
    return ([(k.key, k.shape, k.dtype, k.kind, k.line, k.condition) for k in pred.keys],
            sorted((u.line, u.message) for u in pred.unresolved))


def test_a_long_run_stays_within_the_bounds_and_eviction_changes_nothing():
    jobs = _jobs()
    assert len(jobs) >= 40
    limit = {"sources": 24, "strings": 100, "jumps": 64, "names": 8, "catalog_chunks": 1}
    small = Session(sources=24, strings=100, jumps=64, names=8, catalogs=1)
    reference = Session()  # large enough to hold everything these fixtures read
    wanted = {}
    done = 0
    peak = dict.fromkeys(limit, 0)
    while done < 200:
        for path, name in jobs:
            try:
                got = _facts(predict(path, name, session=small))
            except UserError as exc:
                got = ("error", str(exc))
            if (path, name) not in wanted:
                try:
                    wanted[path, name] = _facts(predict(path, name, session=reference))
                except UserError as exc:
                    wanted[path, name] = ("error", str(exc))
            assert got == wanted[path, name], f"{name} in {path}: eviction changed the prediction"
            for table, bound in limit.items():
                n = len(small.tables()[table])
                assert n <= bound, f"{table}: {n} entries over its bound {bound}"
                peak[table] = max(peak[table], n)
            done += 1
            if done >= 200:
                break
    # the bounds were reached (the run did evict), so the check above is not vacuous
    assert peak["sources"] == limit["sources"] and peak["strings"] == limit["strings"]
    assert peak["jumps"] == limit["jumps"] and peak["names"] == limit["names"]


def test_id_keyed_tables_keep_their_nodes_alive():
    s = Session()
    for path, name in _jobs():
        try:
            predict(path, name, session=s)
        except UserError:
            pass
    gc.collect()
    assert len(s.jumps) and len(s.names)
    for table in (s.jumps, s.names):
        for key, (node, _value) in table.data.items():
            assert id(node) == key  # the entry holds its node: the id cannot be reused while the entry lives


def test_predictions_without_a_session_share_the_process_session():
    s = session_mod.default_session()
    s.clear()
    path = str(FIXTURES / "gpt.py")
    predict(path, "GPT")
    assert len(s.sources) > 0 and all(len(t) <= t.bound for t in s.tables().values())
    before = len(s.sources)
    predict(path, "GPT")
    assert len(s.sources) == before  # the second prediction read the same files from the session
