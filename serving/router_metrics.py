"""Prometheus metrics of the serving router (`playlist2vec route`), all defined here.

Named apart from the shards' `p2v_http_*` series, so a dashboard summing requests over every
scraped process never counts one client request twice (once at the router, once per shard).
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Histogram

from serving.metrics import LATENCY_BUCKETS


class RouterMetrics:
    """Every router metric. Cheap to construct: it only registers collectors in `registry`."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry if registry is not None else CollectorRegistry()
        r = self.registry
        self.request_duration = Histogram(
            "p2v_router_request_duration_seconds",
            "router answer latency by route template (the slowest shard asked bounds it), seconds",
            ["route"], buckets=LATENCY_BUCKETS, registry=r)
        self.requests = Counter(
            "p2v_router_requests_total", "router answers by route template and status code",
            ["route", "code"], registry=r)
        self.shard_duration = Histogram(
            "p2v_router_shard_request_duration_seconds",
            "time a shard took to answer the router (or to fail), seconds",
            ["shard"], buckets=LATENCY_BUCKETS, registry=r)
        self.shard_requests = Counter(
            "p2v_router_shard_requests_total",
            "router requests to shards by shard and outcome (ok, client_error, server_error, "
            "timeout, unreachable)",
            ["shard", "outcome"], registry=r)
        self.partial = Counter(
            "p2v_router_partial_answers_total",
            "answers merged without every shard (`partial: true`), by route template",
            ["route"], registry=r)

    def observe_request(self, route: str, status: int, seconds: float) -> None:
        self.request_duration.labels(route=route).observe(seconds)
        self.requests.labels(route=route, code=str(status)).inc()

    def shard_answer(self, shard: str, outcome: str, seconds: float) -> None:
        self.shard_duration.labels(shard=shard).observe(seconds)
        self.shard_requests.labels(shard=shard, outcome=outcome).inc()

    def partial_answer(self, route: str) -> None:
        self.partial.labels(route=route).inc()
