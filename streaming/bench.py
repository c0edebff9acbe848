"""`bench stream`: Kafka -> MongoDB and Kafka -> servable latency and sustained throughput of the real job.

The job (`playlist2vec stream`) and, unless told otherwise, `playlist2vec serve` run as their
own processes, as in production, against a fresh topic and database. Several producer
processes publish distinct playlists at a steady offered rate. Each playlist's
`playlist_vectors` document carries its event's Kafka record timestamp (`event_time`) and the
job's `updated_at` (stamped as the partition's writes begin), so their difference is one
event's Kafka -> MongoDB latency. Kafka -> servable is serving's own `end_to_end` freshness
histogram over the run (every change it applied, record timestamp to the moment it was in
the index). As an outside check, a poller asks serving for a sample of the playlists as soon
as each should have been published (`kafka_to_answer`: the first 200 answer minus the record
timestamp, to within ANSWER_POLL_S while at most ASKS_PER_POLL are outstanding; the route also
answers from MongoDB). Missing events at
the deadline are a failure: the report is written, then the command exits non-zero.
"""

from __future__ import annotations

import bisect
import json
import logging
import multiprocessing
import os
import random
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import psutil
from kafka.errors import KafkaError
from prometheus_client.parser import text_string_to_metric_families
from pymongo import InsertOne
from pymongo.database import Database

from playlist2vec import reports, store, topics, vectors
from playlist2vec.cputime import CpuMeter
from playlist2vec.errors import ConfigError, PipelineError
from playlist2vec.events import PlaylistEvent
from playlist2vec.ports import free_addr
from playlist2vec.producer import Producer
from playlist2vec.settings import Settings, split_addr
from playlist2vec.stack import LocalStack

log = logging.getLogger(__name__)

READY_TIMEOUT_S = 600.0  # a JVM start on a busy 2-core machine takes minutes
STOP_TIMEOUT_S = 60.0
DRAIN_TIMEOUT_S = 120.0  # after the last publish, how long missing events may still arrive
POLL_S = 0.02
ANSWER_POLL_S = 0.1  # how often the answer poller asks
ASKS_PER_POLL = 5  # at most this many outstanding samples per round: <= 50 requests/s in all
PACE_S = 0.005  # the shortest sleep of a producer between bursts of due events
LINGER_MS = 20  # how long each producer gathers records into one produce request
MODEL = "bench"


def stream_command(*args: str) -> list[str]:
    """`playlist2vec <args>` with this interpreter (no dependence on PATH)."""
    return [sys.executable, "-c", "from playlist2vec.cli import main; raise SystemExit(main())", *args]


def seed_model(db: Database[dict[str, Any]], version: str, uris: list[str], matrix: np.ndarray,
               subtype: int, status: str = "active") -> None:
    """A new model (active unless told) with these track vectors, shaped like the batch
    registry writes it."""
    store.bulk_write(db[store.TRACK_VECTORS], (
        InsertOne({"_id": {"m": version, "t": uri}, "vector": vectors.encode(row, subtype), "count": 1})
        for uri, row in zip(uris, matrix, strict=True)))
    db[store.MODELS].replace_one({"_id": version}, {
        "_id": version, "status": status, "created_at": datetime.now(UTC),
        "activated_at": datetime.now(UTC) if status == "active" else None,
        "vector_size": int(matrix.shape[1]), "vocab_size": len(uris), "params": {}}, upsert=True)


def bench_event(pid: int, vocab: list[str], rng: random.Random, track_meta: bool = False) -> PlaylistEvent:
    """A distinct playlist of 20-60 tracks, about 10% of them unknown to the model; with
    `track_meta`, each track's metadata too (`track_metadata`), as MPD events carry it."""
    tracks = tuple(rng.choice(vocab) if rng.random() < 0.9
                   else f"spotify:track:unknown{rng.randrange(10**6)}"
                   for _ in range(rng.randint(20, 60)))
    meta = tuple(track_metadata(uri) for uri in tracks) if track_meta else ()
    return PlaylistEvent(pid=pid, modified_at=1_700_000_000, name=f"bench {pid}", tracks=tracks,
                         track_meta=meta)


