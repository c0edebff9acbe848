"""The benchmark's pure parts: latency percentiles and the child process's settings."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import pytest

from playlist2vec.events import parse_event
from playlist2vec.settings import Settings
from streaming.bench import bench_events, child_env, latency_stats


def test_latency_is_written_minus_published() -> None:
    t0 = datetime(2025, 1, 1, tzinfo=UTC)
    published = {pid: t0.timestamp() + pid for pid in range(100)}
    # pid p is written p/100 s after it was published; naive UTC, as pymongo returns it
    written = {pid: (t0 + timedelta(seconds=pid + pid / 100)).replace(tzinfo=None) for pid in range(100)}
    stats = latency_stats(published, written)
    assert stats["events_measured"] == 100
    assert stats["latency_p50_s"] == pytest.approx(0.495, abs=1e-3)
    assert stats["latency_p99_s"] == pytest.approx(0.9801, abs=1e-3)
    assert stats["latency_max_s"] == pytest.approx(0.99, abs=1e-3)
    assert stats["throughput_per_s"] == pytest.approx(100 / 99.99, rel=1e-3)


def test_child_env_round_trips_settings() -> None:
    settings = Settings.load({}, mongo_uri="mongodb://h:1", stream_trigger="250ms", playlist_topic="t")
    assert Settings.load(child_env(settings)) == settings


def test_bench_events_are_valid_distinct_creations() -> None:
    events = list(bench_events(50, ["spotify:track:a", "spotify:track:b"], random.Random(0)))
    parsed = [parse_event(e.key, e.value, 0) for e in events]
    assert [p.pid for p in parsed] == list(range(50)) and all(20 <= len(p.tracks) <= 60 for p in parsed)
