"""Batch writes to MongoDB: pure `build_*_ops` (rows -> pymongo operations) and the executor-side sink.

Every operation is harmless when a retried Spark task repeats it. The documents and the
newer-wins rule are `playlist2vec.documents`' (the stream writes the same shapes): a corpus
never overwrites a fresher streamed edit, that conditional upsert fails with DuplicateKey,
which is tolerated.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from itertools import islice
from typing import TYPE_CHECKING, Any

from pymongo import InsertOne, ReplaceOne, UpdateOne

from playlist2vec import documents, store, vectors

if TYPE_CHECKING:
    from pyspark.sql import DataFrame

Row = Mapping[str, Any]  # a pyspark Row or a dict: fields are read by name
OpsBuilder = Callable[[Sequence[Row]], list[Any]]
# a newer stored playlist (or an identical retried insert) wins: not an error
TOLERATED = frozenset({store.DUPLICATE_KEY})


def build_track_vector_ops(rows: Iterable[Row], version: str,
                           subtype: int) -> list[InsertOne[dict[str, Any]]]:
    """Rows (track_uri, vector, count) -> inserts of `track_vectors` documents of `version`.

    Inserts, not upserts: a version's keys are new (inserts are several times faster on the
    local server) and a retried task's duplicates are identical, so DuplicateKey is tolerated.
    """
    return [
        InsertOne({"_id": {"m": version, "t": row["track_uri"]},
                   "vector": vectors.encode(row["vector"], subtype), "count": int(row["count"])})
        for row in rows
    ]


def build_track_ops(rows: Iterable[Row]) -> list[UpdateOne]:
    """Rows of track metadata (track_uri, TRACK_FIELDS) -> `tracks` upserts."""
    return [documents.track_write(row["track_uri"], _fields(row)) for row in rows]


def build_playlist_ops(rows: Iterable[Row], now: datetime) -> list[ReplaceOne[dict[str, Any]]]:
    """Corpus rows (pid, name, tracks, modified_at) -> replacements of `playlists` documents
    that are older (an equal one is the same corpus row: left alone, `updated_at` included)."""
    return [documents.playlist_write(_fields(row), now, rewrite_equal=False) for row in rows]


def build_playlist_vector_ops(rows: Iterable[Row], version: str, now: datetime,
                              subtype: int) -> list[ReplaceOne[dict[str, Any]]]:
    """Rows (pid, vector|None, n_tracks, n_known, modified_at, deleted) -> newer-wins
    replacements of `version`'s `playlist_vectors` documents."""
    return [documents.playlist_vector_write(_fields(row), version, now, "batch", subtype)
            for row in rows]


def _fields(row: Row) -> Mapping[str, Any]:
    """A pyspark Row as a dict (documents.py reads optional fields with `get`)."""
    as_dict = getattr(row, "asDict", None)
    return as_dict() if as_dict is not None else row


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
    with store.connect(target.mongo_uri) as client:
        collection = client[target.database][target.collection]
        while chunk := list(islice(rows, target.batch_size)):
            done = store.bulk_write(collection, build(chunk), target.batch_size, tolerate)
            if written is not None:
                written.add(done)


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
