"""A worker remembers the track metadata it wrote, per database, and writes only what is new
or changed; its memory is bounded."""

from __future__ import annotations

from streaming import written_meta
from streaming.written_meta import WrittenMeta

A = {"track_name": "A", "duration_ms": 1000}


def test_metadata_written_with_the_same_fields_is_not_written_again() -> None:
    memory = WrittenMeta()
    assert memory.unwritten({"t1": A, "t2": {"track_name": "B"}}) == {"t1": A, "t2": {"track_name": "B"}}
    memory.remember({"t1": A})
    assert memory.unwritten({"t1": dict(A), "t2": {"track_name": "B"}}) == {"t2": {"track_name": "B"}}


def test_changed_or_other_fields_of_a_written_track_are_written() -> None:
    memory = WrittenMeta()
    memory.remember({"t1": A})
    renamed = {"track_name": "A2", "duration_ms": 1000}
    fewer = {"track_name": "A"}
    assert memory.unwritten({"t1": renamed}) == {"t1": renamed}
    assert memory.unwritten({"t1": fewer}) == {"t1": fewer}


def test_metadata_changed_back_to_earlier_values_is_written_again() -> None:
    memory = WrittenMeta()
    renamed = {"track_name": "A2", "duration_ms": 1000}
    memory.remember({"t1": A})
    memory.remember({"t1": renamed})
    assert memory.unwritten({"t1": A}) == {"t1": A}


def test_entries_without_fields_are_never_written() -> None:
    assert WrittenMeta().unwritten({"t1": {}}) == {}


def test_a_full_memory_starts_over() -> None:
    memory = WrittenMeta(limit=2)
    memory.remember({"t1": A, "t2": A})
    assert memory.unwritten({"t1": A, "t2": A}) == {}
    memory.remember({"t3": A})
    assert memory.unwritten({"t1": A, "t2": A, "t3": A}) == {"t1": A, "t2": A}


def test_each_database_has_its_own_memory() -> None:
    first = written_meta.for_database("mongodb://h:1", "db_a")
    first.remember({"t1": A})
    assert written_meta.for_database("mongodb://h:1", "db_a") is first
    assert written_meta.for_database("mongodb://h:1", "db_b").unwritten({"t1": A}) == {"t1": A}
    assert written_meta.for_database("mongodb://h:2", "db_a").unwritten({"t1": A}) == {"t1": A}
