"""A micro-batch as one Spark job without a shuffle: each Kafka partition's task does all of it.

The task parses and validates its records, keeps the newest event per pid, computes the mean
vectors against every written model's broadcast track table, writes to MongoDB (a group of pids
at a time, each group's writes whole) and publishes its dead letters itself (waiting for the
acknowledgements); only counts come back to the driver, so no flood of bad (and up to 1 MiB)
events can fill the driver's memory. The Kafka source reads each topic partition as one Spark
partition, and the Kafka key is the pid, so no pid needs another task's records.
"""

from __future__ import annotations

import gc
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import partial
from typing import TYPE_CHECKING

from playlist2vec.settings import Settings
from playlist2vec.spark_vectors import TrackTable
from streaming import dead_letters, partition, sink, written_meta
from streaming.partition import Latest, Limits, Model, Record
from streaming.phases import PHASES, Phases

if TYPE_CHECKING:
    import pyarrow as pa
    from pyspark.sql import DataFrame

COUNTS = ("applied", "stale", "deleted", "invalid", "unknown", "provisional")
SECONDS = tuple(f"{phase}_s" for phase in PHASES)  # per task, summed per batch
RESULT_SCHEMA = ", ".join([f"{name} long" for name in COUNTS] + [f"{name} double" for name in SECONDS])
WRITE_CHUNK = 1_000  # pids per `sink.write` (`write_chunks`); vs one write per task: MongoDB ->
# servable p95 1.7-3.6 s -> 0.66-0.74 s at 5,000/s, same CPU (docs/benchmarks.md)


@dataclass(frozen=True)
class PartitionTask:
    """What every partition task of a batch needs (pickled to the executors with the function):
    the settings (MongoDB, Kafka and its security, topics, limits) and the models written."""

    settings: Settings
    models: tuple[tuple[str, TrackTable], ...]  # (version, its broadcast table), active first


def _records(batches: Iterator[pa.RecordBatch]) -> list[Record]:
    records: list[Record] = []
    for batch in batches:
        columns = [batch.column(name).to_pylist()
                   for name in ("key", "value", "partition", "offset", "timestamp_us")]
        records.extend(Record(*values) for values in zip(*columns, strict=True))
    return records


@contextmanager
def collector_paused() -> Iterator[None]:
    """Keep the garbage collector out of a task's way: what is alive at its start is frozen
    (taken out of every scan), and automatic collections are off until it ends.

    A reused Python worker runs a full `gc.collect()` after every task, and what it holds
    between tasks (modules, the MongoDB client, the track index of every model) lives on: the
    collection scanned all of it, per task, for nothing (a third of the workers' CPU in a
    profile at 5,000 events/s; 100-250 ms per collection). Frozen objects are still freed by
    reference counting when they go; only a reference cycle among them would stay.
    During the task there is nothing for it to find (the records, events and documents a task
    makes form no cycles: a collection after one finds nothing unreachable), yet it ran every
    700 allocations and rescanned the task's growing heap whenever that grew by a quarter: 10-20%
    of the parse, documents and means work of a 1,500-8,000 event task, the most in the largest
    tasks, those of a backlog. The worker's collection after the task frees any cycle left."""
    gc.freeze()
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def write_chunks(latest: dict[int, Latest], size: int) -> list[dict[int, Latest]]:
    """The partition's pids in groups of `size`, each written whole (`sink.write`) before the
    next: the first vectors land while later groups are still computed, instead of every
    vector after the task's last `playlists` write."""
    pids = list(latest)
    return [{pid: latest[pid] for pid in pids[i:i + size]} for i in range(0, len(pids), size)]


def run_partition(task: PartitionTask, batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
    """One partition's records -> MongoDB writes and dead letters; yields its counts."""
    import pyarrow as pa

    with collector_paused():
        settings, phases = task.settings, Phases()
        with phases.timed("read"):
            records = _records(batches)
        with phases.timed("parse"):
            latest, dead = partition.newest_per_pid(
                records, Limits(settings.max_event_bytes, settings.max_clock_skew))
        counts = Counter({"invalid": len(dead)})
        if latest:
            models = [Model(version, table.index()) for version, table in task.models]
            uri = settings.mongo_uri.get_secret_value()
            db = sink.client(uri)[settings.mongo_db]
            meta = written_meta.for_database(uri, settings.mongo_db)
            for chunk in write_chunks(latest, WRITE_CHUNK):
                counts.update(sink.write(db, chunk, models, settings.playlist_topic,
                                         settings.vector_subtype, 0, settings.fold_in_min_support, phases,
                                         meta))
        if dead:
            with phases.timed("dead_letters"):
                dead_letters.publish(dead_letters.shared_producer(settings), settings.dlq_topic, [
                    dead_letters.dead_letter(r.record.key, r.record.value, r.reason, settings.playlist_topic,
                                             r.record.partition, r.record.offset) for r in dead])
    row = {name: [counts.get(name, 0)] for name in COUNTS} | {
        name: [phases.seconds[phase]] for phase, name in zip(PHASES, SECONDS, strict=True)}
    yield pa.RecordBatch.from_pydict(row, schema=pa.schema(
        [(name, pa.int64()) for name in COUNTS] + [(name, pa.float64()) for name in SECONDS]))


def batch_results(kafka_rows: DataFrame, task: PartitionTask) -> DataFrame:
    """Kafka source rows -> one row of COUNTS and phase SECONDS per partition; evaluating it
    performs the batch's writes and publishes its dead letters."""
    from pyspark.sql import functions as F

    rows = kafka_rows.select("key", "value", "partition", "offset",
                             F.unix_micros("timestamp").alias("timestamp_us"))
    return rows.mapInArrow(partial(run_partition, task), RESULT_SCHEMA)


def summarise(results: pa.Table) -> dict[str, int]:
    """The summed COUNTS of the collected `batch_results`."""
    return {name: int(sum(results.column(name).to_pylist())) for name in COUNTS}


def task_seconds(results: pa.Table) -> dict[str, float]:
    """Seconds per phase (`streaming.phases`), summed over the tasks of the collected
    `batch_results` (tasks run in parallel: the sum can exceed the batch's wall time)."""
    return {phase: float(sum(results.column(name).to_pylist()))
            for phase, name in zip(PHASES, SECONDS, strict=True)}
