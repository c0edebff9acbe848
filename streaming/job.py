"""The streaming job: Kafka source -> (per partition: validate, newest per pid, vectors, MongoDB writes).

`process_batch` is the foreachBatch sink: one Spark job per micro-batch, no shuffle, the
writes and the dead letters done by the executors (`transform`) before the batch commits.
`start` wires the query; `run` is the long-running entry point (metrics endpoint, signal
handling, stop between batches).
"""

from __future__ import annotations

import logging
import re
import signal
import threading
import time
import uuid
from contextlib import ExitStack
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pymongo.database import Database

from playlist2vec import kafka_security, store, topics
from playlist2vec import spark as spark_factory
from playlist2vec.errors import ConfigError, PipelineError
from playlist2vec.settings import Settings
from streaming import dead_letters, fold, phases, transform
from streaming.metrics import StreamMetrics
from streaming.model import WriteModels
from streaming.progress import ProgressPoller

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession
    from pyspark.sql.streaming.query import StreamingQuery

log = logging.getLogger(__name__)

STOP_TIMEOUT_S = 120.0  # how long a stop request waits for the running batch to finish
PRUNE_EVERY_S = 3600.0  # how often the driver forgets idle provisional tracks (fold.prune)
FETCH_MAX_WAIT_MS = 10  # measured: with Kafka's 500 ms default, 1 task in 10 read for 0.5 s at a trickle


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
    models: WriteModels
    metrics: StreamMetrics
    pruned_at: float | None = None  # monotonic time of the last fold-in prune


def prune_fold_in(ctx: BatchContext, versions: list[str], now: float) -> None:
    """At the first batch and hourly after, between batches (no task writes meanwhile): each
    written model forgets its idle provisional tracks below the minimum support, so junk (a
    mistyped uri seen once) cannot pile up."""
    settings = ctx.settings
    if settings.fold_in_min_support <= 0 or (
            ctx.pruned_at is not None and now - ctx.pruned_at < PRUNE_EVERY_S):
        return
    ctx.pruned_at = now
    idle_since = datetime.now(UTC) - timedelta(hours=settings.fold_in_idle_hours)
    for version in versions:
        removed = fold.prune(ctx.db, version, settings.fold_in_min_support, idle_since)
        log.info("fold-in: model %s forgot %d idle provisional tracks below support %d", version,
                 removed, settings.fold_in_min_support)


def process_batch(ctx: BatchContext, batch: DataFrame, batch_id: int) -> None:
    """One micro-batch: the executors write MongoDB and publish the dead letters.

    Only counts reach the driver. Writes are idempotent and each task waits for its letters'
    acknowledgements, so the batch commits after both and a batch re-run after a crash is
    harmless; a write or publish failure fails the batch (and the query), so nothing is skipped.
    """
    started = time.perf_counter()
    models = ctx.models.current()
    task = transform.PartitionTask(ctx.settings, tuple((m.version, m.track_vectors) for m in models))
    results = transform.batch_results(batch, task).toArrow()
    counts, seconds = transform.summarise(results), transform.task_seconds(results)
    unknown, provisional = counts.pop("unknown"), counts.pop("provisional")
    ctx.metrics.record_events(counts)
    ctx.metrics.record_unknown_tracks(unknown)
    ctx.metrics.record_provisional_vectors(provisional)
    ctx.metrics.record_task_seconds(seconds)
    log.info("batch %d: %.2fs, models %s, %s; tasks: %s", batch_id, time.perf_counter() - started,
             [m.version for m in models], counts, phases.describe(seconds) or "none")
    prune_fold_in(ctx, [m.version for m in models], time.monotonic())


def kafka_source(spark: SparkSession, settings: Settings, options: StreamOptions) -> DataFrame:
    return (
        spark.readStream.format("kafka")
        .options(**kafka_security.spark_options(settings))
        .option("subscribe", settings.playlist_topic)
        .option("startingOffsets", "earliest")
        .option("maxOffsetsPerTrigger", str(options.max_offsets_per_trigger))
        # a compacted topic has offset gaps by design, and compaction may remove the record a
        # checkpoint points at: neither is data loss for full-snapshot events
        .option("failOnDataLoss", "false")
        # a task seeks to its offset range while the cached consumer's prefetch may still wait
        # on the broker for new data; the default 500 ms wait then delays the batch by as much
        .option("kafka.fetch.max.wait.ms", str(FETCH_MAX_WAIT_MS))
        .load()
    )


def failure_line(error: str) -> str:
    """The line of a query failure that says what went wrong: our own error raised in a task
    (e.g. MongoDB down after the retries) if there is one, else the first line."""
    for line in error.splitlines():
        if "PipelineError:" in line:
            return line.split("PipelineError:", 1)[1].strip()
    return error.splitlines()[0] if error else "unknown error"


class RunningStream:
    """A started query plus what it holds open; `stop` lets the running batch finish first."""

    def __init__(self, query: StreamingQuery, ctx: BatchContext, progress: ProgressPoller) -> None:
        self.query = query
        self.ctx = ctx
        self.progress = progress

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
        self.progress.stop()
        self.ctx.models.close()
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
            raise PipelineError(f"streaming query failed: {failure_line(str(error))}")


def start(spark: SparkSession, settings: Settings, options: StreamOptions,
          metrics: StreamMetrics) -> RunningStream:
    """Start the query (NotReady if no model is active yet)."""
    topics.ensure_topics(settings)
    with ExitStack() as on_failure:  # the client is closed unless the stream starts and owns it
        db = store.database(settings)
        on_failure.callback(db.client.close)
        store.ensure_indexes(db)
        models = WriteModels(spark, db)
        models.current()
        dead_letters.producer(settings).close()  # unreachable Kafka fails here, with its reason
        ctx = BatchContext(settings=settings, db=db, models=models, metrics=metrics)
        name = f"p2v-stream-{settings.playlist_topic}-{uuid.uuid4().hex[:6]}"
        writer = (kafka_source(spark, settings, options).writeStream.queryName(name)
                  .foreachBatch(partial(process_batch, ctx))
                  .option("checkpointLocation", str(options.checkpoint)))
        writer = (writer.trigger(availableNow=True) if options.available_now
                  else writer.trigger(processingTime=spark_interval(options.trigger)))
        query = writer.start()
        on_failure.pop_all()
    return RunningStream(query, ctx, ProgressPoller(query, metrics).start())


def _stop_on_signals(stop: threading.Event) -> None:
    """SIGTERM/SIGINT ask for a stop after the running batch; a second one acts as default."""

    def handler(signum: int, _frame: Any) -> None:
        log.info("signal %d: stopping after the running micro-batch", signum)
        stop.set()
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        signal.signal(signal.SIGINT, signal.default_int_handler)

    signal.signal(signal.SIGTERM, handler)
    signal.signal(signal.SIGINT, handler)


def driver_conf(settings: Settings) -> dict[str, str]:
    """The job's Spark driver JVM options (`stream_driver_java_options`), when it starts its own
    JVM (under spark-submit the JVM is already running and spark-submit's options apply)."""
    options = settings.stream_driver_java_options.strip()
    return {"spark.driver.extraJavaOptions": options} if options else {}


def run(settings: Settings, options: StreamOptions) -> None:
    """The `playlist2vec stream` job: runs until a signal (then stops between batches) or failure."""
    spark = spark_factory.session(settings, "playlist2vec-stream", conf=driver_conf(settings))
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
