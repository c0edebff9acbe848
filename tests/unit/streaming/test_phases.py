"""A task's phases add up the wall time of their blocks, also of a block that raises."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from streaming import phases
from streaming.phases import PHASES, Phases


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[float]]:
    """perf_counter answers these readings in turn."""
    readings: list[float] = []
    monkeypatch.setattr(phases.time, "perf_counter", lambda: readings.pop(0))
    yield readings


def test_each_block_adds_its_time_to_its_phase(clock: list[float]) -> None:
    clock.extend([1.0, 1.5, 10.0, 12.0, 20.0, 20.25])
    timed = Phases()
    with timed.timed("read"):
        pass
    with timed.timed("vector_writes"):
        pass
    with timed.timed("read"):
        pass
    assert timed.seconds == dict.fromkeys(PHASES, 0.0) | {"read": 0.75, "vector_writes": 2.0}


def test_a_block_that_raises_still_counts(clock: list[float]) -> None:
    clock.extend([3.0, 4.0])
    timed = Phases()
    with pytest.raises(RuntimeError), timed.timed("playlist_writes"):
        raise RuntimeError("server away")
    assert timed.seconds["playlist_writes"] == 1.0


def test_described_in_task_order_without_the_idle_phases() -> None:
    described = phases.describe({"vector_writes": 1.0, "read": 0.414, "fold_in": 0.0})
    assert described == "read 0.41s, vector_writes 1.00s"
    assert phases.describe(dict.fromkeys(PHASES, 0.0)) == ""
