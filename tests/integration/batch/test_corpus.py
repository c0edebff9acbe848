"""The corpus transforms (records of slice files, playlists, catalog, counts, hold-out split) on
small known inputs, with Spark's own DataFrame assertions. Needs only the SparkSession."""

from __future__ import annotations

import json
from typing import Any

import pytest
from pyspark.testing import assertDataFrameEqual

from batch import corpus

pytestmark = pytest.mark.spark


def track(pos: int | None, uri: str | None, **meta: Any) -> dict[str, Any]:
    return {"pos": pos, "track_uri": uri, "track_name": f"name of {uri}", "artist_name": "someone",
            "artist_uri": "spotify:artist:1", "album_name": "album", "album_uri": "spotify:album:1",
            "duration_ms": 1000, **meta}


GOOD = {"pid": 1, "name": "good", "modified_at": 10,
        "tracks": [track(1, "t:b"), track(0, "t:a"), track(2, "t:a")]}
NAMELESS = {"pid": 2, "modified_at": 11, "tracks": [track(0, "t:c")]}


def files(spark: Any, *slices: Any) -> Any:
    """Slice files as Spark's binaryFile source gives them to the reader: (path, content)."""
    rows = [(f"slice-{i}", json.dumps(document).encode()) for i, document in enumerate(slices)]
    return spark.createDataFrame(rows, "path string, content binary")


def test_records_keep_good_records_and_name_bad_ones_and_bad_files(spark: Any) -> None:
    bad = {"pid": 3, "tracks": []}
    problems = corpus.records(files(spark, {"playlists": [GOOD, bad, NAMELESS]}, {"info": 1}))
    assertDataFrameEqual(problems.select("file", "index", "pid", "problem"), spark.createDataFrame([
        ("slice-0", 0, 1, None),
        ("slice-0", 1, None, "Object missing required field `modified_at`"),
        ("slice-0", 2, 2, None),
        ("slice-1", None, None, "not an MPD slice: Object missing required field `playlists`"),
    ], "file string, index int, pid long, problem string"))


def good_playlists(spark: Any, *playlists: Any) -> Any:
    records = corpus.records(files(spark, {"playlists": list(playlists or (GOOD, NAMELESS))}))
    return corpus.playlists(records.where(records.problem.isNull()))


def test_playlists_order_tracks_by_pos_and_default_the_name(spark: Any) -> None:
    assertDataFrameEqual(good_playlists(spark).select("pid", "name", "tracks", "modified_at"),
                         spark.createDataFrame([(1, "good", ["t:a", "t:b", "t:a"], 10),
                                                (2, "", ["t:c"], 11)],
                                               "pid long, name string, tracks array<string>, "
                                               "modified_at long"))


def test_the_catalog_has_one_row_per_track_and_counts_count_repeats(spark: Any) -> None:
    playlists = good_playlists(spark)
    catalog = corpus.catalog(playlists)
    assertDataFrameEqual(catalog.select("track_uri", "count", "track_name", "duration_ms"),
                         spark.createDataFrame([("t:a", 2, "name of t:a", 1000),
                                                ("t:b", 1, "name of t:b", 1000),
                                                ("t:c", 1, "name of t:c", 1000)],
                                               "track_uri string, count long, track_name string, "
                                               "duration_ms long"))
    assertDataFrameEqual(corpus.track_counts(playlists),
                         spark.createDataFrame([("t:a", 2), ("t:b", 1), ("t:c", 1)],
                                               "track_uri string, count long"))


def test_a_track_described_two_ways_keeps_one_whole_description(spark: Any) -> None:
    renamed = {**GOOD, "pid": 3, "tracks": [track(0, "t:b", track_name="B", artist_name="X")]}
    [row] = corpus.catalog(good_playlists(spark, GOOD, renamed)).where("track_uri = 't:b'").collect()
    assert row["count"] == 2
    assert (row["track_name"], row["artist_name"]) in {("name of t:b", "someone"), ("B", "X")}


def test_the_holdout_split_is_a_stable_partition_of_whole_playlists(spark: Any) -> None:
    playlists = spark.range(2000).withColumnRenamed("id", "pid")
    training, held = corpus.split_holdout(playlists, 0.2, seed=7)
    assert training.join(held, "pid").count() == 0, "no playlist on both sides"
    assertDataFrameEqual(training.union(held), playlists)
    assert 300 < held.count() < 500  # 20 % of 2,000, by hash
    _, again_held = corpus.split_holdout(playlists, 0.2, seed=7)
    assertDataFrameEqual(again_held, held)
    _, other = corpus.split_holdout(playlists, 0.2, seed=8)
    assert {r.pid for r in other.collect()} != {r.pid for r in held.collect()}
    everything, nothing = corpus.split_holdout(playlists, 0.0, seed=7)
    assert nothing.count() == 0 and everything.count() == 2000
