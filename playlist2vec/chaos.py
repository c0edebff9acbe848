"""`playlist2vec chaos`: a seeded fault-injection run of the whole pipeline, checked against an oracle.

It starts its own local stack, trains a small model, runs the stream job and the server as child
processes, publishes a mix of valid, stale, deleting and malformed or poison events, and
meanwhile `kill -9`s the stream job, the server, Kafka or the MongoDB server at random moments
(only processes it started itself, only on loopback), restarting each. Then it checks what the
system promises against an oracle computed independently from the topic: MongoDB's final
playlists and vectors equal a sequential replay of the topic over the corpus, every rejected
record is in the dead-letter topic, and the server's top-10 for sampled playlists equals exact
search over MongoDB.
"""

from __future__ import annotations

import ipaddress
import json
import os
import random
import signal
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import numpy as np
from kafka import KafkaConsumer, TopicPartition
from kafka.errors import KafkaError
from pymongo.errors import PyMongoError

from playlist2vec import events, kafka_security, store, vectors
from playlist2vec.children import Children, wait_for
from playlist2vec.errors import ConfigError, PipelineError, StackError
from playlist2vec.foldin import FoldIn
from playlist2vec.producer import Producer
from playlist2vec.settings import Settings, split_addr
from playlist2vec.stack import LocalStack

Say = Callable[[str], None]
VICTIMS = ("stream", "serve", "kafka", "mongo")
POISON = ("bad_json", "bad_utf8", "surrogate_name", "surrogate_track", "surrogate_meta", "deep_nesting",
          "huge_number", "huge_tombstone_key", "negative_pid", "key_mismatch", "too_many_tracks",
          "too_large", "future_timestamp")
NEW_PID_BASE = 10_000_000
SAMPLE = 20  # playlists whose served top-10 is checked


@dataclass(frozen=True)
class ChaosOptions:
    events: int = 20_000
    rounds: int = 10
    seed: int = 1
    poison: float = 0.05
    rate: float = 1_000.0
    playlists: int = 1_000
    settle_timeout_s: float = 600.0
    report: Path | None = None  # where the report is written (from_settings: a default path)

    @classmethod
    def from_settings(cls, settings: Settings, *, events: int = 20_000, rounds: int = 10, seed: int = 1,
                      poison: float = 0.05, rate: float = 1_000.0, playlists: int = 1_000,
                      settle_timeout_s: float = 600.0, report: Path | None = None) -> ChaosOptions:
        """`chaos`'s options; the report goes to `report`, else P2V_HOME/chaos/report.json."""
        return cls(events=events, rounds=rounds, seed=seed, poison=poison, rate=rate,
                   playlists=playlists, settle_timeout_s=settle_timeout_s,
                   report=report or settings.home / "chaos" / "report.json")


@dataclass
class ChaosReport:
    seed: int
    events: int = 0
    invalid: int = 0
    faults: list[tuple[float, str]] = field(default_factory=list)
    restarts: dict[str, int] = field(default_factory=dict)
    dlq_missing: int = 0
    dlq_duplicates: int = 0
    mismatches: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0

    @property
    def passed(self) -> bool:
        return self.dlq_missing == 0 and not any(self.mismatches.values())

    def summary(self) -> str:
        kinds = ", ".join(f"{v} x{sum(1 for _, f in self.faults if f == v)}" for v in VICTIMS)
        return (f"chaos seed {self.seed}: {'PASSED' if self.passed else 'FAILED'} in {self.seconds:.0f}s\n"
                f"  faults (kill -9): {len(self.faults)} ({kinds}); restarts of crashed jobs: "
                f"{sum(self.restarts.values())}\n"
                f"  events {self.events}, of them invalid {self.invalid}; dead letters missing "
                f"{self.dlq_missing}, duplicated {self.dlq_duplicates}\n"
                f"  mismatches: {', '.join(f'{k} {v}' for k, v in self.mismatches.items())}")


# -- what is published -------------------------------------------------------------------

Record = tuple[bytes | None, bytes | None]


