"""The HTTP API over a seeded database: answers, errors, readiness, metrics, admin, fuzzing."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from pydantic import SecretStr
from schemathesis import GenerationMode

from playlist2vec import store
from serving.api import create_app
from serving.server import BackgroundServer
from tests.support.metrics import scraped

pytestmark = pytest.mark.integration


@pytest.fixture
def client(catalog: Any, make_engine: Any, app_for: Any, wait: Any) -> Iterator[TestClient]:
    engine, metrics = make_engine()
    with TestClient(app_for(engine, metrics)) as test_client:
        wait(lambda: engine.ready, 30, "first index")
        yield test_client


def test_playlist_recommendations_exclude_seeds_sorted_with_names(client, catalog):
    body = client.get("/v1/playlists/200/recommendations", params={"k": 5}).json()
    assert body["pid"] == 200 and body["model_version"] == "m1"
    items = body["items"]
    assert len(items) == 5
    uris = [i["track_uri"] for i in items]
    assert not set(uris) & set(catalog.playlists[200]), "seeds are never recommended"
    assert {catalog.cluster_of_track(u) for u in uris} == {2}
    scores = [i["score"] for i in items]
    assert scores == sorted(scores, reverse=True)
    assert items[0]["track_name"].startswith("song 2-") and items[0]["artist_name"] == "artist 2"


def test_ad_hoc_recommendations(client, catalog):
    seeds = ["spotify:track:c3t00", "spotify:track:c3t01", "spotify:track:unknown"]
    body = client.post("/v1/recommendations", json={"tracks": seeds, "k": 8}).json()
    uris = [i["track_uri"] for i in body["items"]]
    assert len(uris) == 8 and not set(uris) & set(seeds)
    assert {catalog.cluster_of_track(u) for u in uris} == {3}


def test_similar_playlists_and_tracks(client, catalog):
    playlists = client.get("/v1/playlists/100/similar", params={"k": 4}).json()["items"]
    assert [p["pid"] // 100 for p in playlists] == [1, 1, 1, 1]
    assert 100 not in [p["pid"] for p in playlists]
    assert playlists[0]["name"].startswith("playlist 1")
    uri = "spotify:track:c0t05"
    tracks = client.get(f"/v1/tracks/{uri}/similar", params={"k": 3}).json()
    assert tracks["track_uri"] == uri
    assert [catalog.cluster_of_track(t["track_uri"]) for t in tracks["items"]] == [0, 0, 0]
    assert uri not in [t["track_uri"] for t in tracks["items"]]


def _explained_sums(items: list[dict[str, Any]]) -> list[float]:
    return [abs(sum(s["contribution"] for s in i["explanation"]["seeds"])
                + i["explanation"]["rest"] - i["score"]) for i in items]


@pytest.mark.parametrize("strategy", ["annoy", "exact", "hnsw"])
def test_explanations_sum_to_the_scores_with_named_seeds(catalog, make_engine, app_for, wait,
                                                         strategy):
    engine, metrics = make_engine(strategy=strategy)
    with TestClient(app_for(engine, metrics)) as client:
        wait(lambda: engine.ready, 30, "first index")
        seeds = catalog.playlists[200]
        body = client.get("/v1/playlists/200/recommendations",
                          params={"k": 20, "explain": "true"}).json()
        items = body["items"]
        assert len(items) == 20
        assert max(_explained_sums(items)) < 1e-5
        for item in items:
            explanation = item["explanation"]
            assert explanation["seeds_known"] == len(set(seeds))
            named = explanation["seeds"]
            assert len(named) == 3 and {s["track_uri"] for s in named} <= set(seeds)
            parts = [s["contribution"] for s in named]
            assert parts == sorted(parts, reverse=True)
            assert all(s["track_name"].startswith("song 2-") for s in named)
        # an ad-hoc list: duplicates count twice, unknown tracks are not part of the split
        ad_hoc = ["spotify:track:c1t00", "spotify:track:c1t01", "spotify:track:c1t01",
                  "spotify:track:c2t00", "spotify:track:nowhere"]
        items = client.post("/v1/recommendations", params={"explain": "true", "explain_top": 2},
                            json={"tracks": ad_hoc, "k": 30}).json()["items"]
        assert max(_explained_sums(items)) < 1e-5
        assert {len(i["explanation"]["seeds"]) for i in items} == {2}
        assert {i["explanation"]["seeds_known"] for i in items} == {3}
        # a cluster-2 track owes most of its score to the one cluster-2 seed
        cluster_two = next(i for i in items if catalog.cluster_of_track(i["track_uri"]) == 2)
        assert cluster_two["explanation"]["seeds"][0]["track_uri"] == "spotify:track:c2t00"
        plain = client.get("/v1/playlists/200/recommendations", params={"k": 3}).json()
        assert [i["explanation"] for i in plain["items"]] == [None, None, None]


@pytest.mark.parametrize("query", ["explain_top=0", "explain_top=101", "explain=maybe"])
def test_bad_explain_parameters_are_422(client, query):
    assert client.get(f"/v1/playlists/200/recommendations?explain=true&{query}").status_code == 422
    response = client.post(f"/v1/recommendations?explain=true&{query}",
                           json={"tracks": ["spotify:track:c0t00"]})
    assert response.status_code == 422


@pytest.mark.parametrize("path", [
    "/v1/playlists/4242/recommendations", "/v1/playlists/4242/similar",
    "/v1/tracks/spotify:track:nope/similar",
])
def test_unknown_ids_are_404_json(client, path):
    response = client.get(path)
    assert response.status_code == 404
    assert response.json()["error"] == "NotFound"


@pytest.mark.parametrize("query", ["k=0", "k=1001", "k=ten"])
def test_bad_k_is_422(client, query):
    assert client.get(f"/v1/playlists/200/similar?{query}").status_code == 422
    assert client.get(f"/v1/tracks/spotify:track:c0t01/similar?{query}").status_code == 422


def test_bad_bodies_are_422(client):
    assert client.post("/v1/recommendations", json={"tracks": []}).status_code == 422
    assert client.post("/v1/recommendations", json={"tracks": ["a"], "k": 5000}).status_code == 422
    assert client.get("/v1/playlists/-3/similar").status_code == 422


def test_health_metrics_and_openapi(client):
    assert client.get("/healthz").json() == {"ok": True}
    assert client.get("/readyz").json() == {"ready": True, "model_version": "m1"}
    client.get("/v1/playlists/200/similar")
    text = client.get("/metrics").text
    assert 'p2v_http_request_duration_seconds_bucket{le="0.0005",route="/v1/playlists/{pid}/similar"}' in text
    assert 'p2v_index_items{index="playlists"} 20.0' in text
    paths = client.get("/openapi.json").json()["paths"]
    assert "/v1/tracks/{track_uri}/similar" in paths and "/v1/recommendations" in paths


def test_not_ready_until_a_model_is_active(db, settings, make_engine, wait, catalog):
    db[store.MODELS].replace_one({"_id": "m1"}, {"_id": "m1", "status": "ready"})
    engine, metrics = make_engine()
    with TestClient(create_app(settings, engine, metrics)) as test_client:
        assert test_client.get("/readyz").status_code == 503
        assert test_client.get("/v1/playlists/200/similar").status_code == 503
        catalog.activate("m1")
        wait(lambda: test_client.get("/readyz").status_code == 200, 30, "ready after activation")


def test_admin_rebuild_needs_the_token(catalog, settings, make_engine, wait):
    engine, metrics = make_engine()
    closed = create_app(settings, engine, metrics)
    with TestClient(closed) as test_client:
        assert test_client.post("/v1/admin/rebuild").status_code == 401
    guarded = settings.model_copy(update={"admin_token": SecretStr("s3cret")})
    engine, metrics = make_engine()
    with TestClient(create_app(guarded, engine, metrics)) as test_client:
        wait(lambda: engine.ready, 30, "first index")
        before = engine.state().playlists.snapshot
        wrong = {"Authorization": "Bearer nope"}
        assert test_client.post("/v1/admin/rebuild", headers=wrong).status_code == 401
        right = {"Authorization": "Bearer s3cret"}
        assert test_client.post("/v1/admin/rebuild", headers=right).status_code == 202
        wait(lambda: engine.state().playlists.snapshot is not before, 20, "forced rebuild")


@pytest.fixture
def live_url(catalog, make_engine, app_for, wait) -> Iterator[str]:
    engine, metrics = make_engine()
    with BackgroundServer(app_for(engine, metrics)) as url:
        wait(lambda: engine.ready, 30, "first index")
        yield url


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE])
def test_fuzzing_the_openapi_finds_no_server_error(live_url: str, mode: GenerationMode) -> None:
    """Valid (positive) and schema-breaking (negative) requests to every operation: no 5xx, and
    every answer is JSON or the metrics text."""
    schema = schemathesis.openapi.from_url(f"{live_url}/openapi.json")
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 8

    for operation in operations:
        inputs = (operation.path_parameters, operation.query, operation.body)
        if mode is GenerationMode.NEGATIVE and not any(len(part) for part in inputs):
            continue  # nothing schemathesis can break (a header is always some string)
        @given(case=operation.as_strategy(mode))
        @hypothesis_settings(max_examples=30, deadline=None, database=None,
                             suppress_health_check=list(HealthCheck))
        def no_5xx(case: Any) -> None:
            response = case.call(base_url=live_url, timeout=30)
            assert response.status_code < 500, (case.as_curl_command(), response.text[:300])
            assert len(response.content) < 100_000 or response.status_code == 200
            if case.path != "/metrics":
                response.json()

        no_5xx()


def test_lone_surrogates_in_a_body_are_422_json(client):
    raw = b'{"tracks": ["\\ud800"], "k": 3}'  # a JSON escape Python decodes to a lone surrogate
    response = client.post("/v1/recommendations", content=raw,
                           headers={"content-type": "application/json"})
    assert response.status_code == 422, response.text
    assert response.json()["error"] == "InvalidInput"  # before: 500, rendering the echoed input
    not_utf8 = client.post("/v1/recommendations", content=b'{"tracks": ["\xff"]}',
                           headers={"content-type": "application/json"})
    assert 400 <= not_utf8.status_code < 500 and "error" in not_utf8.json()


def test_bodies_over_the_limit_are_413_declared_or_streamed(catalog, settings, make_engine, wait):
    small = settings.model_copy(update={"http_max_body_bytes": 10_000})
    engine, metrics = make_engine()
    with TestClient(create_app(small, engine, metrics)) as test_client:
        wait(lambda: engine.ready, 30, "first index")
        tracks = ["spotify:track:c0t01"] * 2_000  # ~46 KB of JSON
        response = test_client.post("/v1/recommendations", json={"tracks": tracks, "k": 3})
        assert response.status_code == 413 and response.json()["error"] == "PayloadTooLarge"

        def chunks() -> Iterator[bytes]:  # no Content-Length: the limit counts what arrives
            yield b'{"tracks": ["spotify:track:c0t01"'
            for _ in range(1_000):
                yield b', "spotify:track:c0t02"'
            yield b'], "k": 3}'

        streamed = test_client.post("/v1/recommendations", content=chunks(),
                                    headers={"content-type": "application/json"})
        assert streamed.status_code == 413
        fits = test_client.post("/v1/recommendations", json={"tracks": tracks[:100], "k": 3})
        assert fits.status_code == 200
        text = test_client.get("/metrics").text
        assert scraped(text, "p2v_http_requests_total", route="/v1/recommendations", code="413") == 2


def test_a_25_mb_body_is_refused_before_it_is_parsed(client):
    body = b'{"tracks": [' + b'"spotify:track:c0t01",' * 1_200_000 + b'"x"], "k": 3}'
    started = time.monotonic()
    response = client.post("/v1/recommendations", content=body,
                           headers={"content-type": "application/json"})
    assert response.status_code == 413
    assert time.monotonic() - started < 5  # before: 11 s of CPU, then 422


@pytest.mark.parametrize("path", [
    "/v1/tracks/spotify:track:" + "x" * 300 + "/similar",
    "/v1/playlists/" + "9" * 10_000 + "/similar",
    "/v1/playlists/" + "9" * 5_000 + "/recommendations",
])
def test_over_long_path_parameters_are_422_and_not_echoed(client, path):
    response = client.get(path)
    assert response.status_code == 422
    assert response.json()["error"] == "InvalidInput"
    assert len(response.content) < 1_000


def test_every_answer_is_counted_by_route_and_code(client):
    client.get("/v1/playlists/200/similar")
    client.get("/v1/playlists/4242/similar")
    client.get("/v1/playlists/x/similar")
    client.get("/no/such/route")
    text = client.get("/metrics").text
    route = "/v1/playlists/{pid}/similar"
    for code in ("200", "404", "422"):
        assert scraped(text, "p2v_http_requests_total", route=route, code=code) == 1, code
    assert scraped(text, "p2v_http_request_duration_seconds_count", route=route) == 3
    assert scraped(text, "p2v_http_requests_total", route="unmatched", code="404") == 1


def test_mongodb_down_is_503_where_needed_while_memory_answers(catalog, settings, make_engine,
                                                               mongo_proxy, wait):
    proxy, through = mongo_proxy
    fast = settings.model_copy(update={"http_mongo_timeout": 1.0, "follower_max_lag": 3.0})
    engine, metrics = make_engine(through=through)
    with TestClient(create_app(fast, engine, metrics)) as test_client:
        wait(lambda: test_client.get("/readyz").status_code == 200, 30, "ready")
        proxy.cut()

        started = time.monotonic()
        needs_mongo = test_client.get("/v1/playlists/200/recommendations", params={"k": 3})
        assert time.monotonic() - started < 10
        assert needs_mongo.status_code == 503, needs_mongo.text
        assert needs_mongo.json()["error"] == "Unavailable"
        assert int(needs_mongo.headers["Retry-After"]) > 0

        seeds = {"tracks": ["spotify:track:c3t00", "spotify:track:c3t01"], "k": 4}
        adhoc = test_client.post("/v1/recommendations", json=seeds)
        assert adhoc.status_code == 200 and len(adhoc.json()["items"]) == 4
        assert adhoc.json()["items"][0]["track_name"] is None  # names need MongoDB
        similar = test_client.get("/v1/playlists/100/similar", params={"k": 2})
        assert similar.status_code == 200 and len(similar.json()["items"]) == 2
        assert test_client.get("/v1/tracks/spotify:track:c0t05/similar").status_code == 200

        not_ready = wait(lambda: (r := test_client.get("/readyz")).status_code == 503 and r, 30,
                         "readiness to notice the dead change streams")
        assert "change stream" in not_ready.json()["reason"]
        text = test_client.get("/metrics").text
        route = "/v1/playlists/{pid}/recommendations"
        assert scraped(text, "p2v_http_requests_total", route=route, code="503") == 1
        assert scraped(text, "p2v_http_request_duration_seconds_count", route=route) == 1

        proxy.restore()
        wait(lambda: test_client.get("/readyz").status_code == 200, 60, "ready again")
        again = test_client.get("/v1/playlists/200/recommendations", params={"k": 3})
        assert again.status_code == 200 and again.json()["items"][0]["track_name"]
