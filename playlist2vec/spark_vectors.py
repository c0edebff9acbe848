"""The playlist-mean maths as a pure Spark transformation, shared by batch and streaming.

Each playlist's vector is `vectors.mean_vector` itself, run vectorised per Arrow batch on the
executors against a broadcast track table: one numpy definition, no explode/join/aggregate.
(The earlier explode + broadcast join + Summarizer plan cost two shuffles and a re-broadcast of
the vocabulary per query: about 3 s per streaming micro-batch even for 100 events.)
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from playlist2vec import vectors

if TYPE_CHECKING:
    import pyarrow as pa
    from pyspark import Broadcast
    from pyspark.sql import DataFrame, SparkSession

MEAN_COLUMNS = ("vector", "n_tracks", "n_known")


class TrackTable:
    """One model's track vectors broadcast to the executors; build it once, reuse it per query."""

    def __init__(self, spark: SparkSession, uris: Sequence[str], matrix: np.ndarray) -> None:
        self.broadcast: Broadcast[tuple[list[str], np.ndarray]] = spark.sparkContext.broadcast(
            (list(uris), np.ascontiguousarray(matrix, dtype=np.float32)))

    @classmethod
    def collect(cls, track_vectors: DataFrame) -> TrackTable:
        """From a (track_uri, vector array<float>) DataFrame, collected to the driver once."""
        table = track_vectors.select("track_uri", "vector").toArrow()
        uris = table.column("track_uri").to_pylist()
        dim = len(table.column("vector")[0]) if table.num_rows else 0
        flat = table.column("vector").combine_chunks().flatten().to_numpy(zero_copy_only=False)
        return cls(track_vectors.sparkSession, uris, flat.reshape(len(uris), dim))

    def lookup(self) -> Mapping[str, np.ndarray]:
        """uri -> vector, on an executor (or the driver): built once per process."""
        return track_lookup(self.broadcast)

    def destroy(self) -> None:
        self.broadcast.destroy()


def track_lookup(broadcast: Broadcast[tuple[list[str], np.ndarray]]) -> Mapping[str, np.ndarray]:
    """The uri -> vector dict, built once per executor process: a worker keeps one Broadcast
    object per broadcast id across tasks, so the dict rides on it."""
    lookup: Mapping[str, np.ndarray] | None = getattr(broadcast, "_p2v_lookup", None)
    if lookup is None:
        uris, matrix = broadcast.value
        lookup = dict(zip(uris, matrix, strict=True))
        broadcast._p2v_lookup = lookup  # type: ignore[attr-defined]
    return lookup


def _means(batches: Iterator[pa.RecordBatch], broadcast: Any) -> Iterator[pa.RecordBatch]:
    import pyarrow as pa

    lookup = track_lookup(broadcast)
    for batch in batches:
        means, sizes, known = [], [], []
        for tracks in batch.column("tracks").to_pylist():
            mean, n_known = vectors.mean_vector(tracks or (), lookup)
            means.append(mean)
            sizes.append(len(tracks or ()))
            known.append(n_known)
        yield pa.RecordBatch.from_arrays(
            [*batch.columns, pa.array(means, pa.list_(pa.float32())), pa.array(sizes, pa.int32()),
             pa.array(known, pa.int32())],
            names=[*batch.schema.names, *MEAN_COLUMNS])


def playlist_means(playlists: DataFrame, track_vectors: DataFrame | TrackTable) -> DataFrame:
    """(pid, tracks, ...) x track vectors -> the same rows plus (vector, n_tracks, n_known).

    `vector` is array<float>, the mean of the known tracks' vectors (a track listed twice counts
    twice), null when no track is known; null `tracks` count as empty. `track_vectors` is a
    prepared TrackTable (streaming reuses one per model) or a (track_uri, vector) DataFrame,
    collected and broadcast here (it must fit in driver memory, as a broadcast join's would).
    """
    from functools import partial

    from pyspark.sql.types import ArrayType, FloatType, IntegerType, StructField, StructType

    table = track_vectors if isinstance(track_vectors, TrackTable) else TrackTable.collect(track_vectors)
    schema = StructType([*playlists.schema.fields,
                         StructField("vector", ArrayType(FloatType(), containsNull=False)),
                         StructField("n_tracks", IntegerType(), nullable=False),
                         StructField("n_known", IntegerType(), nullable=False)])
    return playlists.mapInArrow(partial(_means, broadcast=table.broadcast), schema)
