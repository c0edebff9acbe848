"""The shared playlist-mean transform on a known answer, with Spark's own DataFrame assertions.

Needs only the session's SparkSession (no Kafka, no MongoDB).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from pyspark.testing import assertDataFrameEqual, assertSchemaEqual

from playlist2vec.spark_vectors import TrackTable, playlist_means

pytestmark = pytest.mark.spark

TRACKS = [("a", [1.0, 0.0]), ("b", [0.0, 2.0]), ("c", [3.0, 3.0])]
PLAYLISTS = [
    (1, "two known", ["a", "b"]),
    (2, "a repeat counts twice, unknown ignored", ["a", "a", "c", "x"]),
    (3, "nothing known", ["x", "y"]),
    (4, "empty", []),
    (5, "null tracks", None),
]
# the means worked out by hand: (pid, name, tracks, vector, n_tracks, n_known)
EXPECTED = [
    (1, "two known", ["a", "b"], [0.5, 1.0], 2, 2),
    (2, "a repeat counts twice, unknown ignored", ["a", "a", "c", "x"], [5 / 3, 1.0], 4, 3),
    (3, "nothing known", ["x", "y"], None, 2, 0),
    (4, "empty", [], None, 0, 0),
    (5, "null tracks", None, None, 0, 0),
]
OUT_SCHEMA = ("pid long, name string, tracks array<string>, vector array<float>, "
              "n_tracks int, n_known int")


@pytest.fixture(scope="module")
def frames(spark: Any) -> tuple[Any, Any]:
    tracks = spark.createDataFrame(TRACKS, "track_uri string, vector array<float>")
    playlists = spark.createDataFrame(PLAYLISTS, "pid long, name string, tracks array<string>")
    return playlists, tracks


def test_each_playlist_gets_the_mean_of_its_known_tracks(spark: Any, frames: tuple[Any, Any]) -> None:
    playlists, tracks = frames
    expected = spark.createDataFrame(EXPECTED, OUT_SCHEMA)
    assertDataFrameEqual(playlist_means(playlists, tracks), expected, atol=1e-6)


def test_the_schema_adds_the_mean_columns_and_keeps_the_rest(frames: tuple[Any, Any]) -> None:
    from pyspark.sql import types as T

    playlists, tracks = frames
    out = playlist_means(playlists, tracks)
    assertSchemaEqual(out.schema, T.StructType([
        *playlists.schema.fields,
        T.StructField("vector", T.ArrayType(T.FloatType(), containsNull=False)),
        T.StructField("n_tracks", T.IntegerType(), nullable=False),
        T.StructField("n_known", T.IntegerType(), nullable=False)]))


def test_a_prepared_track_table_gives_the_same_rows(spark: Any, frames: tuple[Any, Any]) -> None:
    playlists, tracks = frames
    table = TrackTable(spark, [u for u, _ in TRACKS], np.array([v for _, v in TRACKS]))
    try:
        assertDataFrameEqual(playlist_means(playlists, table), playlist_means(playlists, tracks))
        assertDataFrameEqual(playlist_means(playlists, table),
                             spark.createDataFrame(EXPECTED, OUT_SCHEMA), atol=1e-6)
    finally:
        table.destroy()


def test_a_collected_table_keeps_the_vectors(frames: tuple[Any, Any]) -> None:
    _, tracks = frames
    table = TrackTable.collect(tracks)
    try:
        uris, matrix = table.broadcast.value
        assert uris == ["a", "b", "c"]
        np.testing.assert_array_equal(matrix, np.float32([[1, 0], [0, 2], [3, 3]]))
    finally:
        table.destroy()
