"""StreamMetrics exports exactly the ARCHITECTURE.md names, recorded through its helpers."""

from __future__ import annotations

import socket

import pytest
from prometheus_client import CollectorRegistry

from playlist2vec.errors import ConfigError
from streaming.metrics import RESULTS, StreamMetrics


def test_names_and_helpers() -> None:
    metrics = StreamMetrics(CollectorRegistry())
    names = {m.name for m in metrics.registry.collect()}
    assert names == {"p2v_stream_batches", "p2v_stream_batch_duration_seconds", "p2v_stream_events",
                     "p2v_stream_kafka_lag_messages", "p2v_stream_unknown_tracks",
                     "p2v_stream_provisional_vectors", "p2v_stream_task_seconds"}
    metrics.record_batch(0.3)
    metrics.record_events({"applied": 3, "stale": 0, "invalid": 2})
    metrics.record_unknown_tracks(4)
    metrics.record_provisional_vectors(2)
    metrics.record_lag({"0": 7})
    metrics.record_task_seconds({"read": 0.5, "parse": 0.25, "fold_in": 0.0})
    value = metrics.registry.get_sample_value
    assert value("p2v_stream_batches_total") == 1
    assert value("p2v_stream_batch_duration_seconds_bucket", {"le": "0.5"}) == 1
    assert value("p2v_stream_batch_duration_seconds_bucket", {"le": "0.25"}) == 0
    assert {r: value("p2v_stream_events_total", {"result": r}) for r in RESULTS} == {
        "applied": 3, "stale": 0, "invalid": 2, "deleted": 0}
    assert value("p2v_stream_unknown_tracks_total") == 4
    assert value("p2v_stream_provisional_vectors_total") == 2
    assert value("p2v_stream_kafka_lag_messages", {"partition": "0"}) == 7
    spent = {p: value("p2v_stream_task_seconds_total", {"phase": p}) for p in ("read", "parse", "fold_in")}
    assert spent == {"read": 0.5, "parse": 0.25, "fold_in": 0.0}


def test_instances_do_not_share_state() -> None:
    a, b = StreamMetrics(), StreamMetrics()
    a.record_unknown_tracks(1)
    assert b.registry.get_sample_value("p2v_stream_unknown_tracks_total") == 0


def test_serving_on_a_taken_port_is_a_config_error() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(ConfigError, match="P2V_STREAM_METRICS_ADDR"):
            StreamMetrics().serve(f"127.0.0.1:{port}")
