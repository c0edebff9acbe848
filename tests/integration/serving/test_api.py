"""The HTTP API over a seeded database: answers, errors, readiness, metrics, admin, fuzzing."""

from __future__ import annotations

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
        @hypothesis_settings(max_examples=20, deadline=None, database=None,
                             suppress_health_check=list(HealthCheck))
        def no_5xx(case: Any) -> None:
            response = case.call(base_url=live_url, timeout=30)
            assert response.status_code < 500, (case.as_curl_command(), response.text[:300])
            assert len(response.content) < 100_000 or response.status_code == 200
            if case.path != "/metrics":
                response.json()

        no_5xx()
