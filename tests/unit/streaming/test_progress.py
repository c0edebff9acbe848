"""Kafka lag from the source progress offsets."""

from __future__ import annotations

import json

from streaming.progress import kafka_lag


def test_lag_is_latest_minus_end_per_partition() -> None:
    end = json.dumps({"t": {"0": 10, "1": 5}})
    latest = json.dumps({"t": {"0": 15, "1": 5, "2": 3}})
    assert kafka_lag(end, latest) == {"0": 5, "1": 0, "2": 3}


def test_no_offsets_no_lag() -> None:
    assert kafka_lag(None, json.dumps({"t": {"0": 1}})) == {}
    assert kafka_lag(json.dumps({"t": {"0": 1}}), None) == {}
