"""A model's playlist vectors from the current `playlists`: the Spark derive pass and the catch-up.

The derive pass reads every live playlist with a partitioned reader on the executors: task i
of n opens its own client, reads the playlists with `pid % n == i` (balanced whatever the
pids look like: corpus ids are dense, stream-only ids need not be) and averages them as it
reads, against the broadcast track table, so the collection never passes through the driver
and its rows never through the JVM before they are vectors. MongoDB's Spark connector is not
used: its default partitioner sizes partitions from the `$collStats` aggregation stage, which
the local mongo-java-server does not implement, and it would add JVM jars for what is one
query per task.

The catch-up recomputes, on the driver, the playlists stamped (`updated_at`) since a point in
time: the few that changed while a model was being derived, or since it was retired. Both
passes write with the newer-wins rule of `playlist2vec.documents`, so they never undo a
fresher vector the stream wrote for the same model.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime
from itertools import islice
from typing import TYPE_CHECKING, Any

from pymongo.database import Database

from playlist2vec import documents, spark_vectors, store, vectors

if TYPE_CHECKING:
    import pyarrow as pa
    from pyspark.sql import DataFrame, SparkSession
    from pyspark.sql.types import StructType

READ_FIELDS = ("tracks", "modified_at", "deleted")
VECTOR_COLUMNS = ("pid", "modified_at", "deleted", *spark_vectors.MEAN_COLUMNS)


@dataclass(frozen=True)
class PlaylistSource:
    """Where the executors read `playlists`; plain values so that it pickles."""

    mongo_uri: str
    database: str
    parts: int
    batch_size: int = 2_000


def playlist_row(doc: dict[str, Any]) -> tuple[int, list[str], int, bool]:
    """(pid, tracks, modified_at, deleted) of a `playlists` document."""
    return (int(doc["_id"]), list(doc.get("tracks") or ()), int(doc.get("modified_at") or 0),
            bool(doc.get("deleted")))


def read_part(parts: Iterable[int], source: PlaylistSource) -> Iterator[tuple[int, list[str], int, bool]]:
    """Executor side: the live playlists of the given parts (`pid % source.parts`), one client."""
    with store.connect(source.mongo_uri) as client:
        collection = client[source.database][store.PLAYLISTS]
        for part in parts:
            query = {"_id": {"$mod": [source.parts, part]}, "deleted": {"$ne": True}}
            for doc in collection.find(query, list(READ_FIELDS), batch_size=source.batch_size):
                yield playlist_row(doc)


def vector_schema() -> StructType:
    from pyspark.sql import types as T

    return T.StructType([T.StructField("pid", T.LongType(), nullable=False),
                         T.StructField("modified_at", T.LongType(), nullable=False),
                         T.StructField("deleted", T.BooleanType(), nullable=False),
                         *spark_vectors.mean_fields()])


def _vectors_of_parts(batches: Iterator[pa.RecordBatch], source: PlaylistSource,
                      broadcast: Any) -> Iterator[pa.RecordBatch]:
    """Executor side: the parts named in `batches` (column `id`) read and averaged, a read batch
    at a time, as Arrow batches of `vector_schema`."""
    import pyarrow as pa

    index = spark_vectors.track_index(broadcast)
    parts = [part for batch in batches for part in batch.column("id").to_pylist()]
    rows = read_part(parts, source)
    while chunk := list(islice(rows, source.batch_size)):
        pids, tracks, modified_at, deleted = zip(*chunk, strict=True)
        means, known = index.means(tracks)
        yield pa.RecordBatch.from_arrays(
            [pa.array(pids, pa.int64()), pa.array(modified_at, pa.int64()),
             pa.array(deleted, pa.bool_()), pa.array(means, pa.list_(pa.float32())),
             pa.array([len(t) for t in tracks], pa.int32()), pa.array(known, pa.int32())],
            names=list(VECTOR_COLUMNS))


def derived_vectors(spark: SparkSession, source: PlaylistSource,
                    table: spark_vectors.TrackTable) -> DataFrame:
    """(pid, modified_at, deleted, vector, n_tracks, n_known) of every live playlist in
    `playlists`, read and averaged against `table` by `source.parts` tasks in one Python pass
    each (no rows cross to the JVM and back between the read and the means). `vector` is null
    when no track of the playlist is in the table."""
    parts = spark.range(source.parts, numPartitions=source.parts)
    return parts.mapInArrow(functools.partial(_vectors_of_parts, source=source, broadcast=table.broadcast),
                            vector_schema())


def catch_up(db: Database[dict[str, Any]], version: str, since: datetime, now: datetime,
             subtype: int, chunk: int = store.BULK_BATCH) -> int:
    """Recompute `version`'s vectors of the playlists stamped since `since` (deleted ones too:
    their vector document becomes a deletion marker); returns how many were written."""
    uris, matrix = store.load_track_vectors(db, version)
    lookup = dict(zip(uris, matrix, strict=True))
    cursor = store.iter_docs(db[store.PLAYLISTS], {"updated_at": {"$gte": since}}, READ_FIELDS)
    written = 0
    while docs := list(islice(cursor, chunk)):
        ops = [documents.playlist_vector_write(_with_mean(doc, lookup), version, now, "batch",
                                               subtype) for doc in docs]
        written += store.bulk_write(db[store.PLAYLIST_VECTORS], ops,
                                    tolerate=frozenset({documents.STALE}))
    return written


def _with_mean(doc: dict[str, Any], lookup: dict[str, Any]) -> dict[str, Any]:
    pid, tracks, modified_at, deleted = playlist_row(doc)
    mean, known = vectors.mean_vector(tracks, lookup)
    return {"pid": pid, "modified_at": modified_at, "deleted": deleted, "vector": mean,
            "n_tracks": len(tracks), "n_known": known}
