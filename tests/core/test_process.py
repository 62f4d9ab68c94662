"""A long-running process settles its heap once started (``core.process``)."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest

from atrium.core.process import YOUNG_GENERATION_THRESHOLD, settle_heap


@pytest.fixture
def restored_collector() -> Iterator[None]:
    thresholds = gc.get_threshold()
    yield
    gc.unfreeze()
    gc.set_threshold(*thresholds)


def test_settle_heap_freezes_start_up_and_collects_the_young_less_often(restored_collector: None) -> None:
    settle_heap()
    assert gc.get_freeze_count() > 1_000  # everything loaded so far: modules, classes, mappers
    assert gc.get_threshold() == (YOUNG_GENERATION_THRESHOLD, 10, 10)
    # cycles made afterwards are still collected
    cycle: list[object] = []
    cycle.append(cycle)
    del cycle
    assert gc.collect() >= 1
