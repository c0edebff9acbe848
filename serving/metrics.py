"""Prometheus metrics of the serving process, all defined here and recorded through helpers."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Collection, Iterator, Mapping
from datetime import datetime
from typing import Any

import numpy as np
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.core import HistogramMetricFamily, Metric
from prometheus_client.registry import Collector
from prometheus_client.utils import floatToGoString

LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)
"""Seconds: sub-millisecond index hits up to slow, name-heavy answers."""

BUILD_BUCKETS = (0.1, 0.5, 1.0, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0)
"""Seconds: a small test index up to a large model's full rebuild."""

FRESHNESS_BUCKETS = (0.1, 0.25, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0, 5.0, 7.5, 10.0, 20.0, 30.0, 60.0, 300.0,
                     1800.0)
"""Seconds: fine around the seconds-level targets (`bench stream` reads its Kafka -> servable
percentiles from them; the end-to-end p95 objective of `P2VFreshnessP95`, 3 s, is a bucket edge
so its quantile is usable; 10 s end to end is the objective the budget-burn alert burns) up to
half an hour behind."""
FRESHNESS_STAGES = ("mongo_to_servable", "kafka_to_mongo", "end_to_end")


class ServingMetrics:
    """Every serving metric. Cheap to construct: it only registers collectors in `registry`."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry if registry is not None else CollectorRegistry()
        r = self.registry
        self.request_duration = Histogram(
            "p2v_http_request_duration_seconds", "HTTP request latency by route template, seconds",
            ["route"], buckets=LATENCY_BUCKETS, registry=r)
        self.requests = Counter(
            "p2v_http_requests_total", "HTTP requests by route template and status code",
            ["route", "code"], registry=r)
        self.index_items = Gauge(
            "p2v_index_items", "items in the serving snapshot index", ["index"], registry=r)
        self.index_build_duration = Histogram(
            "p2v_index_build_duration_seconds", "time to load and build a snapshot index, seconds",
            ["index"], buckets=BUILD_BUCKETS, registry=r)
        self.index_age = Gauge(
            "p2v_index_age_seconds", "seconds since the serving snapshot was built", ["index"],
            registry=r)
        self.delta_items = Gauge(
            "p2v_index_delta_items", "changed or removed items answered from the exact delta",
            ["index"], registry=r)
        self.change_events = Counter(
            "p2v_change_events_total", "change-stream events applied, by collection and operation",
            ["collection", "op"], registry=r)
        self.stream_lag = Gauge(
            "p2v_change_stream_lag_seconds",
            "seconds between a change's cluster time and its application (0 when caught up)",
            registry=r)
        self.stream_resets = Counter(
            "p2v_change_stream_resets_total",
            "full reloads because a stored resume token was missing, too old or invalid",
            ["collection"], registry=r)
        self.freshness = StageHistogram(
            "p2v_freshness_seconds",
            "age of a playlist change when it became servable here, by stage: Kafka record to "
            "MongoDB write, MongoDB write to servable, Kafka record to servable (end_to_end)",
            FRESHNESS_STAGES, FRESHNESS_BUCKETS)
        r.register(self.freshness)
        self.online_hits = Counter(
            "p2v_online_hits_total",
            "tracks added by live edits that the previous version's top 500 held, by model "
            "(active or shadow); divided by p2v_online_trials_total: live recall@500",
            ["model"], registry=r)
        self.online_trials = Counter(
            "p2v_online_trials_total",
            "tracks added by live edits to playlists serving knew, scored per model",
            ["model"], registry=r)
        self.online_dropped = Counter(
            "p2v_online_dropped_total",
            "live trials dropped because the scorer was behind (recall is then on a sample)",
            registry=r)
        self.stream_reopens = Counter(
            "p2v_change_stream_reopens_total",
            "change streams reopened after the server invalidated or closed them or they failed",
            ["collection", "reason"], registry=r)

    def observe_request(self, route: str, status: int, seconds: float) -> None:
        self.request_duration.labels(route=route).observe(seconds)
        self.requests.labels(route=route, code=str(status)).inc()

    def snapshot_built(self, index: str, items: int, seconds: float, built_at: float) -> None:
        self.items(index, items)
        self.index_build_duration.labels(index=index).observe(seconds)
        self.index_age.labels(index=index).set_function(_age_since(built_at))

    def items(self, index: str, items: int) -> None:
        self.index_items.labels(index=index).set(items)

    def delta(self, index: str, items: int) -> None:
        self.delta_items.labels(index=index).set(items)

    def change_events_applied(self, collection: str, ops: Mapping[str, int]) -> None:
        """Count one poll's changes: `ops` maps each operation type to its number."""
        for op, n in ops.items():
            self.change_events.labels(collection=collection, op=op).inc(n)

    def lag(self, seconds: float) -> None:
        self.stream_lag.set(max(0.0, seconds))

    def reset(self, collection: str) -> None:
        self.stream_resets.labels(collection=collection).inc()

    def servable(self, docs: Collection[Mapping[str, Any]], at: float) -> None:
        """Freshness of applied `playlist_vectors` docs (each one's `event_time` is the Kafka
        record time, absent for batch writes; `updated_at` its write), servable since `at`."""
        if not docs:
            return
        event = np.array([_epoch(doc.get("event_time")) for doc in docs], dtype=np.float64)
        written = np.array([_epoch(doc.get("updated_at")) for doc in docs], dtype=np.float64)
        servable = np.full(len(docs), at)  # None became NaN above: NaN ages are not observed
        for stage, (start, end) in {"mongo_to_servable": (written, servable),
                                    "kafka_to_mongo": (event, written),
                                    "end_to_end": (event, servable)}.items():
            age = end - start
            self.freshness.observe(stage, np.maximum(age[~np.isnan(age)], 0.0))

    def online(self, model: str, hits: int, trials: int) -> None:
        """Live trials of `model` (0, 0 registers a model as scored)."""
        self.online_hits.labels(model=model).inc(hits)
        self.online_trials.labels(model=model).inc(trials)

    def reopen(self, collection: str, reason: str) -> None:
        self.stream_reopens.labels(collection=collection, reason=reason).inc()


