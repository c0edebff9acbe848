"""The Spark validation gives `events.parse_event`'s answer (the contract) on every rule and field."""

from __future__ import annotations

import json
import random
from datetime import UTC, datetime
from typing import Any

import pytest

from playlist2vec.errors import InvalidInput
from playlist2vec.events import MAX_TRACK_CHARS, MAX_TRACKS, parse_event
from streaming import validation

pytestmark = pytest.mark.spark

TRACK = "spotify:track:" + "a" * 22
TS = datetime(2024, 1, 2, 3, 4, 5, 600_000, tzinfo=UTC)


def event(**fields: Any) -> bytes:
    body = {"pid": 7, "name": "n", "tracks": [TRACK], "modified_at": 100} | fields
    return json.dumps({k: v for k, v in body.items() if v is not ...}).encode()


CASES: list[tuple[bytes | None, bytes | None]] = [
    (b"7", event()),
    (None, event()),
    (b"7", event(collaborative=True, num_followers=3,
                 track_meta=[{"track_uri": TRACK, "track_name": "x", "duration_ms": 5, "extra": 1}])),
    (b"7", None),
    (None, None),
    (b"x7", None),
    (b"7", b"{not json"),
    (b"7", b"\xff\xfe"),
    (b"7", b"[1, 2]"),
    (b"7", b'"text"'),
    (b"7", event(pid="7")),
    (b"7", event(pid=7.0)),
    (b"7", event(pid=...)),
    (b"7", event(pid=True)),
    (b"9223372036854775808", event(pid=2**63)),
    (b"9223372036854775808", None),
    (b"7", event(modified_at=-(2**63) - 1)),
    (b"7", event(num_followers=2**64)),
    (b"-3", event(pid=-3)),
    (b"8", event()),
    (b"7", event(modified_at="100")),
    (b"7", event(modified_at=None)),
    (b"7", json.dumps({"pid": 7, "deleted": True, "modified_at": 5}).encode()),
    (b"7", json.dumps({"pid": 7, "deleted": "yes", "modified_at": 5}).encode()),
    (b"7", event(deleted=False)),
    (b"7", event(name=3)),
    (b"7", event(name=...)),
    (b"7", event(tracks="abc")),
    (b"7", event(tracks=None)),
    (b"7", event(tracks=[TRACK] * MAX_TRACKS)),
    (b"7", event(tracks=[TRACK] * (MAX_TRACKS + 1))),
    (b"7", event(tracks=[TRACK, 5])),
    (b"7", event(tracks=[TRACK, None])),
    (b"7", event(tracks=["x" * MAX_TRACK_CHARS])),
    (b"7", event(tracks=["x" * (MAX_TRACK_CHARS + 1)])),
    (b"7", event(tracks=["é" * MAX_TRACK_CHARS])),
    (b"7", event(tracks=[])),
    (b"7", event(collaborative="true")),
    (b"7", event(collaborative=None)),
    (b"7", event(num_followers=1.5)),
    (b"7", event(num_followers=None)),
    (b"7", event(track_meta={"a": 1})),
    (b"7", event(track_meta={})),
    (b"7", event(track_meta=[])),
    (b"7", event(track_meta=0)),
    (b"7", event(track_meta="")),
    (b"7", event(track_meta="x")),
    (b"7", event(track_meta=[1])),
    (b"7", event(track_meta=None)),
]


def expected(key: bytes | None, value: bytes | None) -> tuple[str | None, dict[str, Any] | None]:
    try:
        e = parse_event(key, value, int(TS.timestamp()))
    except InvalidInput as exc:
        reason = str(exc)
        return reason, None
    return None, {"pid": e.pid, "modified_at": e.modified_at, "deleted": e.deleted,
                  "name": None if e.deleted else e.name,
                  "tracks": None if e.deleted else list(e.tracks)}


def run(spark: Any, cases: list[tuple[bytes | None, bytes | None]]) -> list[dict[str, Any]]:
    raw = spark.createDataFrame(
        [(k, v, 0, i, TS) for i, (k, v) in enumerate(cases)],
        "key binary, value binary, partition int, offset long, timestamp timestamp")
    return sorted((r.asDict() for r in validation.validate(raw).collect()), key=lambda r: r["offset"])


def test_validate_agrees_with_parse_event(spark: Any) -> None:
    for row, (key, value) in zip(run(spark, CASES), CASES, strict=True):
        reason, fields = expected(key, value)
        assert row["reason"] == reason, (key, value[:80] if value else value)
        if fields is not None:
            got = {k: row[k] for k in fields}
            if fields["deleted"]:
                got["name"] = got["tracks"] = None
            assert got == fields, (key, value[:80] if value else value)


def mutate(rng: random.Random) -> tuple[bytes | None, bytes | None]:
    """A random, often broken, event: the agreement must hold beyond the hand-picked cases."""
    pick = rng.choice
    body: dict[str, Any] = {
        "pid": pick([1, 2, -1, "1", 1.5, None, True, 2**63]),
        "name": pick(["a", 1, None, ["a"]]),
        "tracks": pick([[TRACK], [], [TRACK, 1], "t", None, {"a": 1}]),
        "modified_at": pick([5, "5", None, 5.5]),
    }
    for optional, values in (("deleted", [True, False, 1, "true"]),
                             ("collaborative", [True, "false", None]),
                             ("num_followers", [1, "1", None]),
                             ("track_meta", [[{"track_uri": TRACK}], [1], {}, "", 0, None])):
        if rng.random() < 0.3:
            body[optional] = pick(values)
    body = {k: v for k, v in body.items() if rng.random() < 0.9}
    key = pick([None, b"1", b"2"])
    return key, json.dumps(body).encode()


def test_validate_agrees_on_random_events(spark: Any) -> None:
    rng = random.Random(4)
    cases = [mutate(rng) for _ in range(400)]
    for row, (key, value) in zip(run(spark, cases), cases, strict=True):
        assert row["reason"] == expected(key, value)[0], (key, value)
