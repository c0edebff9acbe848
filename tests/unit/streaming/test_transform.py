"""Per-batch transforms: newest event per pid and its vector, dead letters alongside."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import numpy as np
import pytest

from streaming import transform

pytestmark = pytest.mark.spark

TS = datetime(2024, 1, 1, tzinfo=UTC)
EVENTS = ("key binary, value binary, partition int, offset long, timestamp timestamp, reason string, "
          "pid long, modified_at long, deleted boolean, name string, tracks array<string>, "
          "collaborative boolean, num_followers long, track_meta string")


def ev(pid: int | None, modified_at: int | None, offset: int, tracks: list[str] | None = None,
       deleted: bool = False, reason: str | None = None) -> tuple[Any, ...]:
    return (b"k", b"v", 0, offset, TS, reason, pid, modified_at, deleted,
            None if deleted else f"n{offset}", tracks, None, None, None)


def test_newest_by_modified_at_then_offset_with_vectors_and_dead_letters(spark: Any) -> None:
    events = spark.createDataFrame([
        ev(1, 10, 0, ["a", "b"]), ev(1, 20, 1, ["a"]), ev(1, 15, 2, ["b"]),   # newest: offset 1
        ev(2, 5, 3, ["a"]), ev(2, 5, 4, ["b", "b", "x"]),                      # tie: the later offset
        ev(3, 7, 5, ["a"]), ev(3, 8, 6, deleted=True),                         # deleted last
        ev(4, 1, 7, ["x"]),                                                    # nothing known
        ev(None, None, 8, reason="bad JSON"),
    ], EVENTS)
    vectors = spark.createDataFrame([("a", [1.0, 0.0]), ("b", [0.0, 3.0])],
                                    "track_uri string, vector array<float>")
    newest = transform.newest_per_pid(events)
    rows = [r.asDict() for r in transform.batch_output(events, newest, vectors).collect()]
    dead = [r for r in rows if r["reason"] is not None]
    live = {r["pid"]: r for r in rows if r["reason"] is None}
    assert [(d["offset"], d["reason"]) for d in dead] == [(8, "bad JSON")]
    assert {pid: (r["name"], r["n_events"], r["n_tracks"], r["n_known"]) for pid, r in live.items()} == {
        1: ("n1", 3, 1, 1), 2: ("n4", 2, 3, 2), 3: (None, 2, 0, 0), 4: ("n7", 1, 1, 0)}
    np.testing.assert_allclose(live[1]["vector"], [1.0, 0.0])
    np.testing.assert_allclose(live[2]["vector"], [0.0, 3.0])
    assert live[3]["deleted"] and live[3]["vector"] is None and live[4]["vector"] is None