def poison_record(kind: str, pid: int, track: str, now: int, max_bytes: int) -> Record:
    """One malformed or hostile record of `kind` (POISON) aimed at playlist `pid`."""
    key = str(pid).encode()
    body = {"pid": pid, "name": "poison", "tracks": [track], "modified_at": now}

    def dump(**changes: Any) -> bytes:
        return json.dumps(body | changes).encode()

    values: dict[str, Callable[[], Record]] = {
        "bad_json": lambda: (key, b'{"pid": %d, "name": ' % pid),
        "bad_utf8": lambda: (key, b'{"pid": %d, "name": "\xff\xfe"}' % pid),
        "surrogate_name": lambda: (key, dump(name="\ud800")),
        "surrogate_track": lambda: (key, dump(tracks=[track, "\udfff"])),
        "surrogate_meta": lambda: (key, dump(track_meta=[{"track_uri": track, "track_name": "\ud800"}])),
        "deep_nesting": lambda: (key, b"[" * 100_000 + b"]" * 100_000),
        "huge_number": lambda: (key, b'{"pid": %d, "name": "x", "tracks": [], "modified_at": %s}'
                                % (pid, b"9" * 5_000)),
        "huge_tombstone_key": lambda: (b"9" * 5_000, None),
        "negative_pid": lambda: (b"-5", dump(pid=-5)),
        "key_mismatch": lambda: (str(pid + 1).encode(), dump()),
        "too_many_tracks": lambda: (key, dump(tracks=[track] * (events.MAX_TRACKS + 1))),
        "too_large": lambda: (key, dump(name="x" * (max_bytes + 1))),
        "future_timestamp": lambda: (key, dump(modified_at=now + 30 * 86_400)),
    }
    return values[kind]()


