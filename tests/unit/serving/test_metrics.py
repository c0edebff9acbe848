"""The serving metrics carry the ARCHITECTURE.md names and record through helpers."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta, timezone

from prometheus_client import CollectorRegistry

from serving.metrics import ServingMetrics

CONTRACT = {
    "p2v_http_request_duration_seconds", "p2v_index_items", "p2v_index_build_duration_seconds",
    "p2v_index_age_seconds", "p2v_index_delta_items", "p2v_change_events_total",
    "p2v_change_stream_lag_seconds",
}


def names(registry: CollectorRegistry) -> set[str]:
    found = set()
    for family in registry.collect():
        found.add(family.name + ("_total" if family.type == "counter" else ""))
    return found


def test_every_contract_name_is_defined_in_a_fresh_registry() -> None:
    registry = CollectorRegistry()
    ServingMetrics(registry)
    assert names(registry) >= CONTRACT
    assert {"p2v_http_requests_total", "p2v_change_stream_resets_total"} <= names(registry)


def test_helpers_record_values() -> None:
    metrics = ServingMetrics(CollectorRegistry())
    metrics.observe_request("/v1/x", 503, 0.002)
    metrics.snapshot_built("playlists", 42, 1.5, built_at=time.time() - 10)
    metrics.change_events_applied("playlist_vectors", {"update": 1})
    metrics.lag(-1.0)
    get = metrics.registry.get_sample_value
    assert get("p2v_http_requests_total", {"route": "/v1/x", "code": "503"}) == 1
    assert get("p2v_http_request_duration_seconds_bucket", {"route": "/v1/x", "le": "0.0025"}) == 1
    assert get("p2v_index_items", {"index": "playlists"}) == 42
    assert 9 < get("p2v_index_age_seconds", {"index": "playlists"}) < 60
    assert get("p2v_change_events_total", {"collection": "playlist_vectors", "op": "update"}) == 1
    assert get("p2v_change_stream_lag_seconds") == 0


def test_freshness_by_stage_from_stored_times() -> None:
    metrics = ServingMetrics(CollectorRegistry())
    event = datetime(2026, 1, 1, 12, 0, 0)  # naive UTC, as pymongo returns it
    written = event + timedelta(seconds=3)
    servable = written.replace(tzinfo=UTC).timestamp() + 0.5
    metrics.servable([{"event_time": event, "updated_at": written},
                      {"updated_at": written.replace(tzinfo=UTC).timestamp()}], servable)  # batch
    metrics.servable([], servable)
    aware = event.replace(tzinfo=UTC).astimezone(timezone(timedelta(hours=2)))  # the same instant
    metrics.servable([{"event_time": aware, "updated_at": written}], servable)
    get = metrics.registry.get_sample_value
    assert get("p2v_freshness_seconds_sum", {"stage": "kafka_to_mongo"}) == 6.0
    assert get("p2v_freshness_seconds_sum", {"stage": "end_to_end"}) == 7.0
    assert get("p2v_freshness_seconds_count", {"stage": "end_to_end"}) == 2
    assert get("p2v_freshness_seconds_count", {"stage": "mongo_to_servable"}) == 3
    assert get("p2v_freshness_seconds_bucket", {"stage": "end_to_end", "le": "5.0"}) == 2
    assert get("p2v_freshness_seconds_bucket", {"stage": "end_to_end", "le": "3.0"}) == 0
    assert get("p2v_freshness_seconds_bucket", {"stage": "kafka_to_mongo", "le": "3.0"}) == 2  # le: inclusive
    assert get("p2v_freshness_seconds_bucket", {"stage": "mongo_to_servable", "le": "+Inf"}) == 3
