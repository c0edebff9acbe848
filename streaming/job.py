"""The streaming job: Kafka source -> validate -> newest per pid -> vectors -> MongoDB, per micro-batch.

`process_batch` is the foreachBatch sink; `start` wires the query; `run` is the long-running
entry point (metrics endpoint, signal handling, stop between batches).
"""

from __future__ import annotations

import logging
import re
import signal
import threading
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

from kafka import KafkaProducer
from pymongo.database import Database

from playlist2vec import spark as spark_factory
from playlist2vec import store, topics
from playlist2vec.errors import ConfigError, PipelineError
from playlist2vec.settings import Settings
from streaming import dead_letters, sink, transform, validation
from streaming.listener import MetricsListener
from streaming.metrics import StreamMetrics
from streaming.model import ActiveVectors

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession
    from pyspark.sql.streaming import StreamingQuery

log = logging.getLogger(__name__)

STOP_TIMEOUT_S = 120.0  # how long a stop request waits for the running batch to finish


_UNITS = {"ms": "milliseconds", "s": "seconds", "m": "minutes"}


def spark_interval(trigger: str) -> str:
    """`500ms`, `1s`, `2m` (or Spark's own `1 second`) as an interval Spark parses; else ConfigError."""
    match = re.fullmatch(r"\s*(\d+)\s*(ms|s|m)\s*", trigger)
    if match:
        return f"{match[1]} {_UNITS[match[2]]}"
    if re.fullmatch(r"\s*\d+\s+(milliseconds?|seconds?|minutes?)\s*", trigger):
        return trigger.strip()
    raise ConfigError(f"bad trigger {trigger!r} (P2V_STREAM_TRIGGER): expected e.g. 500ms, 1s, 2m")


@dataclass(frozen=True)
class StreamOptions:
    checkpoint: Path
    trigger: str
    max_offsets_per_trigger: int
    available_now: bool = False  # process what the topic holds, then stop (replays, tests)

    @classmethod
    def from_settings(cls, settings: Settings, checkpoint: Path | None = None, trigger: str | None = None,
                      max_offsets_per_trigger: int | None = None) -> StreamOptions:
        return cls(
            checkpoint=checkpoint or settings.checkpoints_dir / "stream",
            trigger=spark_interval(trigger or settings.stream_trigger),
            max_offsets_per_trigger=max_offsets_per_trigger or settings.stream_max_offsets_per_trigger,
        )


@dataclass
class BatchContext:
    """What the foreachBatch sink needs, prepared once at start."""

    settings: Settings
    db: Database[dict[str, Any]]
    model: ActiveVectors
    producer: KafkaProducer
    metrics: StreamMetrics


def process_batch(ctx: BatchContext, batch: DataFrame, batch_id: int) -> None:
    """One micro-batch: dead letters to the DLQ, newest valid event per pid to MongoDB.

    The result is collected to the driver in one Spark job; it is bounded by
    maxOffsetsPerTrigger. Writes are idempotent, so a batch re-run after a crash is harmless.
    """
    started = time.perf_counter()
    model = ctx.model.current()
    # cached for the one job: the plan reads the events twice (newest rows, dead letters)
    events = validation.validate(batch).persist()
    try:
        newest_df = transform.newest_per_pid(events)
        rows = transform.batch_output(events, newest_df, model.track_vectors).toArrow().to_pylist()
    finally:
        events.unpersist()
    computed = time.perf_counter()
    dead = [r for r in rows if r["reason"] is not None]
    newest = [r for r in rows if r["reason"] is None]
    dead_letters.publish(ctx.producer, ctx.settings.dlq_topic,
                         dead_letters.build_dead_letters(dead, ctx.settings.playlist_topic))
    fresh, _ = sink.split_stale(newest, sink.stored_modified_at(ctx.db, [r["pid"] for r in newest]))
    upserts = sink.build_upserts(fresh, model.version, model.dim, datetime.now(UTC),
                                 ctx.settings.vector_subtype)
    sink.write(ctx.db, upserts)
    counts = sink.outcomes(newest, fresh, len(dead))
    ctx.metrics.record_events(counts)
    ctx.metrics.record_unknown_tracks(sink.unknown_tracks(fresh))
    # the split between Spark and the writes is what to look at when batches run long
    log.info("batch %d: spark %.2fs, dead letters + mongo %.2fs, %s", batch_id, computed - started,
             time.perf_counter() - computed, counts)


