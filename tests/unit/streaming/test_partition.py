"""One partition's logic without a server: newest per pid, tombstone ordering, writes, outcomes."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import numpy as np
import pytest
from pymongo import ReplaceOne

from playlist2vec import documents, events, vectors
from streaming import partition
from streaming.partition import Latest, Model, Record
from tests.support.operations import spec

NOW = datetime(2026, 12, 1, tzinfo=UTC)
TS_US = 1_700_000_000_000_000  # record timestamp: 1_700_000_000 s


def rec(offset: int, key: bytes | None, value: bytes | None, ts_us: int = TS_US) -> Record:
    return Record(key=key, value=value, partition=0, offset=offset, timestamp_us=ts_us)


def snap(offset: int, pid: int, modified_at: int, tracks: list[str] | None = None, **extra: Any) -> Record:
    body = {"pid": pid, "name": f"n{offset}", "tracks": tracks or [], "modified_at": modified_at, **extra}
    return rec(offset, str(pid).encode(), json.dumps(body).encode())


def tomb(offset: int, pid: int, ts_s: int = 1_700_000_000) -> Record:
    return rec(offset, str(pid).encode(), None, ts_s * 1_000_000)


def test_the_newest_snapshot_per_pid_wins_whatever_the_arrival_order() -> None:
    latest, dead = partition.newest_per_pid([snap(3, 1, 250), snap(2, 1, 300), snap(1, 1, 100),
                                             snap(4, 2, 5)])
    assert dead == []
    assert latest[1].event is not None and latest[1].event.modified_at == 300
    assert latest[1].n_events == 3 and latest[1].tombstone is None
    assert latest[2].n_events == 1


def test_equal_modified_at_the_later_offset_wins() -> None:
    latest, _ = partition.newest_per_pid([snap(8, 1, 5), snap(7, 1, 5)])
    assert latest[1].record is not None and latest[1].record.offset == 8


def test_records_are_taken_in_offset_order() -> None:
    latest, _ = partition.newest_per_pid([tomb(9, 1), snap(2, 1, 10)])
    assert latest[1].event is None and latest[1].tombstone is not None


def test_a_tombstone_beats_newer_clocks_before_it_and_is_ordered_after_them() -> None:
    future = 1_790_000_000
    latest, _ = partition.newest_per_pid([snap(1, 1, future), tomb(2, 1)])
    state = latest[1]
    assert state.event is None and state.tombstone_clock == future
    # a snapshot after it must be newer than the clock it took
    latest, _ = partition.newest_per_pid([snap(1, 1, future), tomb(2, 1), snap(3, 1, future)])
    assert latest[1].event is None
    latest, _ = partition.newest_per_pid([snap(1, 1, future), tomb(2, 1), snap(3, 1, future + 1)])
    assert latest[1].event is not None and latest[1].tombstone is not None


def test_a_deletion_event_wins_a_tie_and_a_snapshot_does_not_beat_it() -> None:
    deletion = rec(2, b"1", json.dumps({"pid": 1, "deleted": True, "modified_at": 10}).encode())
    latest, _ = partition.newest_per_pid([snap(1, 1, 10), deletion, snap(3, 1, 10)])
    assert latest[1].event is not None and latest[1].event.deleted


@pytest.mark.parametrize(("key", "value", "reason"), [
    (b"1", b"{bad", events.BAD_JSON),
    (b"x", None, events.BAD_TOMBSTONE),
    (b"1", b'{"pid": 1, "name": "\\ud800", "tracks": [], "modified_at": 1}', None),
    (b"1", b'{"pid": 1, "name": "x", "tracks": ["\\udfff"], "modified_at": 1}', None),
    (b"1", b'{"pid": 1, "name": "x", "tracks": [], "modified_at": 1, '
           b'"track_meta": [{"track_uri": "a", "track_name": "\\ud800"}]}', None),
    (b"1", b'{"pid": 1, "name": "x", "tracks": [], "modified_at": 1, '
           b'"track_meta": [{"track_uri": "a", "duration_ms": 99999999999999999999999}]}', None),
    (b"1", b"[" * 100_000 + b"]" * 100_000, None),
    (b"1", b'{"pid": ' + b"9" * 5000 + b"}", None),
    (b"9" * 5000, None, None),
    (b"1", b"\xff\xfe{}", None),
])
def test_anything_an_event_can_do_is_a_dead_letter_with_a_reason(
        key: bytes, value: bytes | None, reason: str | None) -> None:
    latest, dead = partition.newest_per_pid([rec(1, key, value), snap(2, 2, 1)])
    assert list(latest) == [2]
    [rejected] = dead
    assert rejected.reason and rejected.record.offset == 1
    if reason is not None:
        assert rejected.reason.startswith(reason)


def test_parse_catches_whatever_parse_event_raises(monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(*_: Any, **__: Any) -> Any:
        raise RuntimeError("boom")

    monkeypatch.setattr(partition, "parse_event", broken)
    assert partition.parse(snap(1, 1, 1)) == f"{partition.UNPARSABLE}: RuntimeError: boom"


@pytest.mark.parametrize("event", [
    events.PlaylistEvent(pid=1, modified_at=1, name="\ud800"),
    events.PlaylistEvent(pid=1, modified_at=1, tracks=("a", "b\udfff")),
    events.PlaylistEvent(pid=1, modified_at=1, tracks=("a",),
                         track_meta=({"track_uri": "a", "album_name": "x\ud800", "duration_ms": 1},)),
])
def test_text_mongodb_cannot_store_is_a_dead_letter_even_if_parse_event_missed_it(
        monkeypatch: pytest.MonkeyPatch, event: events.PlaylistEvent) -> None:
    monkeypatch.setattr(partition, "parse_event", lambda *_, **__: event)
    assert str(partition.parse(snap(1, 1, 1))).startswith(f"{partition.UNWRITABLE}: UnicodeEncodeError")


MODELS = [Model("A", vectors.TrackIndex.of(["a", "b"], np.array([[1.0, 0.0], [0.0, 1.0]], np.float32))),
          Model("B", vectors.TrackIndex.of(["a"], np.array([[2.0, 2.0]], np.float32)))]


def test_tombstones_write_every_model_with_their_clock_and_position() -> None:
    latest, _ = partition.newest_per_pid([snap(1, 1, 1_790_000_000), tomb(2, 1)])
    states = partition.tombstones(latest.values())
    log = {"topic": "t", "partition": 0, "offset": 2}
    assert partition.tombstone_writes(states, "t", NOW) == [
        documents.playlist_delete_write(1, 1_790_000_000, log, NOW)]
    vecs = partition.tombstone_vector_writes(states, MODELS, "t", NOW)
    assert [spec(op).filter["_id"] for op in vecs] == [{"m": "A", "p": 1}, {"m": "B", "p": 1}]
    assert all(spec(op).filter["$or"] == documents.before(log)["$or"] for op in vecs)
    assert all(spec(op).document["$max"] == {"modified_at": 1_790_000_000} and spec(op).upsert
               for op in vecs)
    assert spec(vecs[0]).document["$set"]["event_time"] == datetime.fromtimestamp(1_700_000_000, UTC)


def test_snapshots_are_conditional_and_vectors_are_written_per_model() -> None:
    meta = [{"track_uri": "a", "track_name": "A"}]
    latest, _ = partition.newest_per_pid([snap(1, 1, 10, ["a", "b", "a", "zz"], track_meta=meta)])
    states = partition.snapshots(latest.values())
    [write] = partition.snapshot_writes(states, "t", NOW)
    assert isinstance(write, ReplaceOne) and spec(write).filter == documents.newer_wins(1, 10)
    assert spec(write).document["log"] == {"topic": "t", "partition": 0, "offset": 1}
    applied = partition.applied_writes(states, MODELS, "t", NOW, vectors.GENERIC_SUBTYPE)
    docs = {spec(op).document["_id"]["m"]: spec(op).document for op in applied.playlist_vectors}
    np.testing.assert_allclose(vectors.decode(docs["A"]["vector"]), [2 / 3, 1 / 3], rtol=1e-6)
    np.testing.assert_allclose(vectors.decode(docs["B"]["vector"]), [2.0, 2.0])
    assert (docs["A"]["n_known"], docs["B"]["n_known"], docs["A"]["n_tracks"]) == (3, 2, 4)
    assert docs["A"]["event_time"] == datetime.fromtimestamp(1_700_000_000, UTC)
    assert applied.unknown_tracks == 1  # counted against the first (active) model only
    assert applied.track_meta == {"a": {"track_uri": "a", "track_name": "A"}}


def test_provisional_vectors_make_the_means_of_playlists_with_no_trained_track() -> None:
    latest, _ = partition.newest_per_pid([snap(1, 1, 10, ["a", "new", "zz"]),
                                          snap(2, 2, 10, ["new", "zz", "new"])])
    states = partition.snapshots(latest.values())
    provisional = {"A": {"new": np.array([5.0, 5.0], np.float32)}}
    applied = partition.applied_writes(states, MODELS, "t", NOW, vectors.GENERIC_SUBTYPE, provisional)
    docs = {(spec(op).document["_id"]["m"], spec(op).document["_id"]["p"]): spec(op).document
            for op in applied.playlist_vectors}
    np.testing.assert_array_equal(vectors.decode(docs["A", 1]["vector"]), [1.0, 0.0])  # "a" alone
    np.testing.assert_array_equal(vectors.decode(docs["A", 2]["vector"]), [5.0, 5.0])
    assert (docs["A", 1]["n_known"], docs["A", 2]["n_known"]) == (1, 2)
    assert "vector" not in docs["B", 2]  # model B has no provisional vector for "new"
    assert applied.unknown_tracks == 2  # "zz" twice: "new" has a vector, averaged or not


def test_outcomes_count_every_valid_event_once() -> None:
    records = [snap(1, 1, 5), snap(2, 1, 6),            # pid 1: one superseded, then applied
               snap(3, 2, 5), tomb(4, 2), snap(5, 2, 1_790_000_000),  # pid 2: stale, deleted, stale in db
               rec(6, b"3", json.dumps({"pid": 3, "deleted": True, "modified_at": 1}).encode()),
               rec(7, b"x", b"{")]
    latest, dead = partition.newest_per_pid(records)
    assert partition.outcomes(latest.values(), stale_tombstones=[], stale_pids=[2], n_invalid=len(dead)) == {
        "applied": 1, "deleted": 2, "stale": 3, "invalid": 1}
    # a replayed tombstone behind a later stored record is stale too
    assert partition.outcomes(latest.values(), [2], [2], 1) == {
        "applied": 1, "deleted": 1, "stale": 4, "invalid": 1}


def test_latest_without_events_counts_nothing() -> None:
    assert partition.outcomes([Latest(7)], [], [], 0) == dict.fromkeys(("applied", "deleted", "stale",
                                                                        "invalid"), 0)
