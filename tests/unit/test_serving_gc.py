"""The serving process's collector settings (crowdship serve): frozen start-up objects, rarer young collections."""

from __future__ import annotations

import gc
import weakref
from collections.abc import Iterator

import pytest

from marketplace.heap import SERVING_GC_THRESHOLD, settle_heap_for_serving


@pytest.fixture
def restored_gc() -> Iterator[None]:
    """The test process keeps its own settings: frozen objects would never be collected here."""
    threshold = gc.get_threshold()
    try:
        yield
    finally:
        gc.unfreeze()
        gc.set_threshold(*threshold)


class _Node:
    def __init__(self) -> None:
        self.me = self  # a reference cycle: only the cyclic collector frees it


def test_settling_the_heap_freezes_what_exists_and_raises_the_young_threshold(restored_gc: None) -> None:
    long_lived = [[i] for i in range(1000)]
    before = gc.get_freeze_count()

    settle_heap_for_serving()

    assert gc.get_freeze_count() >= before + len(long_lived)
    assert gc.get_threshold() == SERVING_GC_THRESHOLD
    # Garbage made afterwards is still collected.
    made_after = weakref.ref(_Node())
    assert made_after() is not None
    gc.collect()
    assert made_after() is None
