"""The benchmark's pure parts: latency percentiles, throughput, the synthetic events and how
the answer poller spreads its requests."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import pytest
from prometheus_client import CollectorRegistry, generate_latest

from playlist2vec.events import parse_event
from serving.metrics import FRESHNESS_BUCKETS, ServingMetrics
from streaming.bench import (
    bench_event,
    cpu_stats,
    latency_stats,
    metric_values,
    next_asks,
    servable_stats,
    vocabulary,
)


def test_latencies_are_measured_from_the_record_timestamp() -> None:
    t0 = datetime(2025, 1, 1)  # naive UTC, as pymongo returns it
    # pid p's record is stamped at t0 + p s and written p/100 s later; serving answers 1 s after
    docs = [{"_id": {"m": "bench", "p": p}, "event_time": t0 + timedelta(seconds=p),
             "updated_at": t0 + timedelta(seconds=p + p / 100)} for p in range(100)]
    seen = {p: t0.replace(tzinfo=UTC).timestamp() + p + 1.0 for p in range(0, 100, 10)}
    stats = latency_stats(docs, seen)
    assert stats["events_measured"] == 100 and stats["kafka_to_mongo_measured"] == 100
    assert stats["kafka_to_mongo_p50_s"] == pytest.approx(0.495, abs=1e-3)
    assert stats["kafka_to_mongo_p99_s"] == pytest.approx(0.9801, abs=1e-3)
    assert stats["kafka_to_mongo_max_s"] == pytest.approx(0.99, abs=1e-3)
    assert stats["kafka_to_answer_measured"] == 10
    assert stats["kafka_to_answer_p95_s"] == pytest.approx(1.0)
    assert stats["first_record_to_last_write_per_s"] == pytest.approx(100 / 99.99, rel=1e-3)
    assert stats["latency_growth_s"] == pytest.approx(0.895 - 0.095)


def written_docs(event_times: np.ndarray, written: np.ndarray) -> list[dict[str, Any]]:
    t0 = datetime(2025, 1, 1)
    return [{"_id": {"m": "bench", "p": p}, "event_time": t0 + timedelta(seconds=float(e)),
             "updated_at": t0 + timedelta(seconds=float(w))}
            for p, (e, w) in enumerate(zip(event_times, written, strict=True))]


def test_a_job_that_keeps_up_sustains_the_offered_rate() -> None:
    # 60,000 records at 5,000/s, each half-second batch written whole 1 s after it closes
    event_times = np.arange(60_000) / 5_000
    stats = latency_stats(written_docs(event_times, (np.floor(event_times * 2) + 1) / 2 + 1.0), {})
    assert stats["sustained_throughput_per_s"] == pytest.approx(5_000, rel=0.05)
    assert abs(stats["latency_growth_s"]) < 0.25  # within half a batch
    # the pipeline filling and draining counted once: the last write is 13 s after the first record
    assert stats["first_record_to_last_write_per_s"] == pytest.approx(60_000 / 13, rel=1e-3)


def test_a_job_that_falls_behind_sustains_its_own_rate_and_its_latency_grows() -> None:
    # offered 5,000/s, written one by one at 4,000/s from 0.5 s on: a growing backlog
    event_times = np.arange(60_000) / 5_000
    stats = latency_stats(written_docs(event_times, 0.5 + np.arange(60_000) / 4_000), {})
    assert stats["sustained_throughput_per_s"] == pytest.approx(4_000, rel=0.01)
    assert stats["published_rate_per_s"] == pytest.approx(5_000, rel=0.01)
    # record i waits 0.5 + i / 20,000 s: the fifths' medians are records 6,000 and 54,000
    assert stats["latency_growth_s"] == pytest.approx((54_000 - 6_000) / 20_000, rel=0.01)


def test_servable_latency_is_read_from_the_freshness_histogram_between_two_scrapes() -> None:
    registry = CollectorRegistry()
    metrics = ServingMetrics(registry)
    metrics.freshness.observe("end_to_end", np.full(50, 20.0))  # before the run: not measured
    before = metric_values(generate_latest(registry).decode())
    # spread over the (0.5, 1.0] bucket, interpolated as uniform within it
    metrics.freshness.observe("end_to_end", 0.5 + (np.arange(100) + 1) / 200)
    metrics.freshness.observe("kafka_to_mongo", np.array([100.0]))  # a stage not reported
    metrics.freshness.observe("mongo_to_servable", np.full(10, 0.02))
    stats = servable_stats(before, metric_values(generate_latest(registry).decode()))
    assert stats["kafka_to_servable_measured"] == 100
    assert stats["kafka_to_servable_p50_s"] == pytest.approx(0.75)
    assert stats["kafka_to_servable_p95_s"] == pytest.approx(0.975)
    assert stats["mongo_to_servable_measured"] == 10  # in the first bucket, (0, 0.1]
    assert stats["mongo_to_servable_p50_s"] == pytest.approx(0.05)


def test_servable_latency_beyond_the_last_bucket_is_its_bound() -> None:
    registry = CollectorRegistry()
    metrics = ServingMetrics(registry)
    metrics.freshness.observe("end_to_end", np.array([1e6]))
    stats = servable_stats({}, metric_values(generate_latest(registry).decode()))
    assert stats["kafka_to_servable_p99_s"] == FRESHNESS_BUCKETS[-1]
    assert servable_stats({}, {}) == {"kafka_to_servable_measured": 0, "mongo_to_servable_measured": 0}


def test_nothing_written_measures_nothing() -> None:
    assert latency_stats([], {}) == {"events_measured": 0}


def test_bench_events_are_valid_distinct_creations() -> None:
    rng = random.Random(0)
    events = [bench_event(pid, vocabulary(2), rng) for pid in range(50)]
    parsed = [parse_event(e.key, e.to_json(), 0) for e in events]
    assert [p.pid for p in parsed] == list(range(50)) and all(20 <= len(p.tracks) <= 60 for p in parsed)
    assert all(p.track_meta == () for p in parsed)


def test_bench_events_with_track_meta_carry_one_valid_entry_per_track_the_same_in_every_event() -> None:
    rng = random.Random(0)
    events = [bench_event(pid, vocabulary(100), rng, track_meta=True) for pid in range(20)]
    parsed = [parse_event(e.key, e.to_json(), 0) for e in events]
    assert all([m["track_uri"] for m in p.track_meta] == list(p.tracks) for p in parsed)
    by_uri: dict[str, list[dict[str, Any]]] = {}
    for entry in (m for p in parsed for m in p.track_meta):
        by_uri.setdefault(entry["track_uri"], []).append(entry)
    assert any(len(entries) > 1 for entries in by_uri.values())  # tracks repeat across events
    assert all(entry == entries[0] for entries in by_uri.values() for entry in entries)
    assert len({e["track_name"] for entries in by_uri.values() for e in entries}) == len(by_uri)


def test_the_answer_poller_asks_a_bounded_number_of_outstanding_samples_round_robin() -> None:
    due = {pid: float(pid) for pid in range(20)}  # pid p is due at time p
    seen = {0: 0.5, 1: 1.5}
    asked: dict[int, float] = {}
    first = next_asks(due, seen, asked, now=12.0, limit=5)
    assert first == [2, 3, 4, 5, 6]  # due and unanswered, never asked, oldest first; 13+ not due
    asked |= {pid: 12.0 for pid in first}
    second = next_asks(due, seen, asked, now=12.1, limit=5)
    assert second == [7, 8, 9, 10, 11]
    asked |= {pid: 12.1 for pid in second}
    asked[12] = 11.0  # asked before the others: its turn comes first
    assert next_asks(due, seen, asked, now=12.2, limit=5) == [12, 2, 3, 4, 5]


def test_cpu_stats_charge_each_part_per_event_and_count_the_cores_in_use() -> None:
    stats = cpu_stats({"mongo": 1.0, "serve": 0.5}, seconds=3.0, events=1000)
    assert stats["cpu_us_per_event"] == {"mongo": 1000, "serve": 500, "total": 1500}
    assert stats["cpu_cores_in_use"] == 0.5 and stats["cpu_s"] == {"mongo": 1.0, "serve": 0.5}
