"""The playlist-mean maths as a pure Spark transformation, shared by batch and streaming.

Same definition as `vectors.mean_vector`: the mean of the playlist's known track vectors, a
track listed twice counting twice; no vector when no track is known.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pyspark.sql import DataFrame


def playlist_means(playlists: DataFrame, track_vectors: DataFrame) -> DataFrame:
    """(pid, tracks) x (track_uri, vector array<float>) -> (pid, vector, n_tracks, n_known).

    `vector` is array<float> (null when no track is known); other playlist columns are dropped.
    Broadcast `track_vectors` yourself when it is small enough.
    """
    from pyspark.ml.functions import array_to_vector, vector_to_array
    from pyspark.ml.stat import Summarizer
    from pyspark.sql import functions as F

    sizes = playlists.select("pid", F.coalesce(F.size("tracks"), F.lit(0)).alias("n_tracks"))
    occurrences = playlists.select("pid", F.explode("tracks").alias("track_uri"))
    known = occurrences.join(track_vectors.select("track_uri", "vector"), "track_uri")
    means = known.groupBy("pid").agg(
        F.count(F.lit(1)).alias("n_known"),
        Summarizer.mean(array_to_vector(F.col("vector"))).alias("mean"),
    )
    return sizes.join(means, "pid", "left").select(
        "pid",
        # vector_to_array refuses nulls: playlists with no known track keep a null vector
        F.when(F.col("mean").isNotNull(), vector_to_array(F.col("mean"), "float32")).alias("vector"),
        "n_tracks",
        F.coalesce("n_known", F.lit(0)).cast("int").alias("n_known"),
    )
