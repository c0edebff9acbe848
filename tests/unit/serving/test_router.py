"""The router over fake shards (httpx's MockTransport): exact merge, partial answers, failover."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import numpy as np
import pytest
from fastapi.testclient import TestClient
from prometheus_client import CollectorRegistry

from playlist2vec.cli import main
from playlist2vec.errors import ConfigError
from serving.router import RouterOptions, create_router, merge_top_k, parse_shard_url
from serving.router_metrics import RouterMetrics

SHARDS = ("http://shard-0:8000", "http://shard-1:8000", "http://shard-2:8000")
RNG = np.random.default_rng(7)
VECTORS = RNG.normal(size=(90, 4))
VECTORS /= np.linalg.norm(VECTORS, axis=1, keepdims=True)


def top_k(query: int, pids: list[int], k: int) -> list[dict[str, Any]]:
    """What one server over `pids` answers: best k by cosine, ties by pid, the query excluded."""
    scored = [(float(VECTORS[query] @ VECTORS[p]), p) for p in pids if p != query]
    scored.sort(key=lambda s: (-s[0], s[1]))
    return [{"pid": p, "score": s, "name": f"playlist {p}"} for s, p in scored[:k]]


def similar(shard: int, count: int, request: httpx.Request) -> httpx.Response:
    pid = int(request.url.path.split("/")[3])
    k = int(request.url.params["k"])
    own = [p for p in range(len(VECTORS)) if p % count == shard]
    return httpx.Response(200, json={"model_version": "m1", "pid": pid, "items": top_k(pid, own, k)})


Handler = Callable[[int, httpx.Request], Any]


def router(handler: Handler, timeout: float = 0.3, shards: tuple[str, ...] = SHARDS
           ) -> tuple[TestClient, RouterMetrics, list[str]]:
    """A router whose shard requests go to `handler(shard index, request)`; also the log of
    shards asked."""
    asked: list[str] = []

    async def dispatch(request: httpx.Request) -> httpx.Response:
        base = f"{request.url.scheme}://{request.url.host}:{request.url.port}"
        asked.append(base)
        result = handler(shards.index(base), request)
        return await result if asyncio.iscoroutine(result) else result

    metrics = RouterMetrics(CollectorRegistry())
    app = create_router(RouterOptions(shards=shards, timeout=timeout), metrics,
                        httpx.MockTransport(dispatch))
    return TestClient(app), metrics, asked


@pytest.fixture
def healthy() -> Iterator[tuple[TestClient, RouterMetrics, list[str]]]:
    client, metrics, asked = router(lambda i, r: similar(i, len(SHARDS), r))
    with client:
        yield client, metrics, asked


def sample(metrics: RouterMetrics, name: str, **labels: str) -> float:
    return metrics.registry.get_sample_value(name, labels) or 0.0


def test_merged_top_k_equals_one_server_over_all_playlists(healthy: Any) -> None:
    client, metrics, _ = healthy
    for pid in range(0, 90, 7):
        for k in (1, 5, 40):
            answer = client.get(f"/v1/playlists/{pid}/similar", params={"k": k}).json()
            assert answer["items"] == top_k(pid, list(range(90)), k)
            assert answer["partial"] is False and answer["missing_shards"] == []
    assert sample(metrics, "p2v_router_shard_requests_total", shard=SHARDS[1], outcome="ok") == 39
    assert sample(metrics, "p2v_router_requests_total", route="/v1/playlists/{pid}/similar",
                  code="200") == 39


def test_merge_prefers_the_model_most_shards_answered_with() -> None:
    new = {"model_version": "m2", "items": [{"pid": 1, "score": 0.5}]}
    old = {"model_version": "m1", "items": [{"pid": 2, "score": 0.9}]}
    assert merge_top_k([new, old, new], 5) == ("m2", [{"pid": 1, "score": 0.5}])


def test_merge_breaks_ties_by_pid_and_keeps_a_pid_once() -> None:
    answers = [{"model_version": "m", "items": [{"pid": 9, "score": 0.5}, {"pid": 3, "score": 0.1}]},
               {"model_version": "m", "items": [{"pid": 4, "score": 0.5}, {"pid": 3, "score": 0.2}]}]
    _, items = merge_top_k(answers, 3)
    assert [(i["pid"], i["score"]) for i in items] == [(4, 0.5), (9, 0.5), (3, 0.2)]


def test_an_unreachable_shard_makes_the_answer_partial() -> None:
    def handler(i: int, request: httpx.Request) -> httpx.Response:
        if i == 1:
            raise httpx.ConnectError("refused", request=request)
        return similar(i, len(SHARDS), request)

    client, metrics, _ = router(handler)
    with client:
        answer = client.get("/v1/playlists/0/similar", params={"k": 10}).json()
    others = [p for p in range(90) if p % 3 != 1]
    assert answer["items"] == top_k(0, others, 10)
    assert answer["partial"] is True and answer["missing_shards"] == [SHARDS[1]]
    assert sample(metrics, "p2v_router_partial_answers_total",
                  route="/v1/playlists/{pid}/similar") == 1
    assert sample(metrics, "p2v_router_shard_requests_total", shard=SHARDS[1],
                  outcome="unreachable") == 1


def test_a_hung_shard_is_left_out_within_the_timeout() -> None:
    async def handler(i: int, request: httpx.Request) -> httpx.Response:
        if i == 2:
            await asyncio.sleep(30)  # a stopped process: the router must not wait for it
        return similar(i, len(SHARDS), request)

    client, metrics, _ = router(handler, timeout=0.2)
    with client:
        started = time.monotonic()
        answer = client.get("/v1/playlists/5/similar", params={"k": 3}).json()
        took = time.monotonic() - started
    assert took < 1.0
    assert answer["partial"] is True and answer["missing_shards"] == [SHARDS[2]]
    assert sample(metrics, "p2v_router_shard_requests_total", shard=SHARDS[2], outcome="timeout") == 1


def test_no_shard_answering_is_503_with_retry_after() -> None:
    def handler(_: int, request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused", request=request)

    client, _, _ = router(handler)
    with client:
        response = client.get("/v1/playlists/1/similar")
    assert response.status_code == 503 and response.headers["retry-after"] == "5"
    assert response.json()["error"] == "Unavailable"


def test_unknown_playlist_is_the_shards_404() -> None:
    client, _, _ = router(lambda i, r: httpx.Response(404, json={"error": "NotFound", "detail": "x"}))
    with client:
        response = client.get("/v1/playlists/12345/similar")
    assert response.status_code == 404 and response.json()["error"] == "NotFound"


def test_bad_parameters_are_refused_without_asking_a_shard(healthy: Any) -> None:
    client, _, asked = healthy
    assert client.get("/v1/playlists/1/similar", params={"k": 0}).status_code == 422
    assert client.get("/v1/playlists/-1/similar").status_code == 422
    assert client.post("/v1/recommendations", content=b"x" * (2 << 20)).status_code == 413
    assert asked == []


def test_track_routes_go_to_one_shard_in_turn_and_skip_a_failing_one() -> None:
    def handler(i: int, request: httpx.Request) -> httpx.Response:
        if i == 0:
            return httpx.Response(503, json={"error": "NotReady", "detail": "loading"})
        return httpx.Response(200, json={"model_version": "m1", "items": [], "shard": i,
                                         "body": request.content.decode(),
                                         "query": str(request.url.query, "ascii")})

    client, _, asked = router(handler)
    with client:
        first = client.get("/v1/tracks/spotify:track:abc/similar", params={"k": 3}).json()
        second = client.post("/v1/recommendations", json={"tracks": ["a"], "k": 2}).json()
        third = client.get("/v1/playlists/7/recommendations", params={"k": 4}).json()
    assert (first["shard"], first["query"]) == (1, "k=3")  # shard 0 failed: the next one
    assert second["shard"] == 1 and json.loads(second["body"]) == {"tracks": ["a"], "k": 2}
    assert third["shard"] == 2 and third["query"] == "k=4"
    assert asked == [SHARDS[0], SHARDS[1], SHARDS[1], SHARDS[2]]


def test_ready_while_one_shard_is() -> None:
    client, _, _ = router(lambda i, r: httpx.Response(200 if i == 0 else 503, json={}))
    with client:
        answer = client.get("/readyz")
    assert answer.status_code == 200
    assert answer.json() == {"ready": True, "shards": 3, "not_ready": list(SHARDS[1:])}
    down, _, _ = router(lambda i, r: httpx.Response(503, json={}))
    with down:
        assert down.get("/readyz").status_code == 503


def test_metrics_are_exposed(healthy: Any) -> None:
    client, _, _ = healthy
    client.get("/v1/playlists/3/similar")
    assert "p2v_router_shard_request_duration_seconds_bucket" in client.get("/metrics").text


@pytest.mark.parametrize("url", ["foo", "ftp://h:1", "http://h:1/v1", "http://", "http://h:1?x=1"])
def test_a_bad_shard_url_is_a_config_error(url: str) -> None:
    with pytest.raises(ConfigError, match="--shard expects a base URL"):
        parse_shard_url(url)


def test_route_flags_are_checked(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["route", "--shard", "foo"]) == 2
    assert main(["route", "--shard", "http://a:1", "--shard", "http://a:1/"]) == 2
    assert main(["route", "--shard", "http://a:1", "--timeout", "0"]) == 2
    errors = capsys.readouterr().err.strip().splitlines()
    assert errors == ["error: --shard expects a base URL like http://127.0.0.1:8001, got 'foo'",
                      "error: each --shard URL may be given once",
                      "error: --timeout must be positive, got 0.0"]
