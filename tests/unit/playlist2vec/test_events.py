from __future__ import annotations

import json

import pytest

from playlist2vec.errors import InvalidInput
from playlist2vec.events import MAX_TRACKS, PlaylistEvent, parse_event

TRACK = "spotify:track:" + "a" * 22


def body(**fields: object) -> bytes:
    base: dict[str, object] = {"pid": 7, "name": "chill", "tracks": [TRACK], "modified_at": 100}
    base.update(fields)
    return json.dumps(base).encode()


def test_valid_snapshot_round_trips() -> None:
    event = parse_event(
        b"7",
        body(
            collaborative=True,
            num_followers=3,
            track_meta=[{"track_uri": TRACK, "track_name": "x", "junk": 1}],
        ),
        0,
    )
    assert event == parse_event(event.key, event.to_json(), 0)
    assert event.tracks == (TRACK,) and event.collaborative is True
    assert event.track_meta == ({"track_uri": TRACK, "track_name": "x"},)


def test_deletes() -> None:
    explicit = parse_event(b"7", json.dumps({"pid": 7, "deleted": True, "modified_at": 5}).encode(), 0)
    assert explicit == PlaylistEvent(pid=7, modified_at=5, deleted=True)
    tombstone = parse_event(b"7", None, 1234)
    assert tombstone == PlaylistEvent(pid=7, modified_at=1234, deleted=True)


@pytest.mark.parametrize(
    ("key", "value", "reason"),
    [
        (b"7", b"{not json", "bad JSON"),
        (b"7", b"[1, 2]", "not a JSON object"),
        (b"7", body(pid="7"), "pid"),
        (b"-1", body(pid=-1), "negative"),
        (b"8", body(), "key does not match"),
        (b"7", body(modified_at=None), "modified_at"),
        (b"7", body(tracks="x"), "tracks"),
        (b"7", body(tracks=[TRACK] * (MAX_TRACKS + 1)), "more than 10000"),
        (b"7", body(tracks=[1]), "a track is not a string"),
        (b"7", body(tracks=["x" * 257]), "a track is not a string"),
        (b"7", body(name=3), "name"),
        (b"7", body(collaborative="false"), "collaborative"),
        (None, None, "tombstone"),
        (b"abc", None, "tombstone"),
        (b"9223372036854775808", None, "tombstone"),
        (b"9223372036854775808", body(pid=2**63), "pid missing or not an integer"),
        (b"7", body(modified_at=-(2**63) - 1), "modified_at"),
        (b"7", body(num_followers=2**64), "num_followers"),
    ],
)
def test_contract_violations_say_why(key: bytes | None, value: bytes | None, reason: str) -> None:
    with pytest.raises(InvalidInput, match=reason):
        parse_event(key, value, 0)


def test_booleans_are_not_integers() -> None:
    with pytest.raises(InvalidInput, match="pid"):
        parse_event(None, body(pid=True), 0)
