"""The canary probe: publishes a canary playlist at a fixed interval and times how long the
HTTP API takes to serve it, as a user's edit would travel (Kafka -> stream -> MongoDB ->
change stream -> index -> HTTP answer).

The canary (pid P) and ANCHORS anchor playlists (P+1..P+ANCHORS) live in the reserved range
`events.CANARY_PIDS`, so no answer about a real playlist returns them. Anchor j holds one
known track X_j; each round gives the canary the next anchor's track and waits until
`/v1/playlists/P/similar` lists that anchor at cosine > `MATCH`, which only the served
vector of this round's edit satisfies: consecutive rounds never expect the same anchor, a
late previous round shows a different one, and a probe (re)starting first looks which anchor
is served and begins with the next. `modified_at` strictly increases round by round, so
newest-wins never drops a canary edit.
"""

from __future__ import annotations

import logging
import signal
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import httpx
from prometheus_client import CollectorRegistry, Counter, Histogram

from playlist2vec import store
from playlist2vec.errors import ConfigError, InvalidInput, NotReady, StackError, Unavailable
from playlist2vec.events import CANARY_PIDS, PlaylistEvent
from playlist2vec.exposition import serve_registry
from playlist2vec.producer import Producer
from playlist2vec.settings import Settings, split_addr

log = logging.getLogger(__name__)

ANCHORS = 3
MATCH = 0.999
"""Cosine above which the canary's served vector is its round's anchor track's (distinct
tracks of a trained model are far below it)."""
FRESHNESS_BUCKETS = (0.1, 0.25, 0.5, 1.0, 1.5, 2.0, 3.0, 5.0, 10.0, 30.0, 60.0)
"""Seconds: the sub-second common case up to a probe timeout."""
TIMEOUT, PUBLISH = "timeout", "publish"


class ProbeMetrics:
    """The probe's metrics (names per ARCHITECTURE.md) in one registry, recorded through helpers."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry if registry is not None else CollectorRegistry()
        self.freshness = Histogram(
            "p2v_probe_freshness_seconds",
            "seconds from publishing a canary edit to the HTTP API serving it",
            buckets=FRESHNESS_BUCKETS, registry=self.registry)
        self.failures = Counter(
            "p2v_probe_failures_total",
            "canary rounds that failed: the edit could not be published, or was not served in time",
            ["reason"], registry=self.registry)
        for reason in (TIMEOUT, PUBLISH):
            self.failures.labels(reason=reason)

    def served(self, seconds: float) -> None:
        self.freshness.observe(seconds)

    def failed(self, reason: str) -> None:
        self.failures.labels(reason=reason).inc()

    def serve(self, addr: str) -> None:
        """Expose the registry on `addr` (host:port) from a daemon thread."""
        serve_registry(self.registry, addr, "P2V_PROBE_METRICS_ADDR")


@dataclass(frozen=True)
class ProbeOptions:
    api_url: str
    interval_s: float = 10.0
    timeout_s: float = 20.0
    pid: int = CANARY_PIDS.start
    tracks: tuple[str, ...] = ()
    poll_s: float = 0.1
    rounds: int | None = None  # the command stops after this many (None: at SIGINT/SIGTERM)
    metrics_addr: str = "127.0.0.1:9110"  # where the command serves its metrics

    def __post_init__(self) -> None:
        if not (CANARY_PIDS.start <= self.pid and self.pid + ANCHORS in CANARY_PIDS):
            raise InvalidInput(f"--pid must be in the canary range {CANARY_PIDS.start}.."
                               f"{CANARY_PIDS.stop - 1 - ANCHORS}")
        if self.tracks and len(set(self.tracks)) != ANCHORS:
            raise InvalidInput(f"give {ANCHORS} distinct tracks (or none: the active model's)")

    @classmethod
    def from_settings(cls, settings: Settings, *, api_url: str | None = None,
                      interval_s: float = 10.0, timeout_s: float = 20.0,
                      pid: int = CANARY_PIDS.start, tracks: Sequence[str] = (),
                      rounds: int | None = None, metrics_addr: str | None = None) -> ProbeOptions:
        """The `probe` command's options: its flags, and settings where a flag is not given."""
        addr = metrics_addr or settings.probe_metrics_addr
        try:
            split_addr(addr)
        except ValueError as exc:
            raise ConfigError(f"--metrics-addr: {exc}") from None
        return cls(api_url=api_url or f"http://{settings.http_addr}", interval_s=interval_s,
                   timeout_s=timeout_s, pid=pid, tracks=tuple(tracks), rounds=rounds,
                   metrics_addr=addr)


@dataclass(frozen=True)
class Round:
    """One round's outcome: seconds to served, or the failure reason."""

    number: int
    seconds: float | None = None
    failure: str | None = None