def event_plan(options: ChaosOptions, corpus_pids: list[int], pool: list[str], now: int,
               max_bytes: int) -> Iterator[Record]:
    """The seeded mix: edits (some stale), new playlists, deletions, tombstones, and poison."""
    rng = random.Random(options.seed)
    pids = corpus_pids + [NEW_PID_BASE + i for i in range(max(1, len(corpus_pids) // 2))]
    for _ in range(options.events):
        pid = rng.choice(pids)
        roll = rng.random()
        if roll < options.poison:
            yield poison_record(rng.choice(POISON), pid, rng.choice(pool), now, max_bytes)
            continue
        key = str(pid).encode()
        if roll < options.poison + 0.03:
            yield key, None  # a tombstone
        elif roll < options.poison + 0.06:
            deletion = {"pid": pid, "deleted": True, "modified_at": now - rng.randint(0, 600)}
            yield key, json.dumps(deletion).encode()
        else:
            # modified_at spread over the last hour: many events arrive out of order (stale)
            tracks = rng.sample(pool, rng.randint(1, min(30, len(pool))))
            if rng.random() < 0.02:
                tracks.append(f"spotify:track:unknown{rng.randint(0, 99)}")
            yield key, json.dumps({"pid": pid, "name": f"chaos {pid}", "tracks": tracks,
                                   "modified_at": now - rng.randint(0, 3_600)}).encode()


class Publisher(threading.Thread):
    """Publishes the plan at `rate`, resending whatever a Kafka outage refused, until all is acked."""

    def __init__(self, settings: Settings, records: list[Record], rate: float, deadline: float) -> None:
        super().__init__(name="chaos-publisher", daemon=True)
        self.settings, self.records, self.rate, self.deadline = settings, records, rate, deadline
        self.acked = 0
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            self._publish()
        except BaseException as exc:  # reported by the caller
            self.error = exc

    def _producer(self) -> Producer:
        return Producer(self.settings, {"acks": "all", "linger.ms": 5, "message.max.bytes": 4 << 20,
                                        "request.timeout.ms": 10_000, "retries": 3,
                                        "message.timeout.ms": 30_000})

    def _publish(self) -> None:
        chunk = max(1, int(self.rate // 10))
        producer: Producer | None = None
        position = 0
        while position < len(self.records):
            if time.monotonic() > self.deadline:
                raise PipelineError(f"published only {position} of {len(self.records)} events in time")
            started = time.monotonic()
            batch = self.records[position:position + chunk]
            try:
                producer = producer or self._producer()
                for key, value in batch:
                    producer.send(self.settings.playlist_topic, key=key, value=value)
                producer.flush()
            except StackError:
                # Kafka is down: start again from this chunk (a resent record is harmless:
                # the oracle replays the topic as it is, duplicates included)
                if producer is not None:
                    producer.close()  # drops its unsent records: they are resent below
                producer = None
                time.sleep(1.0)
                continue
            position += len(batch)
            self.acked = position
            time.sleep(max(0.0, len(batch) / self.rate - (time.monotonic() - started)))
        if producer is not None:
            producer.close()


# -- the oracle ------------------------------------------------------------------------------

@dataclass
class Oracle:
    """The state the topic leads to from the corpus, replayed one record at a time."""

    playlists: dict[int, dict[str, Any]]  # pid -> {modified_at, deleted, tracks}
    invalid: set[tuple[int, int]]  # (partition, offset) of every rejected record
    streamed: set[int] = field(default_factory=set)  # pids whose state an event decided

    def apply(self, partition: int, offset: int, key: bytes | None, value: bytes | None,
              timestamp_s: int) -> None:
        try:
            event = events.parse_event(key, value, timestamp_s)
        except Exception:  # the oracle asks only "valid or not"; the job must say why
            self.invalid.add((partition, offset))
            return
        current = self.playlists.get(event.pid)
        if event.tombstone:  # deletes whatever the clocks say, ordered after the stored state
            modified_at = max(event.modified_at, current["modified_at"]) if current else event.modified_at
            self.playlists[event.pid] = {"modified_at": modified_at, "deleted": True, "tracks": []}
            self.streamed.add(event.pid)
        elif current is None or event.modified_at > current["modified_at"] or (
                event.modified_at == current["modified_at"] and (event.deleted or not current["deleted"])):
            # newer wins; on a tie a deletion wins (the snapshot it removed cannot come back)
            self.playlists[event.pid] = {"modified_at": event.modified_at, "deleted": event.deleted,
                                         "tracks": [] if event.deleted else list(event.tracks)}
            self.streamed.add(event.pid)

    def fold_in(self, index: vectors.TrackIndex, min_support: int) -> FoldIn:
        """The fold-in state the stream's events leave (the corpus playlists never fold in)."""
        state = FoldIn(index, max(min_support, 1))
        for pid in sorted(self.streamed):
            if not self.playlists[pid]["deleted"]:
                state.update(pid, self.playlists[pid]["tracks"])
        return state


def topic_records(settings: Settings, topic: str) -> Iterator[Any]:
    """Every record of `topic` as it stands now, partition by partition in offset order."""
    consumer = KafkaConsumer(**kafka_security.client_config(settings), enable_auto_commit=False,
                             fetch_max_bytes=8 << 20, max_partition_fetch_bytes=8 << 20)
    try:
        partitions = [TopicPartition(topic, p) for p in sorted(consumer.partitions_for_topic(topic) or ())]
        consumer.assign(partitions)
        consumer.seek_to_beginning(*partitions)
        ends = consumer.end_offsets(partitions)
        for tp in partitions:
            consumer.assign([tp])
            consumer.seek_to_beginning(tp)
            while consumer.position(tp) < ends[tp]:
                for records in consumer.poll(timeout_ms=2_000).values():
                    yield from (r for r in records if r.offset < ends[tp])
    finally:
        consumer.close()


def dead_letter_sources(settings: Settings) -> list[str]:
    """The `source` header (topic/partition/offset) of every dead letter."""
    return [dict(r.headers).get("source", b"").decode() for r in topic_records(settings, settings.dlq_topic)]


def mismatches(db: Any, oracle: Oracle, version: str, min_support: int = 0) -> dict[str, int]:
    """Playlists and vectors of `version` in MongoDB that differ from the oracle, and (with
    fold-in on) tracks whose stored fold-in support differs from the oracle's. With fold-in on,
    a playlist with no trained track is not compared by vector: its mean took its tracks'
    provisional vectors as they stood when it was written (the others' means are over their
    trained tracks alone, `foldin.counted`)."""
    uris, matrix = store.load_track_vectors(db, version)
    lookup = dict(zip(uris, matrix, strict=True))
    pids = list(oracle.playlists)
    stored = {d["_id"]: d for d in db[store.PLAYLISTS].find({"_id": {"$in": pids}})}
    keys = [{"m": version, "p": pid} for pid in pids]
    stored_vectors = {d["_id"]["p"]: d for d in db[store.PLAYLIST_VECTORS].find({"_id": {"$in": keys}})}
    bad = {"playlists": 0, "vectors": 0}
    for pid, want in oracle.playlists.items():
        doc = stored.get(pid) or {}
        got_playlist = {"modified_at": doc.get("modified_at"), "deleted": bool(doc.get("deleted")),
                        "tracks": list(doc.get("tracks", ()))}
        if got_playlist != want:
            bad["playlists"] += 1
        if min_support and want["tracks"] and not any(t in lookup for t in want["tracks"]):
            continue
        expected, _ = (None, 0) if want["deleted"] else vectors.mean_vector(want["tracks"], lookup)
        got = stored_vectors.get(pid, {}).get("vector")
        if (expected is None) != (got is None) or (
                expected is not None and not np.allclose(vectors.decode(got), expected, atol=1e-5)):
            bad["vectors"] += 1
    if min_support:
        expected_support = {t: s.support for t, s in
                            oracle.fold_in(vectors.TrackIndex.of(uris, matrix), min_support).states.items()}
        stored_support = {d["_id"]["t"]: d.get("support", 0) for d in db[store.TRACK_VECTORS].find(
            {"_id.m": version, "provisional": True}, {"support": 1})}
        bad["fold_in"] = sum(stored_support.get(t, 0) != expected_support.get(t, 0)
                             for t in set(stored_support) | set(expected_support))
    return bad


def served_mismatches(db: Any, http: httpx.Client, version: str, rng: random.Random) -> int:
    """Sampled playlists whose served top-10 scores differ from exact search over MongoDB."""
    docs = list(db[store.PLAYLIST_VECTORS].find({"_id.m": version, "vector": {"$exists": True},
                                                 "deleted": {"$ne": True}}, {"vector": 1}))
    if len(docs) < 2:
        return 0
    pids = [d["_id"]["p"] for d in docs]
    unit = vectors.normalize(np.stack([vectors.decode(d["vector"]) for d in docs]))
    bad = 0
    for row in rng.sample(range(len(pids)), min(SAMPLE, len(pids))):
        _, scores = vectors.cosine_top_k(unit[row], unit, 10, exclude=[row])
        try:
            reply = http.get(f"/v1/playlists/{pids[row]}/similar", params={"k": 10})
            served = [item["score"] for item in reply.json()["items"]] if reply.status_code == 200 else []
        except httpx.HTTPError:
            served = []
        if len(served) != len(scores) or not np.allclose(served, scores, atol=1e-3):
            bad += 1
    return bad


# -- the run ---------------------------------------------------------------------------------

def require_loopback(settings: Settings) -> None:
    """Chaos only ever targets services on this machine."""
    hosts = [split_addr(a.strip())[0] for a in settings.kafka_bootstrap.split(",")]
    hosts += [urlsplit(settings.mongo_uri.get_secret_value()).hostname or "",
              split_addr(settings.http_addr)[0]]
    for host in hosts:
        if host != "localhost" and not ipaddress.ip_address(host).is_loopback:
            raise ConfigError(f"chaos runs against loopback services only, not {host}")


class Faults(threading.Thread):
    """`rounds` kill -9 rounds at seeded random moments, each victim restarted after a short outage."""

    def __init__(self, options: ChaosOptions, stack: LocalStack, children: Children,
                 started: float, report: ChaosReport, lock: threading.Lock) -> None:
        super().__init__(name="chaos-faults", daemon=True)
        self.rng = random.Random(options.seed + 1)
        self.options, self.stack, self.children = options, stack, children
        self.started, self.report, self.lock = started, report, lock
        self.error: BaseException | None = None
        self.down: str | None = None  # the victim of the running round, until it is restarted

    def run(self) -> None:
        try:
            for _ in range(self.options.rounds):
                time.sleep(self.rng.uniform(2.0, 6.0))
                victim = self.rng.choice(VICTIMS)
                with self.lock:
                    self.report.faults.append((round(time.monotonic() - self.started, 1), victim))
                    self._kill(victim)
                    self.down = victim
                time.sleep(self.rng.uniform(0.5, 3.0))
                with self.lock:
                    self._restart(victim)
                    self.down = None
        except BaseException as exc:  # reported by the caller
            self.error = exc

    def _kill(self, victim: str) -> None:
        if victim in ("stream", "serve"):
            self.children.kill(victim)
        else:
            process = self.stack.processes()[victim]
            pid = process.pid()
            if pid is not None:
                os.kill(pid, signal.SIGKILL)
                wait_for(f"{victim} to die", lambda: not process.alive(), 30)

    def _restart(self, victim: str) -> None:
        if victim in ("stream", "serve"):
            self.children.start(victim)
        else:
            self.stack.up()


def restart_crashed(children: Children, report: ChaosReport, down: str | None = None) -> None:
    """A job that died of an outage (not of our kill: `down` is left down) is restarted, as a
    supervisor would."""
    for name in ("stream", "serve"):
        if name != down and not children.alive(name):
            report.restarts[name] = report.restarts.get(name, 0) + 1
            children.start(name)


def run_chaos(settings: Settings, options: ChaosOptions, say: Say = print) -> ChaosReport:
    """The whole run; the report says what was injected and whether everything held."""
    require_loopback(settings)
    stack = LocalStack(settings)
    if stack.pid("kafka") is not None or stack.pid("mongo") is not None:
        raise ConfigError("chaos kills the services it starts: stop the running stack first "
                          "(`playlist2vec stack down`) or use another P2V_HOME")
    report = ChaosReport(seed=options.seed)
    children = Children(settings, log_prefix="chaos")
    corpus = settings.home / "chaos" / "corpus"
    began = time.monotonic()
    try:
        say("chaos: starting the stack, generating and training a model")
        stack.up()
        children.run("generate", "generate", "--playlists", str(options.playlists), "--out", str(corpus),
                     "--seed", str(options.seed))
        children.run("train", "train", "--input", str(corpus))
        with store.opened(settings) as db:
            version = str(store.active_model(db)["_id"])
            baseline = {d["_id"]: {"modified_at": d["modified_at"], "deleted": bool(d.get("deleted")),
                                   "tracks": list(d.get("tracks", ()))}
                        for d in db[store.PLAYLISTS].find({}, {"modified_at": 1, "deleted": 1, "tracks": 1})}
            pool = sorted({t for p in baseline.values() for t in p["tracks"]})
            records = list(event_plan(options, sorted(baseline), pool, int(time.time()), 1 << 20))
            children.start("stream", "stream")
            children.start("serve", "serve", "--index", "exact")
            with httpx.Client(base_url=f"http://{settings.http_addr}", timeout=10) as http:
                wait_for("the server's index", lambda: _ok(http, "/readyz"), 300, children)
                say(f"chaos: publishing {len(records)} events with {options.rounds} kill -9 rounds")
                lock = threading.Lock()
                publish_until = time.monotonic() + options.settle_timeout_s + len(records) / options.rate
                publisher = Publisher(settings, records, options.rate, publish_until)
                faults = Faults(options, stack, children, time.monotonic(), report, lock)
                publisher.start()
                faults.start()
                while publisher.is_alive() or faults.is_alive():
                    time.sleep(0.5)
                    with lock:
                        restart_crashed(children, report, faults.down)
                for thread in (publisher, faults):
                    if thread.error is not None:
                        raise PipelineError(f"chaos {thread.name} failed: {thread.error}")
                stack.up()
                restart_crashed(children, report)
                report.events = len(records)
                say("chaos: faults done; replaying the topic for the oracle")
                oracle = Oracle(playlists=dict(baseline), invalid=set())
                for record in topic_records(settings, settings.playlist_topic):
                    oracle.apply(record.partition, record.offset, record.key, record.value,
                                 record.timestamp // 1000)
                report.invalid = len(oracle.invalid)
                say("chaos: waiting for MongoDB and the server to converge")
                report.mismatches = _settle(settings, db, http, oracle, version, options, children, report)
    finally:
        children.stop()
        stack.down()
        report.seconds = time.monotonic() - began
    if options.report is not None:
        options.report.parent.mkdir(parents=True, exist_ok=True)
        options.report.write_text(json.dumps(asdict(report) | {"passed": report.passed}, indent=2))
    return report


def _ok(http: httpx.Client, path: str) -> bool:
    try:
        return http.get(path).status_code == 200
    except httpx.HTTPError:
        return False


def _settle(settings: Settings, db: Any, http: httpx.Client, oracle: Oracle, version: str,
            options: ChaosOptions, children: Children, report: ChaosReport) -> dict[str, int]:
    """Poll until MongoDB, the dead letters and the served answers equal the oracle, or the
    deadline; the last comparison counts. (The job writes MongoDB from its tasks and publishes
    a batch's dead letters after them, so MongoDB can be complete before the letters are.)"""
    rng = random.Random(options.seed + 2)
    wanted = {f"{settings.playlist_topic}/{p}/{o}" for p, o in oracle.invalid}
    deadline = time.monotonic() + options.settle_timeout_s
    while True:
        restart_crashed(children, report)
        try:
            sources = dead_letter_sources(settings)
            report.dlq_missing = len(wanted - set(sources))
            report.dlq_duplicates = len(sources) - len(set(sources))
            found = mismatches(db, oracle, version, settings.fold_in_min_support)
            # -1: not checked yet (the server is only compared once MongoDB matches)
            found["served"] = served_mismatches(db, http, version, rng) if not any(found.values()) else -1
        except (PyMongoError, KafkaError):  # a service still recovering: look again
            found = {"playlists": -1, "vectors": -1, "served": -1}
        if (not any(found.values()) and not report.dlq_missing) or time.monotonic() > deadline:
            return found
        time.sleep(2.0)
