"""The server's start-up heap is frozen once, out of the collector's walks."""

import gc

import pytest

from realtime import heap


@pytest.fixture
def fresh_heap_state():
    thresholds = gc.get_threshold()
    heap._state["settled"] = False
    yield
    gc.unfreeze()
    gc.set_threshold(*thresholds)
    heap._state["settled"] = False


def test_settle_freezes_what_exists_and_sets_the_thresholds(fresh_heap_state, settings):
    settings.SERVER_GC_THRESHOLDS = [12_345, 11, 12]
    gc.unfreeze()
    kept = [object() for _ in range(3)], {"a": [1]}
    assert heap.settle() is True
    assert gc.get_freeze_count() > 1000
    assert not gc.is_tracked(kept) or all(kept[0] is not o for o in gc.get_objects(0))
    assert gc.get_threshold() == (12_345, 11, 12)


def test_settle_runs_once_per_process(fresh_heap_state, settings):
    settings.SERVER_GC_THRESHOLDS = [5_000, 10, 10]
    assert heap.settle() is True
    settings.SERVER_GC_THRESHOLDS = [700, 10, 10]
    assert heap.settle() is False
    assert gc.get_threshold() == (5_000, 10, 10)
