"""A micro-batch as one Spark job without a shuffle: each Kafka partition's task does all of it.

The task parses and validates its records, keeps the newest event per pid, computes the mean
vectors against every written model's broadcast track table and writes to MongoDB itself;
only the counts and the dead letters come back to the driver. The Kafka source reads each
topic partition as one Spark partition, and the Kafka key is the pid, so no pid needs
another task's records.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import partial
from typing import TYPE_CHECKING, Any

from playlist2vec.spark_vectors import TrackTable
from streaming import dead_letters, partition, sink
from streaming.dead_letters import DeadLetter
from streaming.partition import Limits, Model, Record

if TYPE_CHECKING:
    import pyarrow as pa
    from pyspark.sql import DataFrame

COUNTS = ("applied", "stale", "deleted", "invalid", "unknown")
RESULT_SCHEMA = ("key binary, value binary, headers array<struct<name:string,value:binary>>, "
                 + ", ".join(f"{name} long" for name in COUNTS))


@dataclass(frozen=True)
class PartitionTask:
    """What every partition task of a batch needs (pickled to the executors with the function)."""

    mongo_uri: str
    mongo_db: str
    topic: str
    subtype: int
    models: tuple[tuple[str, TrackTable], ...]  # (version, its broadcast table), active first
    limits: Limits = field(default_factory=Limits)


def _records(batches: Iterator[pa.RecordBatch]) -> list[Record]:
    records: list[Record] = []
    for batch in batches:
        columns = [batch.column(name).to_pylist()
                   for name in ("key", "value", "partition", "offset", "timestamp_us")]
        records.extend(Record(*values) for values in zip(*columns, strict=True))
    return records


def _result_batch(letters: list[DeadLetter], counts: dict[str, int]) -> pa.RecordBatch:
    import pyarrow as pa

    header = pa.struct([("name", pa.string()), ("value", pa.binary())])
    n = len(letters) + 1  # the letters, then one row of counts
    columns: dict[str, Any] = {
        "key": pa.array([x.key for x in letters] + [None], pa.binary()),
        "value": pa.array([x.value for x in letters] + [None], pa.binary()),
        "headers": pa.array([[{"name": k, "value": v} for k, v in x.headers] for x in letters] + [None],
                            pa.list_(header)),
    }
    for name in COUNTS:
        columns[name] = pa.array([None] * (n - 1) + [counts.get(name, 0)], pa.int64())
    return pa.RecordBatch.from_pydict(columns)


def run_partition(task: PartitionTask, batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
    """One partition's records -> MongoDB writes; yields its dead letters and counts."""
    records = _records(batches)
    latest, dead = partition.newest_per_pid(records, task.limits)
    counts: dict[str, int] = {"invalid": len(dead)}
    if latest:
        models = [Model(version, table.index()) for version, table in task.models]
        db = sink.client(task.mongo_uri)[task.mongo_db]
        counts = sink.write(db, latest, models, task.topic, task.subtype, len(dead))
    letters = [dead_letters.dead_letter(r.record.key, r.record.value, r.reason, task.topic,
                                        r.record.partition, r.record.offset) for r in dead]
    yield _result_batch(letters, counts)


def batch_results(kafka_rows: DataFrame, task: PartitionTask) -> DataFrame:
    """Kafka source rows -> one row per dead letter (key, value, headers) and one row of COUNTS
    per partition; evaluating it performs the batch's writes."""
    from pyspark.sql import functions as F

    rows = kafka_rows.select("key", "value", "partition", "offset",
                             F.unix_micros("timestamp").alias("timestamp_us"))
    return rows.mapInArrow(partial(run_partition, task), RESULT_SCHEMA)


def summarise(results: pa.Table) -> tuple[dict[str, int], list[DeadLetter]]:
    """(summed COUNTS, dead letters) from the collected `batch_results`."""
    counts = dict.fromkeys(COUNTS, 0)
    letters: list[DeadLetter] = []
    for row in results.to_pylist():
        if row["applied"] is not None:
            for name in COUNTS:
                counts[name] += row[name]
        else:
            letters.append(DeadLetter(row["key"], row["value"],
                                      [(h["name"], h["value"]) for h in row["headers"]]))
    return counts, letters
