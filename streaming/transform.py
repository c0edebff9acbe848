"""Per-micro-batch Spark transforms: newest event per pid, then its playlist vector."""

from __future__ import annotations

from typing import TYPE_CHECKING

from playlist2vec.spark_vectors import TrackTable, playlist_means
from streaming.validation import EVENT_COLUMNS

if TYPE_CHECKING:
    from pyspark.sql import DataFrame

DEAD_LETTER_COLUMNS = ("key", "value", "reason", "partition", "offset")


def newest_per_pid(events: DataFrame) -> DataFrame:
    """Valid events -> one row per pid: the newest by (modified_at, offset), plus `n_events`.

    The partition breaks the (rare) tie of equal offsets for one pid published without a key
    into several partitions, so a replay always picks the same event.
    """
    from pyspark.sql import functions as F

    fields = (*EVENT_COLUMNS, "timestamp")
    newest = F.max_by(F.struct(*fields), F.struct("modified_at", "offset", "partition"))
    return (events.where(F.col("reason").isNull())
            .groupBy("pid")
            .agg(newest.alias("e"), F.count(F.lit(1)).alias("n_events"))
            .select(*(F.col(f"e.{f}").alias(f) for f in fields), "n_events"))


def with_vectors(newest: DataFrame, track_vectors: DataFrame | TrackTable) -> DataFrame:
    """Adds `vector`, `n_tracks`, `n_known` (null/0 for deletions) with the shared mean maths.

    `track_vectors` is the active model's TrackTable, broadcast once per model (a DataFrame is
    collected and broadcast per call). No shuffle: the means are computed row by row.
    """
    from pyspark.sql import functions as F

    # a deletion has no vector, whatever tracks its event carried
    live = newest.withColumn("tracks", F.when(~F.col("deleted"), F.col("tracks")))
    return playlist_means(live, track_vectors)


def batch_output(events: DataFrame, newest: DataFrame, track_vectors: DataFrame | TrackTable) -> DataFrame:
    """Everything the sink needs from one micro-batch, as one DataFrame (one Spark job).

    `newest` is `newest_per_pid(events)`. Rows with a `reason` are dead letters (DEAD_LETTER_COLUMNS); the
    others are the newest event per pid with its vector.
    """
    from pyspark.sql import functions as F

    dead = events.where(F.col("reason").isNotNull()).select(*DEAD_LETTER_COLUMNS)
    return with_vectors(newest, track_vectors).unionByName(dead, allowMissingColumns=True)
