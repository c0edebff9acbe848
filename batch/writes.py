"""Batch writes to MongoDB: pure `build_*_ops` (rows -> pymongo operations) and the executor-side sink.

Every operation writes a whole document (the local server's change streams only report
replacements usefully) and is harmless when a retried Spark task repeats it. Playlist documents are
replaced only when the stored one is not newer (`modified_at`), so a corpus never overwrites
a fresher streamed edit: that conditional upsert fails with DuplicateKey, which is tolerated.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from itertools import islice
from typing import TYPE_CHECKING, Any

from pymongo import InsertOne, ReplaceOne

from playlist2vec import store, vectors

if TYPE_CHECKING:
    from pyspark.sql import DataFrame

Row = Mapping[str, Any]  # a pyspark Row or a dict: fields are read by name
OpsBuilder = Callable[[Sequence[Row]], list[Any]]
# a newer stored playlist (or an identical retried insert) wins: not an error
TOLERATED = frozenset({store.DUPLICATE_KEY})


def build_track_vector_ops(rows: Iterable[Row], version: str, subtype: int) -> list[InsertOne]:
    """Rows (track_uri, vector, count) -> inserts of `track_vectors` documents of `version`.

    Inserts, not upserts: a version's keys are new (inserts are several times faster on the
    local server) and a retried task's duplicates are identical, so DuplicateKey is tolerated.
    """
    return [
        InsertOne({"_id": {"m": version, "t": row["track_uri"]},
                   "vector": vectors.encode(row["vector"], subtype), "count": int(row["count"])})
        for row in rows
    ]


def build_track_ops(rows: Iterable[Row]) -> list[ReplaceOne]:
    """Rows of track metadata (TRACK_FIELDS, duration_ms) -> replacements of `tracks` documents."""
    ops = []
    for row in rows:
        doc = {"track_name": row["track_name"], "artist_name": row["artist_name"],
               "artist_uri": row["artist_uri"], "album_name": row["album_name"],
               "album_uri": row["album_uri"], "duration_ms": row["duration_ms"]}
        ops.append(ReplaceOne({"_id": row["track_uri"]}, doc, upsert=True))
    return ops


def _unless_newer(pid: int, modified_at: int, doc: dict[str, Any]) -> ReplaceOne:
    return ReplaceOne({"_id": pid, "modified_at": {"$lte": modified_at}}, doc, upsert=True)


def build_playlist_ops(rows: Iterable[Row], now: datetime) -> list[ReplaceOne]:
    """Rows (pid, name, tracks, modified_at) -> conditional replacements of `playlists` documents."""
    ops = []
    for row in rows:
        pid, modified_at = int(row["pid"]), int(row["modified_at"])
        doc = {"name": row["name"], "tracks": list(row["tracks"]), "modified_at": modified_at,
               "updated_at": now, "deleted": False}
        ops.append(_unless_newer(pid, modified_at, doc))
    return ops


def build_playlist_vector_ops(rows: Iterable[Row], version: str, now: datetime,
                              subtype: int) -> list[ReplaceOne]:
    """Rows (pid, vector|None, n_tracks, n_known, modified_at) -> conditional replacements of
    `playlist_vectors` documents (no `vector` field when no track is known)."""
    ops = []
    for row in rows:
        pid, modified_at = int(row["pid"]), int(row["modified_at"])
        doc: dict[str, Any] = {"model_version": version}
        if row["vector"] is not None:
            doc["vector"] = vectors.encode(row["vector"], subtype)
        doc |= {"n_tracks": int(row["n_tracks"]), "n_known": int(row["n_known"]),
                "modified_at": modified_at, "updated_at": now, "source": "batch"}
        ops.append(_unless_newer(pid, modified_at, doc))
    return ops


@dataclass(frozen=True)
class Target:
    """Where a partition writes; plain values so that it pickles to the executors."""

    mongo_uri: str
    database: str
    collection: str
    batch_size: int = store.BULK_BATCH


def write_partition(rows: Iterator[Row], target: Target, build: OpsBuilder,
                    tolerate: frozenset[int], written: Any = None) -> None:
    """Executor side: build and bulk-write one partition in bounded batches, one client per partition."""
    client = store.connect(target.mongo_uri)
    try:
        collection = client[target.database][target.collection]
        while chunk := list(islice(rows, target.batch_size)):
            done = store.bulk_write(collection, build(chunk), target.batch_size, tolerate)
            if written is not None:
                written.add(done)
    finally:
        client.close()


Sink = Callable[["DataFrame", str, OpsBuilder, frozenset[int]], int]
"""(rows, collection name, ops builder, tolerated error codes) -> operations executed."""


def mongo_sink(mongo_uri: str, database: str, batch_size: int = store.BULK_BATCH) -> Sink:
    """A Sink that writes each partition from the executors (nothing is collected to the driver)."""

    def sink(rows: DataFrame, collection: str, build: OpsBuilder, tolerate: frozenset[int]) -> int:
        written = rows.sparkSession.sparkContext.accumulator(0)
        target = Target(mongo_uri, database, collection, batch_size)
        rows.foreachPartition(functools.partial(write_partition, target=target, build=build,
                                                tolerate=tolerate, written=written))
        return int(written.value)

    return sink
