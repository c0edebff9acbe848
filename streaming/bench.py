"""`bench stream`: publish -> MongoDB latency percentiles and sustained throughput of the real job.

The job runs as its own process (`playlist2vec stream`, as in production) against a fresh
topic and database; each event creates a distinct playlist, so every document's
`updated_at` minus its event's Kafka timestamp is one event's latency.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
from kafka import KafkaConsumer, TopicPartition
from prometheus_client.parser import text_string_to_metric_families
from pydantic import SecretStr
from pymongo import InsertOne
from pymongo.database import Database

from playlist2vec import store, topics, vectors
from playlist2vec.errors import PipelineError
from playlist2vec.events import PlaylistEvent
from playlist2vec.settings import Settings
from streaming.producer import kafka_producer, publish
from streaming.simulate import SimEvent

READY_TIMEOUT_S = 600.0  # a JVM start on a busy 2-core machine takes minutes
STOP_TIMEOUT_S = 60.0
DRAIN_TIMEOUT_S = 600.0


def child_env(settings: Settings) -> dict[str, str]:
    """P2V_* variables that make a child process load exactly `settings`."""
    env = {}
    for name, value in settings.model_dump().items():
        if value is not None:
            plain = value.get_secret_value() if isinstance(value, SecretStr) else value
            env[f"P2V_{name.upper()}"] = str(plain)
    return env


def stream_command(*args: str) -> list[str]:
    """`playlist2vec <args>` with this interpreter (no dependence on PATH)."""
    return [sys.executable, "-c", "from playlist2vec.cli import main; raise SystemExit(main())", *args]


def seed_model(db: Database[dict[str, Any]], version: str, uris: list[str], matrix: np.ndarray,
               subtype: int) -> None:
    """A new active model with these track vectors, shaped like the batch registry writes it."""
    store.bulk_write(db[store.TRACK_VECTORS], (
        InsertOne({"_id": {"m": version, "t": uri}, "vector": vectors.encode(row, subtype), "count": 1})
        for uri, row in zip(uris, matrix, strict=True)))
    db[store.MODELS].replace_one({"_id": version}, {
        "_id": version, "status": "active", "created_at": datetime.now(UTC),
        "vector_size": int(matrix.shape[1]), "vocab_size": len(uris), "params": {}}, upsert=True)


def bench_events(n: int, vocab: list[str], rng: random.Random) -> Iterator[SimEvent]:
    """`n` creations of distinct playlists of 20-60 tracks, about 10% of them unknown to the model."""
    for pid in range(n):
        tracks = tuple(rng.choice(vocab) if rng.random() < 0.9
                       else f"spotify:track:unknown{rng.randrange(10**6)}"
                       for _ in range(rng.randint(20, 60)))
        event = PlaylistEvent(pid=pid, modified_at=1_700_000_000, name=f"bench {pid}", tracks=tracks)
        yield SimEvent("create", event.key, event.to_json(), pid)


def _poll(what: str, check: Any, timeout_s: float, job: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + timeout_s
    while not check():
        if job.poll() is not None:
            raise PipelineError(f"the streaming job exited ({job.returncode}) while waiting for {what}")
        if time.monotonic() > deadline:
            raise PipelineError(f"timed out after {timeout_s:.0f}s waiting for {what}")
        time.sleep(0.2)


def _wait_written(collection: Any, n: int, timeout_s: float, job: subprocess.Popen[bytes]) -> bool:
    """Whether all `n` documents arrived within `timeout_s` (a slow job still gets measured)."""
    try:
        _poll("all documents", lambda: collection.estimated_document_count() >= n, timeout_s, job)
    except PipelineError:
        if job.poll() is not None:
            raise
        return False
    return True


def _scrape(addr: str) -> dict[str, float]:
    try:
        text = urllib.request.urlopen(f"http://{addr}/metrics", timeout=2).read().decode()
    except OSError:
        return {}
    return {s.name + json.dumps(s.labels, sort_keys=True) * bool(s.labels): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def _kafka_timestamps(settings: Settings, n: int) -> dict[int, float]:
    """pid -> the event's Kafka timestamp (seconds), read back from the topic."""
    consumer = KafkaConsumer(bootstrap_servers=settings.kafka_bootstrap.split(","),
                             enable_auto_commit=False, consumer_timeout_ms=10_000)
    try:
        parts = [TopicPartition(settings.playlist_topic, p)
                 for p in consumer.partitions_for_topic(settings.playlist_topic) or ()]
        consumer.assign(parts)
        consumer.seek_to_beginning(*parts)
        stamps = {}
        for record in consumer:
            stamps[int(record.key)] = record.timestamp / 1000.0
            if len(stamps) >= n:
                break
        return stamps
    finally:
        consumer.close()


