"""A partition task's counts and phase seconds survive the Arrow round trip to the driver and
are summed; a task leaves what was alive before it out of the collector's scans and keeps the
collector paused while it runs."""

from __future__ import annotations

import gc

import pyarrow as pa
import pytest

from streaming import transform
from streaming.partition import Latest
from streaming.phases import PHASES


def test_counts_of_several_partitions_are_summed() -> None:
    schema = pa.schema([(name, pa.int64()) for name in transform.COUNTS])
    first = pa.RecordBatch.from_pydict({"applied": [3], "stale": [1], "deleted": [0], "invalid": [2],
                                        "unknown": [4], "provisional": [1]}, schema=schema)
    second = pa.RecordBatch.from_pydict({"applied": [1], "stale": [0], "deleted": [2], "invalid": [0],
                                         "unknown": [0], "provisional": [2]}, schema=schema)
    counts = transform.summarise(pa.Table.from_batches([first, second]))
    assert counts == {"applied": 4, "stale": 1, "deleted": 2, "invalid": 2, "unknown": 4,
                      "provisional": 3}


def test_phase_seconds_of_several_partitions_are_summed() -> None:
    def task(seconds: dict[str, float]) -> pa.RecordBatch:
        return pa.RecordBatch.from_pydict({f"{phase}_s": [seconds.get(phase, 0.0)] for phase in PHASES})

    results = pa.Table.from_batches([task({"read": 0.5, "vector_writes": 1.0}), task({"read": 0.25})])
    summed = transform.task_seconds(results)
    assert summed == dict.fromkeys(PHASES, 0.0) | {"read": 0.75, "vector_writes": 1.0}


def test_what_lives_across_tasks_is_not_scanned_again() -> None:
    survivor = [{"a": i} for i in range(1_000)]
    gc.unfreeze()
    try:
        with transform.collector_paused():
            assert gc.get_freeze_count() >= len(survivor)
            assert not any(obj is survivor for obj in gc.get_objects())
    finally:
        gc.unfreeze()


def test_the_collector_pauses_for_the_task_and_resumes_after_it_even_on_failure() -> None:
    gc.enable()
    try:
        with pytest.raises(RuntimeError), transform.collector_paused():
            assert not gc.isenabled()
            raise RuntimeError("the task failed")
        assert gc.isenabled()
    finally:
        gc.enable()
        gc.unfreeze()


def test_a_collector_that_was_off_stays_off() -> None:
    gc.disable()
    try:
        with transform.collector_paused():
            pass
        assert not gc.isenabled()
    finally:
        gc.enable()
        gc.unfreeze()


def test_a_partition_is_written_in_groups_of_pids_covering_each_once_in_order() -> None:
    latest = {pid: Latest(pid) for pid in (7, 3, 9, 1, 4)}
    chunks = transform.write_chunks(latest, size=2)
    assert [list(chunk) for chunk in chunks] == [[7, 3], [9, 1], [4]]
    assert all(chunk[pid] is latest[pid] for chunk in chunks for pid in chunk)
    assert transform.write_chunks({}, size=2) == []
