"""Songs as sentences of words and a song's mean word vector, on a known answer (SparkSession only)."""

from __future__ import annotations

from typing import Any

import pytest
from pyspark.testing import assertDataFrameEqual

from batch.lyrics.embed import as_sentences, song_means

pytestmark = pytest.mark.spark


def test_a_song_is_the_mean_of_its_known_words(spark: Any) -> None:
    songs = spark.createDataFrame([("t:1", ["love", "love", "rain", "zzz"]), ("t:2", ["zzz"])],
                                  "track_uri string, words array<string>")
    words = spark.createDataFrame([("love", [1.0, 0.0]), ("rain", [0.0, 3.0])],
                                  "track_uri string, vector array<float>")
    sentences = as_sentences(songs)
    assertDataFrameEqual(sentences, spark.createDataFrame(
        [("t:1", ["love", "love", "rain", "zzz"]), ("t:2", ["zzz"])], "pid string, tracks array<string>"))
    assertDataFrameEqual(song_means(sentences, words), spark.createDataFrame(
        [("t:1", [2 / 3, 1.0], 4, 3), ("t:2", None, 1, 0)],
        "track_uri string, vector array<float>, n_words int, n_known int"), atol=1e-6)