def latency_stats(published: dict[int, float], written: dict[int, datetime]) -> dict[str, float]:
    """Percentiles of written - published (seconds) and the end-to-end throughput."""
    pids = sorted(published.keys() & written.keys())
    pub = np.array([published[p] for p in pids])
    done = np.array([written[p].replace(tzinfo=UTC).timestamp() for p in pids])
    latency = done - pub
    span = float(done.max() - pub.min())
    return {
        "events_measured": len(pids),
        "latency_p50_s": float(np.percentile(latency, 50)),
        "latency_p95_s": float(np.percentile(latency, 95)),
        "latency_p99_s": float(np.percentile(latency, 99)),
        "latency_max_s": float(latency.max()),
        "publish_rate_per_s": len(pids) / max(float(pub.max() - pub.min()), 1e-9),
        "throughput_per_s": len(pids) / span if span > 0 else 0.0,
    }


def bench_stream(settings: Settings, n_events: int, rate: float, trigger: str, max_offsets: int,
                 output: Path, vocab_size: int = 20_000, dim: int = 32, seed: int = 0,
                 metrics_addr: str = "127.0.0.1:9118") -> dict[str, Any]:
    """Run the job on a fresh topic/database, publish `n_events` at `rate`, measure, clean up."""
    suffix = uuid.uuid4().hex[:8]
    bench = settings.model_copy(update={
        "playlist_topic": f"bench-{suffix}", "dlq_topic": f"bench-{suffix}.dlq",
        "mongo_db": f"{settings.mongo_db}_bench_{suffix}", "stream_metrics_addr": metrics_addr})
    rng = random.Random(seed)
    vocab = [f"spotify:track:bench{i:08d}" for i in range(vocab_size)]
    db = store.database(bench)
    topics.ensure_topics(bench, partitions=2)
    matrix = np.random.default_rng(seed).normal(size=(vocab_size, dim)).astype(np.float32)
    seed_model(db, "bench", vocab, matrix, bench.vector_subtype)
    log_path = bench.logs_dir / f"bench-stream-{suffix}.log"
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="p2v-bench-ckpt-") as checkpoint, log_path.open("wb") as log:
        job = subprocess.Popen(
            stream_command("stream", "--trigger", trigger, "--checkpoint", checkpoint,
                           "--max-offsets-per-trigger", str(max_offsets)),
            env=os.environ | child_env(bench), stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        try:
            _poll("the job's metrics endpoint", lambda: bool(_scrape(metrics_addr)), READY_TIMEOUT_S, job)
            producer = kafka_producer(bench)
            try:
                report = publish(producer, bench.playlist_topic, bench_events(n_events, vocab, rng),
                                 rate, n_events)
            finally:
                producer.close()
            vectors_coll = db[store.PLAYLIST_VECTORS]
            complete = _wait_written(vectors_coll, n_events, max(DRAIN_TIMEOUT_S, 10 * n_events / rate), job)
            # the job stamps `updated_at` before a batch's bulk writes run, so the latencies
            # below leave out the write time; this wall clock (polled every 0.2 s) includes it
            drained_at = time.time()
            written = {d["_id"]: d["updated_at"] for d in vectors_coll.find({}, {"updated_at": 1})}
            # the listener counts a batch after its writes land: wait for that report too
            _poll("the last batch's progress report", lambda: _scrape(metrics_addr).get(
                "p2v_stream_batches_total", 0.0) >= 1, STOP_TIMEOUT_S, job)
            job_metrics = _scrape(metrics_addr)
        finally:
            job.send_signal(signal.SIGTERM)
            try:
                job.wait(STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                os.killpg(job.pid, signal.SIGKILL)
                job.wait()
    published = _kafka_timestamps(bench, n_events)
    stats = latency_stats(published, written)
    first, last = min(published.values()), max(published.values())
    batches = job_metrics.get("p2v_stream_batches_total", 0.0)
    result = {
        "benchmark": "stream", "events": n_events, "complete": complete, "target_rate_per_s": rate,
        "trigger": trigger,
        "max_offsets_per_trigger": max_offsets, "spark_master": bench.spark_master,
        "vocab_size": vocab_size, "dim": dim, "producer_seconds": round(report.seconds, 2),
        **{k: round(v, 4) for k, v in stats.items()},
        "all_written_after_last_publish_s": round(drained_at - last, 2),
        "drain_throughput_per_s": round(len(written) / max(drained_at - first, 1e-9), 2),
        "batches": batches,
        "mean_batch_s": job_metrics.get("p2v_stream_batch_duration_seconds_sum", 0.0) / max(batches, 1.0),
        "job_log": str(log_path),
    }
    db.client.drop_database(db.name)
    client = topics.admin(bench)
    try:
        client.delete_topics([bench.playlist_topic, bench.dlq_topic])
    finally:
        client.close()
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(json.dumps(result, indent=2) + "\n")
    return result
