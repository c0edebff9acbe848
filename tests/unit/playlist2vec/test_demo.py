"""The demo's reading of serving's freshness histogram (the run itself: tests/integration)."""

from __future__ import annotations

import math

import pytest

from playlist2vec.demo import quantile


def test_quantiles_interpolate_within_the_bucket_as_prometheus_does() -> None:
    # the same histogram as P2VFreshnessP95's promtool test, where Prometheus says p95 = 4 s
    buckets = {1.0: 0.0, 2.0: 50.0, 3.0: 90.0, 5.0: 100.0, math.inf: 100.0}
    assert quantile(0.95, buckets) == pytest.approx(4.0)
    assert quantile(0.5, buckets) == pytest.approx(2.0)
    assert quantile(0.7, buckets) == pytest.approx(2.5)


def test_a_rank_in_the_infinite_bucket_is_its_lower_bound_and_empty_is_none() -> None:
    assert quantile(0.95, {1.0: 10.0, math.inf: 20.0}) == 1.0
    assert quantile(0.5, {1.0: 0.0, math.inf: 0.0}) is None
    assert quantile(0.5, {}) is None