def track_metadata(uri: str) -> dict[str, Any]:
    """One `track_meta` entry for `uri`, the same for every event that lists it (a track's
    metadata does not change), its artist and album shared with other tracks."""
    n = int(uri[len(uri.rstrip("0123456789")):])  # of spotify:track:bench<n> / unknown<n>
    return {"track_uri": uri, "track_name": f"track {n}", "artist_name": f"artist {n % 5_000}",
            "artist_uri": f"spotify:artist:bench{n % 5_000}", "album_name": f"album {n % 20_000}",
            "album_uri": f"spotify:album:bench{n % 20_000}", "duration_ms": 120_000 + n % 180_000}


def vocabulary(size: int) -> list[str]:
    return [f"spotify:track:bench{i:08d}" for i in range(size)]


@dataclass(frozen=True)
class ProducerShare:
    """One producer process's part: pids `first + index`, `first + index + n`, ... below
    `first + n_events`, each at `started + (pid - first) / rate` (all producers share one
    schedule, so the total is steady)."""

    settings: Settings  # Kafka servers, security and the topic
    index: int
    n: int
    n_events: int
    rate: float
    vocab_size: int
    seed: int
    first: int = 0
    track_meta: bool = False


def publish_share(share: ProducerShare, ready: Any, go: Any, started: Any, acked: Any) -> None:
    """Publish one share (in a child process): encode its events and connect, meet the others at
    `ready`, learn the common start time (`started`, set by the parent before `go`), publish,
    add the acknowledged count to `acked`.

    Events are encoded before the clock starts and sent in bursts of whatever is due, at most
    every PACE_S: the producers cost the measured system as little CPU as they can."""
    topic = share.settings.playlist_topic
    vocab = vocabulary(share.vocab_size)
    rng = random.Random(share.seed * 1000 + share.index)
    pids = range(share.first + share.index, share.first + share.n_events, share.n)
    records = [(event.key, event.to_json())
               for event in (bench_event(pid, vocab, rng, share.track_meta) for pid in pids)]
    # the topic's metadata is fetched on connecting, before the clock starts. The broker's CPU
    # goes by produce requests more than by records: 4 producers at 5,000 events/s cost it 57-72
    # us per event with linger.ms 5 and 22 us with LINGER_MS, as an upstream service batching
    # its edits would send them (the wait is in the measured latency)
    with Producer(share.settings, {"acks": 1, "linger.ms": LINGER_MS, "batch.size": 512 * 1024,
                                   "message.timeout.ms": 60_000, "client.id": f"p2v-bench-{share.index}"},
                  topic=topic) as producer:
        ready.wait()
        go.wait()
        sent = 0
        while sent < len(pids):
            due = bisect.bisect_right(pids, share.first + (time.time() - started.value) * share.rate)
            for key, value in records[sent:due]:
                producer.send(topic, key=key, value=value)
            sent = max(sent, due)
            if sent < len(pids):  # pacing to the schedule, not waiting for a condition
                ahead = started.value + (pids[sent] - share.first) / share.rate - time.time()
                time.sleep(max(ahead, PACE_S))
        producer.flush()  # raises (failing this process) if any event was not acknowledged
        with acked.get_lock():
            acked.value += producer.acked


def publish_all(bench: Settings, options: BenchOptions, started_at: Callable[[float], None],
                events: int | None = None, first: int = 0) -> int:
    """Publish `events` (default `options.events`) playlists from pid `first` with
    `options.producers` processes on one schedule; `started_at` hears the start time once every
    producer is connected. Returns the number of acknowledged events."""
    mp = multiprocessing.get_context("spawn")
    ready, go = mp.Barrier(options.producers + 1), mp.Barrier(options.producers + 1)
    started, acked = mp.Value("d", 0.0), mp.Value("q", 0)
    procs = [mp.Process(target=publish_share, daemon=True, args=(
        ProducerShare(bench, i, options.producers, options.events if events is None else events,
                      options.rate, options.vocab_size, options.seed, first, options.track_meta),
        ready, go, started, acked))
             for i in range(options.producers)]
    for proc in procs:
        proc.start()
    ready.wait(timeout=READY_TIMEOUT_S)
    started.value = time.time() + 0.1
    started_at(started.value)
    go.wait()
    for proc in procs:
        proc.join()
    if any(proc.exitcode != 0 for proc in procs):
        raise PipelineError(f"a producer process failed (exit codes {[p.exitcode for p in procs]})")
    return int(acked.value)