class Probe:
    """Publishes canary rounds and checks them over HTTP; `run` loops until stopped."""

    def __init__(self, settings: Settings, options: ProbeOptions, metrics: ProbeMetrics,
                 clock: Callable[[], float] = time.time) -> None:
        self.settings = settings
        self.options = options
        self.metrics = metrics
        self.tracks = options.tracks or known_tracks(settings)
        self._clock = clock
        self._modified_at = 0
        self._round = 0
        self._anchor: int | None = None  # the anchor the next round expects
        self._producer: Producer | None = None
        self._anchored = False

    @property
    def anchors(self) -> list[int]:
        return [self.options.pid + 1 + j for j in range(ANCHORS)]

    def _event(self, pid: int, name: str, track: str) -> PlaylistEvent:
        self._modified_at = max(int(self._clock()), self._modified_at + 1)
        return PlaylistEvent(pid=pid, name=name, tracks=(track,), modified_at=self._modified_at)

    def _publish(self, events: Sequence[PlaylistEvent]) -> None:
        if self._producer is None or self._producer.failed:
            if self._producer is not None:
                self._producer.close()
                self._producer = None
            self._producer = Producer(self.settings, {
                "message.timeout.ms": int(self.options.timeout_s * 1000), "linger.ms": 0})
        for event in events:
            self._producer.send(self.settings.playlist_topic, key=event.key, value=event.to_json())
        self._producer.flush()

    def round(self, http: httpx.Client) -> Round:
        """Publish the next canary edit and wait until it is served; records the outcome."""
        number, self._round = self._round, self._round + 1
        if self._anchor is None:
            served = self._served_anchor(http)
            self._anchor = 0 if served is None else (served + 1) % ANCHORS
        anchor, self._anchor = self._anchor, (self._anchor + 1) % ANCHORS
        events = [] if self._anchored else [
            self._event(pid, f"p2v canary anchor {j}", self.tracks[j])
            for j, pid in enumerate(self.anchors)]
        events.append(self._event(self.options.pid, "p2v canary", self.tracks[anchor]))
        started = time.monotonic()
        deadline = started + self.options.timeout_s
        try:
            self._publish(events)
        except StackError as exc:
            log.warning("canary round %d: %s", number, exc)
            self.metrics.failed(PUBLISH)
            return Round(number, failure=PUBLISH)
        self._anchored = True
        while True:
            if self._served_anchor(http) == anchor:
                seconds = time.monotonic() - started
                self.metrics.served(seconds)
                return Round(number, seconds=seconds)
            if time.monotonic() >= deadline:
                log.warning("canary round %d not served within %.1f s", number, self.options.timeout_s)
                self.metrics.failed(TIMEOUT)
                return Round(number, failure=TIMEOUT)
            time.sleep(self.options.poll_s)

    def _served_anchor(self, http: httpx.Client) -> int | None:
        """Which anchor the served canary matches (None: none, or no answer)."""
        try:
            reply = http.get(f"/v1/playlists/{self.options.pid}/similar", params={"k": 10})
        except httpx.HTTPError:
            return None
        if reply.status_code != 200:
            return None
        matched = [item["pid"] for item in reply.json()["items"] if item["score"] > MATCH]
        return next((j for j, pid in enumerate(self.anchors) if pid in matched), None)

    def run(self, stop: threading.Event, rounds: int | None = None,
            report: Callable[[Round], None] = lambda _: None) -> None:
        """A round every `interval_s` (a slow round delays the next, never overlaps it) until
        `stop` is set or `rounds` were run."""
        with httpx.Client(base_url=self.options.api_url, timeout=self.options.timeout_s) as http:
            try:
                while rounds is None or self._round < rounds:
                    began = time.monotonic()
                    report(self.round(http))
                    if stop.wait(max(0.0, began + self.options.interval_s - time.monotonic())):
                        break
            finally:
                if self._producer is not None:
                    self._producer.close()


def run_probe(settings: Settings, options: ProbeOptions, echo: Callable[[str], None] = print) -> None:
    """The `probe` command: a line per round until SIGINT/SIGTERM or `options.rounds` rounds,
    metrics on `options.metrics_addr`; Unavailable when any of a fixed number of rounds failed."""
    metrics = ProbeMetrics()
    probe = Probe(settings, options, metrics)
    metrics.serve(options.metrics_addr)
    stop = threading.Event()
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    failed: list[Round] = []

    def report(outcome: Round) -> None:
        if outcome.failure is not None:
            failed.append(outcome)
            echo(f"round {outcome.number}: FAILED ({outcome.failure})")
        else:
            echo(f"round {outcome.number}: served in {outcome.seconds:.2f}s")

    echo(f"probing {options.api_url} with canary pid {options.pid}; "
         f"metrics on http://{options.metrics_addr}/metrics")
    probe.run(stop, options.rounds, report)
    if options.rounds is not None and failed:
        raise Unavailable(f"{len(failed)} of {options.rounds} canary rounds failed")


def known_tracks(settings: Settings) -> tuple[str, ...]:
    """`ANCHORS` tracks of the active model, for the canary and its anchors."""
    with store.opened(settings) as db:
        version = store.active_model(db)["_id"]
        docs: list[Any] = list(db[store.TRACK_VECTORS].find(store.track_vector_query(version), {"_id": 1})
                               .limit(ANCHORS))
    if len(docs) < ANCHORS:
        raise NotReady(f"model {version} has fewer than {ANCHORS} tracks to probe with")
    return tuple(doc["_id"]["t"] for doc in docs)
