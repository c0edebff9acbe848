"""Parsing slice files in Python: typed records, problems named per record or per file."""

from __future__ import annotations

import json
from typing import Any

import pyarrow as pa
import pytest

from batch import slices
from batch.generate import iter_playlists
from playlist2vec.events import MAX_TRACK_CHARS


def track(pos: Any, uri: Any, **meta: Any) -> dict[str, Any]:
    return {"pos": pos, "track_uri": uri, "track_name": f"name of {uri}", "artist_name": "someone",
            "artist_uri": "spotify:artist:1", "album_name": "album", "album_uri": "spotify:album:1",
            "duration_ms": 1000, **meta}


GOOD = {"pid": 1, "name": "good", "modified_at": 10, "num_followers": "many",
        "tracks": [track(1, "t:b"), track(0, "t:a"), track(2, "t:a")]}
NAMELESS = {"pid": 2, "modified_at": 11, "tracks": [track(0, "t:c")]}


def parse(document: Any) -> list[dict[str, Any]]:
    text = document if isinstance(document, str) else json.dumps(document)
    batch = slices.parse_slice("f.json", text.encode())
    assert batch.schema == slices.RECORDS_SCHEMA
    return batch.to_pylist()


def problems(document: Any) -> list[tuple[int | None, str | None]]:
    return [(r["index"], r["problem"]) for r in parse(document)]


def test_a_good_slice_gives_typed_records_with_tracks_ordered_by_pos() -> None:
    first, second = parse({"playlists": [GOOD, NAMELESS]})
    assert (first["file"], first["index"], first["problem"]) == ("f.json", 0, None)
    assert (first["pid"], first["name"], first["modified_at"]) == (1, "good", 10)
    assert [t["track_uri"] for t in first["track_meta"]] == ["t:a", "t:b", "t:a"]
    assert [t["pos"] for t in first["track_meta"]] == [0, 1, 2]
    assert first["track_meta"][1] == track(1, "t:b")  # every field kept, unknown ones skipped
    assert (second["index"], second["name"], second["track_meta"][0]["track_uri"]) == (1, None, "t:c")


def test_each_malformed_record_is_named_and_its_neighbours_kept() -> None:
    bad = [{"pid": -1, "modified_at": 1, "tracks": []}, {"pid": 3, "tracks": []},
           {"pid": 4, "modified_at": 1}, {"pid": 5, "modified_at": 1, "tracks": [track(None, "t:x")]},
           {"pid": 6, "modified_at": 1, "tracks": [track(0, "")]},
           {"pid": 7, "modified_at": 1, "tracks": [track(0, "x" * (MAX_TRACK_CHARS + 1))]},
           {"pid": "8", "modified_at": 1, "tracks": []}, [1, 2],
           {"pid": 9, "modified_at": 1, "tracks": [track(0, "t:y", duration_ms="long")]}]
    found = problems({"playlists": [GOOD, *bad, NAMELESS]})
    assert found[0] == (0, None) and found[-1] == (len(bad) + 1, None)
    named = [problem for _, problem in found[1:-1]]
    assert named == [
        "Expected `int` >= 0 - at `$.pid`",
        "Object missing required field `modified_at`",
        "Object missing required field `tracks`",
        "Expected `int`, got `null` - at `$.tracks[0].pos`",
        "Expected `str` of length >= 1 - at `$.tracks[0].track_uri`",
        f"Expected `str` of length <= {MAX_TRACK_CHARS} - at `$.tracks[0].track_uri`",
        "Expected `int`, got `str` - at `$.pid`",
        "Expected `object`, got `array`",
        "Expected `int | null`, got `str` - at `$.tracks[0].duration_ms`",
    ]
    good = [r for r in parse({"playlists": [GOOD, *bad, NAMELESS]}) if r["problem"] is None]
    assert [r["pid"] for r in good] == [1, 2]


def test_a_record_reads_the_same_in_a_spoilt_file() -> None:
    clean = parse({"playlists": [GOOD, NAMELESS]})
    spoilt = parse({"playlists": [GOOD, {"pid": "x"}, NAMELESS]})
    assert spoilt[0] == clean[0]
    assert {**spoilt[2], "index": 1} == clean[1]


@pytest.mark.parametrize(("document", "problem"), [
    ('{"playlists": [{"pid": 1,', "not valid JSON: Input data was truncated"),
    ("", "not valid JSON: Input data was truncated"),
    ('{"playlists": [{"pid": "x"}, {', "not valid JSON: Input data was truncated"),
    ({"info": {}}, "not an MPD slice: Object missing required field `playlists`"),
    ([1], "not an MPD slice: Expected `object`, got `array`"),
    ({"playlists": 3}, "not an MPD slice: Expected `array`, got `int` - at `$.playlists`"),
    ({"playlists": []}, "no playlists (not an MPD slice)"),
])
def test_a_file_that_is_not_a_slice_is_one_problem_row(document: Any, problem: str) -> None:
    [record] = parse(document)
    assert (record["file"], record["index"], record["problem"]) == ("f.json", None, problem)


def test_parse_files_yields_one_batch_per_file_in_order() -> None:
    playlists = list(iter_playlists(30, seed=1))
    contents = [json.dumps({"playlists": playlists[:20]}).encode(), b"{",
                json.dumps({"playlists": playlists[20:]}).encode()]
    rows = pa.RecordBatch.from_pydict({"path": ["a", "b", "c"], "content": contents},
                                      pa.schema([("path", pa.string()), ("content", pa.binary())]))
    out = list(slices.parse_files(iter([rows])))
    assert [(b.num_rows, b.column("file")[0].as_py()) for b in out] == [(20, "a"), (1, "b"), (10, "c")]
    pids = [pid for b in (out[0], out[2]) for pid in b.column("pid").to_pylist()]
    assert pids == [p["pid"] for p in playlists]
    tokens = sum(len(t) for b in (out[0], out[2]) for t in b.column("track_meta").to_pylist())
    assert tokens == sum(len(p["tracks"]) for p in playlists)