class StageHistogram(Collector):
    """A histogram by `stage` observed an array at a time: serving times every applied change,
    thousands a second, and one `Histogram.observe` (a Python loop over the buckets under a
    lock) per change and stage was a tenth of its CPU. Counts are numpy arrays; a scrape
    exposes them as an ordinary histogram."""

    def __init__(self, name: str, documentation: str, stages: Collection[str],
                 buckets: Collection[float]) -> None:
        self.name, self.documentation = name, documentation
        self.labelnames = ("stage",)
        self._bounds = np.asarray(sorted(buckets), dtype=np.float64)
        self._les = [floatToGoString(b) for b in self._bounds] + ["+Inf"]
        self._counts = {stage: np.zeros(len(self._bounds) + 1, dtype=np.int64) for stage in stages}
        self._sums = dict.fromkeys(stages, 0.0)
        self._lock = threading.Lock()

    def observe(self, stage: str, values: np.ndarray) -> None:
        """Add every value of `values` (seconds) to `stage`."""
        counts = np.bincount(np.searchsorted(self._bounds, values, side="left"),
                             minlength=len(self._les))
        total = float(np.sum(values))
        with self._lock:
            self._counts[stage] += counts
            self._sums[stage] += total

    def collect(self) -> Iterator[Metric]:
        family = HistogramMetricFamily(self.name, self.documentation, labels=["stage"])
        with self._lock:
            for stage, counts in self._counts.items():
                cumulative = np.cumsum(counts).tolist()
                family.add_metric([stage], list(zip(self._les, cumulative, strict=True)),
                                  self._sums[stage])
        yield family


def _age_since(built_at: float) -> Callable[[], float]:
    return lambda: time.time() - built_at


_EPOCH = datetime(1970, 1, 1)


def _epoch(value: Any) -> float | None:
    """Seconds since the epoch of a stored time (a naive UTC datetime, as pymongo returns, or a
    number), None when absent."""
    if isinstance(value, datetime):
        # naive: a subtraction, 7x cheaper than `replace(tzinfo=UTC).timestamp()` (two per
        # applied change, thousands a second)
        return value.timestamp() if value.tzinfo else (value - _EPOCH).total_seconds()
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    return None
