"""PatternRef's key index keeps HAProxy's semantics: duplicates, list order, versions, #ref ids."""

from __future__ import annotations

import itertools

import pytest

from luaproxy.worker.samples import SampleError
from luaproxy.worker.samples.library import PatternRef


def _ref() -> PatternRef:
    ref = PatternRef(1, "m.map", "m.map", itertools.count(1))
    ref.is_map = True
    ref.load_lines([(1, "a", "1"), (2, "b", "2"), (3, "a", "3")])
    return ref


def test_set_and_del_by_key_reach_every_duplicate_in_order() -> None:
    ref = _ref()
    assert ref.set("a", "x") == 2
    assert [(e.key, e.value) for e in ref.entries()] == [("a", "x"), ("b", "2"), ("a", "x")]
    ref.add("a", "4")
    assert ref.delete("a") == 3
    assert [(e.key, e.value) for e in ref.entries()] == [("b", "2")]
    with pytest.raises(SampleError, match="entry not found"):
        ref.set("a", "y")
    with pytest.raises(SampleError, match="Key not found"):
        ref.delete("a")


def test_by_ref_id_and_across_versions() -> None:
    ref = _ref()
    first_a = ref.entries()[0]
    assert ref.set(f"#{first_a.ref_id:x}", "only") == 1
    assert [e.value for e in ref.entries() if e.key == "a"] == ["only", "3"]
    version = ref.prepare()
    ref.add("a", "next", version)
    assert ref.set("a", "cur") == 2  # the prepared version is not touched
    ref.commit(version)
    assert [(e.key, e.value) for e in ref.entries()] == [("a", "next")]
    assert ref.set("a", "after") == 1
    ref.clear()
    with pytest.raises(SampleError):
        ref.delete("a")


def test_a_large_list_sets_by_key_without_scanning() -> None:
    import time

    ref = PatternRef(2, "big.map", "big.map", itertools.count(1))
    ref.is_map = True
    ref.load_lines([(n, f"k{n}", "v") for n in range(100_000)])
    started = time.process_time()
    for n in range(2000):
        ref.set(f"k{n * 37}", "w")
    assert (time.process_time() - started) / 2000 < 0.001  # a scan took ~10 ms per set