def kafka_source(spark: SparkSession, settings: Settings, options: StreamOptions) -> DataFrame:
    return (
        spark.readStream.format("kafka")
        .option("kafka.bootstrap.servers", settings.kafka_bootstrap)
        .option("subscribe", settings.playlist_topic)
        .option("startingOffsets", "earliest")
        .option("maxOffsetsPerTrigger", str(options.max_offsets_per_trigger))
        # a compacted topic has offset gaps by design, and compaction may remove the record a
        # checkpoint points at: neither is data loss for full-snapshot events
        .option("failOnDataLoss", "false")
        .load()
    )


class RunningStream:
    """A started query plus what it holds open; `stop` lets the running batch finish first."""

    def __init__(self, query: StreamingQuery, ctx: BatchContext, listener: MetricsListener,
                 spark: SparkSession) -> None:
        self.query = query
        self.ctx = ctx
        self.listener = listener
        self.spark = spark

    def stop(self, timeout_s: float = STOP_TIMEOUT_S) -> None:
        """Stop between micro-batches (a batch still running after `timeout_s` is interrupted;
        it re-runs on restart, harmlessly)."""
        deadline = time.monotonic() + timeout_s
        while (self.query.isActive and self.query.status["isTriggerActive"]
               and time.monotonic() < deadline):
            time.sleep(0.05)
        self.query.stop()
        self.close()

    def close(self) -> None:
        self.spark.streams.removeListener(self.listener)
        self.ctx.producer.close()
        self.ctx.model.close()
        self.ctx.db.client.close()

    def wait(self, stop: threading.Event, poll_s: int = 1) -> None:
        """Block until the query ends or `stop` is set; a failed query raises PipelineError."""
        while self.query.isActive and not stop.is_set():
            self.query.awaitTermination(poll_s)
        if self.query.isActive:
            self.stop()
            return
        self.close()
        error = self.query.exception()
        if error is not None:
            raise PipelineError(f"streaming query failed: {str(error).splitlines()[0]}")


def start(spark: SparkSession, settings: Settings, options: StreamOptions,
          metrics: StreamMetrics) -> RunningStream:
    """Start the query (NotReady if no model is active yet)."""
    topics.ensure_topics(settings)
    db = store.database(settings)
    store.ensure_indexes(db)
    model = ActiveVectors(spark, db)
    model.current()
    ctx = BatchContext(settings=settings, db=db, model=model, metrics=metrics,
                       producer=KafkaProducer(bootstrap_servers=settings.kafka_bootstrap.split(","),
                                              acks="all", linger_ms=5,
                                              client_id="playlist2vec-stream-dlq"))
    name = f"p2v-stream-{settings.playlist_topic}-{uuid.uuid4().hex[:6]}"
    listener = MetricsListener(metrics, name)
    spark.streams.addListener(listener)
    writer = (kafka_source(spark, settings, options).writeStream.queryName(name)
              .foreachBatch(partial(process_batch, ctx))
              .option("checkpointLocation", str(options.checkpoint)))
    writer = (writer.trigger(availableNow=True) if options.available_now
              else writer.trigger(processingTime=spark_interval(options.trigger)))
    return RunningStream(writer.start(), ctx, listener, spark)


def _stop_on_signals(stop: threading.Event) -> None:
    """SIGTERM/SIGINT ask for a stop after the running batch; a second one acts as default."""

    def handler(signum: int, _frame: Any) -> None:
        log.info("signal %d: stopping after the running micro-batch", signum)
        stop.set()
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        signal.signal(signal.SIGINT, signal.default_int_handler)

    signal.signal(signal.SIGTERM, handler)
    signal.signal(signal.SIGINT, handler)


def run(settings: Settings, options: StreamOptions) -> None:
    """The `playlist2vec stream` job: runs until a signal (then stops between batches) or failure."""
    # micro-batches are small: fewer shuffle tasks per stage cost less than they parallelise
    spark = spark_factory.session(settings, "playlist2vec-stream",
                                  conf={"spark.sql.shuffle.partitions": "2"})
    stop = threading.Event()
    _stop_on_signals(stop)
    metrics = StreamMetrics()
    running = start(spark, settings, options, metrics)
    metrics.serve(settings.stream_metrics_addr)
    log.info("streaming %s -> %s, checkpoint %s, metrics on http://%s/metrics", settings.playlist_topic,
             settings.mongo_db, options.checkpoint, settings.stream_metrics_addr)
    try:
        running.wait(stop)
    finally:
        spark.stop()
