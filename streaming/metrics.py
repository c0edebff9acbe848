"""The streaming job's Prometheus metrics (names per ARCHITECTURE.md), recorded through helpers."""

from __future__ import annotations

from collections.abc import Mapping

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from playlist2vec.exposition import serve_registry
from streaming.phases import PHASES

RESULTS = ("applied", "stale", "invalid", "deleted")
# A micro-batch takes from ~0.1 s (no data) to tens of seconds (a model reload, a backlog).
DURATION_BUCKETS_S = (0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0, 60.0, 120.0)


class StreamMetrics:
    """All streaming metrics in one registry (a fresh one unless given); no side effects."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry if registry is not None else CollectorRegistry()
        self.batches = Counter("p2v_stream_batches_total", "Micro-batches completed",
                               registry=self.registry)
        self.batch_duration = Histogram(
            "p2v_stream_batch_duration_seconds", "Wall time of a micro-batch, seconds",
            buckets=DURATION_BUCKETS_S, registry=self.registry)
        self.events = Counter("p2v_stream_events_total", "Playlist events by outcome",
                              ["result"], registry=self.registry)
        for result in RESULTS:
            self.events.labels(result=result)
        self.lag = Gauge("p2v_stream_kafka_lag_messages",
                         "Records in Kafka not yet processed, per partition",
                         ["partition"], registry=self.registry)
        self.unknown_tracks = Counter(
            "p2v_stream_unknown_tracks_total",
            "Track occurrences in applied playlists that the active model has no vector for "
            "(neither trained nor provisional)", registry=self.registry)
        self.task_seconds = Counter(
            "p2v_stream_task_seconds_total", "Wall seconds partition tasks spent, by phase, summed over "
            "tasks (streaming/phases.py)", ["phase"], registry=self.registry)
        for phase in PHASES:
            self.task_seconds.labels(phase=phase)
        self.provisional_vectors = Counter(
            "p2v_stream_provisional_vectors_total",
            "Provisional (folded-in) track vectors the stream wrote for the active model",
            registry=self.registry)

    def record_batch(self, duration_s: float) -> None:
        self.batches.inc()
        self.batch_duration.observe(duration_s)

    def record_events(self, counts: Mapping[str, int]) -> None:
        for result, n in counts.items():
            if n:
                self.events.labels(result=result).inc(n)

    def record_task_seconds(self, seconds: Mapping[str, float]) -> None:
        for phase, s in seconds.items():
            if s > 0:
                self.task_seconds.labels(phase=phase).inc(s)

    def record_unknown_tracks(self, n: int) -> None:
        self.unknown_tracks.inc(n)

    def record_provisional_vectors(self, n: int) -> None:
        self.provisional_vectors.inc(n)

    def record_lag(self, lag: Mapping[str, int]) -> None:
        for partition, n in lag.items():
            self.lag.labels(partition=partition).set(n)

    def serve(self, addr: str) -> None:
        """Expose the registry on `addr` (host:port) from a daemon thread."""
        serve_registry(self.registry, addr, "P2V_STREAM_METRICS_ADDR")