def _get(url: str, timeout_s: float = 2.0) -> int:
    try:
        with urllib.request.urlopen(url, timeout=timeout_s) as answer:
            return int(answer.status)
    except urllib.error.HTTPError as exc:
        return exc.code
    except OSError:
        return 0


def metric_values(text: str) -> dict[str, float]:
    """A Prometheus exposition as `name{"label": "value", ...}` (sorted labels) -> value."""
    return {s.name + json.dumps(s.labels, sort_keys=True) * bool(s.labels): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def _scrape(addr: str) -> dict[str, float]:
    try:
        return metric_values(urllib.request.urlopen(f"http://{addr}/metrics", timeout=2).read().decode())
    except OSError:
        return {}


Children = dict[str, subprocess.Popen[bytes]]  # command name -> its process


def _poll(what: str, check: Callable[[], bool], timeout_s: float, children: Children) -> None:
    deadline = time.monotonic() + timeout_s
    while not check():
        for name, child in children.items():
            if child.poll() is not None:
                raise PipelineError(f"`playlist2vec {name}` exited ({child.returncode}) "
                                    f"while waiting for {what}")
        if time.monotonic() > deadline:
            raise PipelineError(f"timed out after {timeout_s:.0f}s waiting for {what}")
        time.sleep(0.2)


class AnswerPoller(threading.Thread):
    """Asks serving for sampled pids from the moment each is due to be published; records when
    each first answers 200 (an outside check of the histogram: the route also answers from
    MongoDB for a playlist not yet in the index). Every ANSWER_POLL_S it asks the
    ASKS_PER_POLL outstanding samples asked longest ago, so the check costs serving (and
    MongoDB, for pids not in the index yet) a bounded load: asking every outstanding sample
    each round grew to 500 requests/s exactly when the pipeline fell behind, slowing the
    system it measured. With more outstanding, each is timed to within a proportionally longer
    interval."""

    def __init__(self, http_addr: str, due: dict[int, float]) -> None:
        super().__init__(daemon=True)
        self.http_addr, self.due = http_addr, due
        self.seen: dict[int, float] = {}
        self.stop = threading.Event()

    def run(self) -> None:
        asked: dict[int, float] = {}
        while not self.stop.is_set() and len(self.seen) < len(self.due):
            for pid in next_asks(self.due, self.seen, asked, time.time()):
                asked[pid] = time.time()
                if _get(f"http://{self.http_addr}/v1/playlists/{pid}/similar?k=1") == 200:
                    self.seen[pid] = time.time()
            self.stop.wait(ANSWER_POLL_S)


def next_asks(due: Mapping[int, float], seen: Mapping[int, float], asked: Mapping[int, float],
              now: float, limit: int = ASKS_PER_POLL) -> list[int]:
    """The outstanding samples (due by `now`, not yet answered) to ask this round: at most
    `limit`, never-asked first, then those asked longest ago."""
    outstanding = [pid for pid, at in due.items() if at <= now and pid not in seen]
    return sorted(outstanding, key=lambda pid: (asked.get(pid, -1.0), due[pid]))[:limit]


STAGES = {"end_to_end": "kafka_to_servable", "mongo_to_servable": "mongo_to_servable"}
"""Serving's freshness stages the report gives, under the name each gets there."""


def servable_stats(before: dict[str, float], after: dict[str, float]) -> dict[str, Any]:
    """Kafka -> servable and MongoDB -> servable percentiles of the changes serving applied
    between two scrapes of its metrics: its freshness histogram (every applied change observed
    per stage), interpolated within buckets as Prometheus' histogram_quantile does."""
    out: dict[str, Any] = {}
    for stage, name in STAGES.items():
        out |= _stage_stats(before, after, stage, name)
    return out


def _stage_stats(before: dict[str, float], after: dict[str, float], stage: str, name: str
                 ) -> dict[str, Any]:
    prefix = 'p2v_freshness_seconds_bucket{"le": "'
    suffix = f'", "stage": "{stage}"}}'
    counts = sorted((float(key[len(prefix):-len(suffix)]), value - before.get(key, 0.0))
                    for key, value in after.items() if key.startswith(prefix) and key.endswith(suffix))
    total = counts[-1][1] if counts else 0.0
    if total <= 0:
        return {f"{name}_measured": 0}
    out: dict[str, Any] = {f"{name}_measured": int(total)}
    for q in (50, 95, 99):
        rank, lower, below = total * q / 100, 0.0, 0.0
        for upper, cumulative in counts:
            if cumulative >= rank:
                share = (rank - below) / max(cumulative - below, 1e-9)
                value = upper if upper == float("inf") else lower + (upper - lower) * share
                out[f"{name}_p{q}_s"] = round(lower if value == float("inf") else value, 3)
                break
            lower, below = upper, cumulative
    return out


def percentiles(values: list[float], prefix: str) -> dict[str, float]:
    if not values:
        return {f"{prefix}_measured": 0}
    array = np.asarray(values)
    return {f"{prefix}_measured": len(values),
            **{f"{prefix}_p{q}_s": round(float(np.percentile(array, q)), 4) for q in (50, 95, 99)},
            f"{prefix}_max_s": round(float(array.max()), 4)}


STEADY_QUANTILES = (5, 95)  # the write times between which the sustained rate is measured


def latency_stats(docs: list[dict[str, Any]], seen: dict[int, float]) -> dict[str, Any]:
    """From the written vector documents (event_time, updated_at) and the servable times: the
    two latency distributions and the throughput.

    `sustained_throughput_per_s` is the rate at which the writes land once the pipeline is full:
    the events written between the 5th and 95th percentile write times over that span. It is
    the offered rate when the job keeps up and the job's own rate when it falls behind (a
    backlog then feeds it); `latency_growth_s` tells the two apart: Kafka -> MongoDB p50 of the
    last fifth of the events (by record time) minus that of the first fifth, near zero when the
    job keeps up, growing with the run's length when it does not.
    `first_record_to_last_write_per_s` (events / first record to last write) also counts the
    pipeline filling and draining once, so it stays below the offered rate however fast the job.
    """
    if not docs:
        return {"events_measured": 0}

    def ts(value: datetime) -> float:
        return value.replace(tzinfo=UTC).timestamp()

    event_time = np.array([ts(d["event_time"]) for d in docs])
    written = np.array([ts(d["updated_at"]) for d in docs])
    latency = written - event_time
    by_record = latency[np.argsort(event_time, kind="stable")]
    fifth = max(len(docs) // 5, 1)
    start, end = np.percentile(written, STEADY_QUANTILES)
    steady = int(np.count_nonzero((written >= start) & (written <= end)))
    pids = [d["_id"]["p"] for d in docs]
    record_time = dict(zip(pids, event_time.tolist(), strict=True))
    return {
        "events_measured": len(docs),
        **percentiles(latency.tolist(), "kafka_to_mongo"),
        **percentiles([t - record_time[p] for p, t in seen.items() if p in record_time], "kafka_to_answer"),
        "published_rate_per_s": _rate(len(docs), event_time.max() - event_time.min()),
        "sustained_throughput_per_s": _rate(steady, end - start),
        "latency_growth_s": round(float(np.median(by_record[-fifth:]) - np.median(by_record[:fifth])), 4),
        "first_record_to_last_write_per_s": _rate(len(docs), written.max() - event_time.min()),
    }


def _rate(events: int, seconds: float) -> float:
    return round(events / seconds, 1) if seconds > 0 else 0.0


def _start(args: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    with log.open("wb") as out:
        return subprocess.Popen(stream_command(*args), env=os.environ | env, stdout=out,
                                stderr=subprocess.STDOUT, start_new_session=True)


def _stop(child: subprocess.Popen[bytes]) -> None:
    if child.poll() is None:
        child.send_signal(signal.SIGTERM)
    try:
        child.wait(STOP_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        os.killpg(child.pid, signal.SIGKILL)
        child.wait()


def _batches(bench: Settings) -> float:
    return _scrape(bench.stream_metrics_addr).get("p2v_stream_batches_total", 0.0)


def _applied(bench: Settings) -> float:
    """Events the job has written (every benchmark event is a new playlist, so all apply): read
    from its metrics, as a count over the collection would load the server being measured."""
    return _scrape(bench.stream_metrics_addr).get('p2v_stream_events_total{"result": "applied"}', 0.0)


WARM_UP_BATCHES = 2  # the empty first batch, then the one with the warm-up records


def _warm_up(bench: Settings, options: BenchOptions, children: Children) -> None:
    """Run one playlist per partition through the job before measuring: the first micro-batch
    with data pays the Python workers' start, the track table's lookup and the MongoDB client
    (about 20 s on a loaded 2-core machine). Their pids (from `options.events` up) are outside
    the measured range."""
    _poll("the job's first micro-batch", lambda: _batches(bench) >= 1, READY_TIMEOUT_S, children)
    rng = random.Random(options.seed)
    with Producer(bench) as producer:
        for partition in range(options.partitions):
            event = bench_event(options.events + partition, vocabulary(options.vocab_size), rng,
                                options.track_meta)
            producer.send(bench.playlist_topic, key=event.key, value=event.to_json(), partition=partition)
        producer.flush()
    _poll("the warm-up micro-batch", lambda: _batches(bench) >= WARM_UP_BATCHES, READY_TIMEOUT_S,
          children)


def _warm_load(bench: Settings, options: BenchOptions, children: Children) -> None:
    """`options.warm_up_s` of load at the offered rate, written before the measured run starts:
    the JVMs (Spark, the local MongoDB server) compile their hot paths under load, and a
    steady state is measured rather than the first seconds. Pids after the warm-up ones."""
    events = int(options.warm_up_s * options.rate)
    if events <= 0:
        return
    before = _applied(bench)
    publish_all(bench, options, lambda _started: None, events=events,
                first=options.events + options.partitions)
    _poll("the warm-up load in MongoDB", lambda: _applied(bench) >= before + events, DRAIN_TIMEOUT_S,
          children)


@dataclass(frozen=True)
class BenchOptions:
    events: int
    rate: float
    producers: int = 4
    partitions: int = 2
    trigger: str = "250ms"
    max_offsets_per_trigger: int = 20_000
    vocab_size: int = 20_000
    dim: int = 32
    track_meta: bool = False  # events carry each track's metadata (MPD events do)
    serve: bool = True
    samples: int = 50
    seed: int = 0
    warm_up_s: float = 15.0  # seconds of load at the offered rate before the measured run
    spark_master: str = "local[2]"  # of the benchmarked job
    metrics_addr: str | None = None  # where the job serves metrics; None: a free port
    output: Path = field(kw_only=True)  # the report (from_settings: --output or the default path)

    @classmethod
    def from_settings(cls, settings: Settings, *, events: int, rate: float, producers: int = 4,
                      partitions: int = 2, trigger: str = "250ms",
                      max_offsets_per_trigger: int = 20_000, vocab_size: int = 20_000,
                      serve: bool = True, samples: int = 50, warm_up_s: float = 15.0,
                      spark_master: str = "local[2]", metrics_addr: str | None = None,
                      track_meta: bool = False, output: Path | None = None) -> BenchOptions:
        """`bench stream`'s options; a bad trigger or address fails here, not in a child
        process minutes later."""
        from streaming.job import spark_interval

        spark_interval(trigger)
        if metrics_addr is not None:
            try:
                split_addr(metrics_addr)
            except ValueError as exc:
                raise ConfigError(f"--metrics-addr: {exc}") from None
        return cls(events=events, rate=rate, producers=producers, partitions=partitions,
                   trigger=trigger, max_offsets_per_trigger=max_offsets_per_trigger,
                   vocab_size=vocab_size, serve=serve, samples=samples, warm_up_s=warm_up_s,
                   spark_master=spark_master, metrics_addr=metrics_addr, track_meta=track_meta,
                   output=reports.output_path(settings, "stream", output))


def bench_stream(settings: Settings, options: BenchOptions) -> dict[str, Any]:
    """Run the job (and serving) on a fresh topic/database, publish, measure, clean up, write
    the report (playlist2vec.reports) and return its results.

    Raises PipelineError, after writing the report, when events are missing at the deadline.
    """
    report = reports.BenchReport("stream", options)
    suffix = uuid.uuid4().hex[:8]
    bench = settings.model_copy(update={
        "playlist_topic": f"bench-{suffix}", "dlq_topic": f"bench-{suffix}.dlq",
        "mongo_db": f"{settings.mongo_db}_bench_{suffix}", "spark_master": options.spark_master,
        "stream_metrics_addr": options.metrics_addr or free_addr(), "http_addr": free_addr(),
        "serving_instance": f"bench-{suffix}"})
    with store.opened(bench) as db, _cleaned_up(bench, db):
        store.ensure_indexes(db)
        topics.ensure_topics(bench, partitions=options.partitions)
        matrix = np.random.default_rng(options.seed).normal(size=(options.vocab_size, options.dim))
        seed_model(db, MODEL, vocabulary(options.vocab_size), matrix.astype(np.float32), bench.vector_subtype)
        logs = bench.logs_dir
        logs.mkdir(parents=True, exist_ok=True)
        checkpoint = bench.checkpoints_dir / f"bench-{suffix}"
        children = {"stream": _start(["stream", "--trigger", options.trigger, "--checkpoint", str(checkpoint),
                            "--max-offsets-per-trigger", str(options.max_offsets_per_trigger)],
                           bench.to_env(), logs / f"bench-stream-{suffix}.log")}
        try:
            _warm_up(bench, options, children)
            if options.serve:
                children["serve"] = _start(["serve"], bench.to_env(), logs / f"bench-serve-{suffix}.log")
                _poll("serving's /healthz", lambda: _get(f"http://{bench.http_addr}/healthz") == 200,
                      READY_TIMEOUT_S, children)
            _warm_load(bench, options, children)
            result = _measure(bench, options, db, children)
            # the progress counts a batch after its writes land: wait for that report too
            _poll("the last batch's progress report", lambda: _batches(bench) >= WARM_UP_BATCHES + 1,
                  STOP_TIMEOUT_S, children)
            job_metrics = _scrape(bench.stream_metrics_addr)
        finally:
            for child in reversed(children.values()):
                _stop(child)
        batches = job_metrics.get("p2v_stream_batches_total", 0.0)
        result |= {  # the batches include the warm-up ones
            "batches": batches, "mean_batch_s": round(job_metrics.get(
                "p2v_stream_batch_duration_seconds_sum", 0.0) / max(batches, 1.0), 3),
            "job_log": str(logs / f"bench-stream-{suffix}.log"),
        }
    output = report.write(result)
    if not result["complete"]:
        raise PipelineError(f"{options.events - result['events_measured']} of {options.events} events "
                            f"missing from MongoDB at the deadline (report: {output})")
    return result


@contextmanager
def _cleaned_up(bench: Settings, db: Database[dict[str, Any]]) -> Iterator[None]:
    """Drop the benchmark's database and topics when it ends, failed or not: a run that failed
    in its warm-up once left 280k documents behind, which slowed every later run by a third."""
    try:
        yield
    finally:
        db.client.drop_database(db.name)
        client = topics.admin(bench)
        try:
            client.delete_topics([bench.playlist_topic, bench.dlq_topic])
        except KafkaError as exc:  # never created: the failure came first
            log.warning("deleting the benchmark's topics: %s", exc)
        finally:
            client.close()


def _measure(bench: Settings, options: BenchOptions, db: Database[dict[str, Any]],
             children: Children) -> dict[str, Any]:
    step = max(1, options.events // max(options.samples, 1))
    due: dict[int, float] = {}
    poller = AnswerPoller(bench.http_addr, due) if options.serve else None

    def started_at(started: float) -> None:
        meter.start()  # the producers are connected, their events encoded
        due.update({pid: started + pid / options.rate for pid in range(0, options.events, step)})
        if poller is not None:
            poller.start()

    before, served_before = _applied(bench), _scrape(bench.http_addr) if options.serve else {}
    meter = CpuMeter(cpu_roots(bench, children), part_of)
    acked = publish_all(bench, options, started_at)
    vecs = db[store.PLAYLIST_VECTORS]
    measured = {"_id.m": MODEL, "_id.p": {"$lt": options.events}}  # not the warm-up playlists
    try:
        _poll("every event in MongoDB", lambda: _applied(bench) - before >= options.events,
              DRAIN_TIMEOUT_S, children)
    except PipelineError:
        if any(child.poll() is not None for child in children.values()):
            raise
    drained_s = time.time()
    complete = vecs.count_documents(measured) >= options.events
    served: dict[str, Any] = {}
    if poller is not None:
        deadline = time.monotonic() + (DRAIN_TIMEOUT_S if complete else 0)
        def waiting() -> bool:
            sampling = poller.is_alive() and len(poller.seen) < len(due)
            served = servable_stats(served_before, _scrape(bench.http_addr))
            return sampling or served.get("kafka_to_servable_measured", 0) < options.events

        while time.monotonic() < deadline and waiting():
            time.sleep(0.2)
        poller.stop.set()
        poller.join()
        served = servable_stats(served_before, _scrape(bench.http_addr))
    cpu, metered_s = meter.stop(), time.time() - min(due.values(), default=time.time())
    docs = list(vecs.find(measured, {"event_time": 1, "updated_at": 1}))
    return {
        "events": options.events, "complete": complete, "acked": acked,
        "offered_rate_per_s": options.rate, "producers": options.producers,
        "partitions": options.partitions, "trigger": options.trigger,
        "max_offsets_per_trigger": options.max_offsets_per_trigger, "spark_master": bench.spark_master,
        "vocab_size": options.vocab_size, "dim": options.dim, "warm_up_s": options.warm_up_s,
        "track_meta": options.track_meta,
        "all_written_after_first_publish_s": round(drained_s - min(due.values(), default=0.0), 2),
        "answer_samples": len(due) if poller is not None else 0,
        **latency_stats(docs, poller.seen if poller is not None else {}),
        **served,
        **cpu_stats(cpu, metered_s, options.events),
    }


def cpu_roots(bench: Settings, children: Children) -> dict[str, int]:
    """The processes whose CPU the measured phase is charged: the job and serving, the local
    stack's services (none when the services are external), and this process last (its own
    poller, and the producers it reaps)."""
    services = {name: pid for name, process in LocalStack(bench).processes().items()
                if (pid := process.pid()) is not None}
    return {**{name: child.pid for name, child in children.items()}, **services, "bench": os.getpid()}


def part_of(root: str, process: psutil.Process, own: bool) -> str:
    """The part of the system a process's CPU is charged to."""
    if root == "bench":  # this process, and the producers (live, or reaped by it)
        return "bench" if own and process.pid == os.getpid() else "producers"
    if root == "stream":
        if process.name().startswith("java"):
            return "spark_jvm"
        return "spark_python_workers" if "pyspark.daemon" in process.cmdline() else "stream_driver"
    if root.startswith("kafka"):
        return "kafka"
    return "spark_cluster" if root.startswith("spark-") else root


def cpu_stats(cpu: Mapping[str, float], seconds: float, events: int) -> dict[str, Any]:
    """CPU seconds by part over the measured phase (publish to the last servable change), per
    event, and the cores in use on average."""
    total = sum(cpu.values())
    return {"cpu_s": dict(cpu), "cpu_us_per_event": {part: round(s / events * 1e6) for part, s in cpu.items()}
            | {"total": round(total / events * 1e6)},
            "cpu_cores_in_use": round(total / seconds, 2) if seconds > 0 else 0.0}

