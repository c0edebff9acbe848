"""Fold-in on the real pipeline (Kafka -> stream -> MongoDB -> change stream -> HTTP): a track
first seen in the stream gets a provisional vector only from the minimum support on, is then
answered by `/similar` and recommended (marked, and excluded on request), its support follows
edits and deletions, and the next model, which trained it, replaces it."""

from __future__ import annotations

from typing import Any

import httpx
import numpy as np
import pytest

from batch import registry
from playlist2vec import store
from playlist2vec.events import PlaylistEvent
from playlist2vec.producer import Producer
from streaming.bench import seed_model
from tests.support.waiting import wait_until

pytestmark = [pytest.mark.integration, pytest.mark.spark]

NEW = "spotify:track:fresh00000000000000001"


def test_a_track_first_seen_in_the_stream_is_folded_in_served_and_replaced(pipeline: Any) -> None:
    settings, db = pipeline.settings, pipeline.db
    assert settings.fold_in_min_support == 3
    http = httpx.Client(base_url=pipeline.url, timeout=10)
    wait_until(lambda: http.get("/readyz").status_code == 200, 60, "the server")
    # the cluster's clean tracks (the model gives some a random vector): NEW's provisional
    # vector, their mean, then points where they do
    cluster0 = [u for u, v in zip(pipeline.uris[:100], pipeline.matrix[:100], strict=True)
                if v[0] > 0.9 * np.linalg.norm(v)]
    assert len(cluster0) >= 61
    key = {"_id": {"m": "m1", "t": NEW}}

    def stored() -> dict[str, Any]:
        return db[store.TRACK_VECTORS].find_one(key) or {}

    def similar(**params: Any) -> httpx.Response:
        return http.get(f"/v1/tracks/{NEW}/similar", params={"k": 10, **params})

    def recommended(**params: Any) -> list[dict[str, Any]]:
        reply = http.post("/v1/recommendations", params=params,
                          json={"tracks": cluster0[45:58], "k": 200})
        assert reply.status_code == 200
        return [i for i in reply.json()["items"] if i["track_uri"] == NEW]

    with Producer(settings, {"linger.ms": 0}) as producer:
        def publish(pid: int, tracks: list[str] | None, clock: int) -> None:
            if tracks is None:
                producer.send(settings.playlist_topic, key=str(pid).encode(), value=None)
            else:
                event = PlaylistEvent(pid=pid, name=f"p{pid}", tracks=tuple(tracks), modified_at=clock)
                producer.send(settings.playlist_topic, key=event.key, value=event.to_json())
            producer.flush()

        def support_becomes(n: int) -> None:
            """Wait for support n (written with the vector it gives, in one write)."""
            wait_until(lambda: stored().get("support", 0) == n, 60, f"support {n}")

        publish(99, cluster0[58:61], 10)  # the first micro-batch starts the Python workers
        wait_until(lambda: db[store.PLAYLIST_VECTORS].find_one({"_id": {"m": "m1", "p": 99}}), 300,
             "the first micro-batch")
        publish(1, [*cluster0[0:6], NEW], 10)
        publish(2, [NEW, *cluster0[6:12]], 10)
        support_becomes(2)
        assert "vector" not in stored() and stored()["provisional"] is True
        assert similar().status_code == 404  # below the minimum: not served
        publish(3, [*cluster0[12:20], NEW, NEW], 10)
        support_becomes(3)
        assert "vector" in stored()
        # playlist means use it only where nothing is trained: playlist 3's vector is the mean
        # of its 8 trained tracks, a playlist of NEW alone has NEW's vector
        vec = wait_until(lambda: db[store.PLAYLIST_VECTORS].find_one({"_id": {"m": "m1", "p": 3}}), 30,
                   "playlist 3's vector")  # written after the fold-in, in the same task
        assert vec["n_known"] == 8 and vec["n_tracks"] == 10
        publish(7, [NEW], 10)  # no trained track: no support either
        alone = wait_until(lambda: db[store.PLAYLIST_VECTORS].find_one({"_id": {"m": "m1", "p": 7}}),
                           30, "playlist 7's vector")
        assert alone["n_known"] == 1 and alone["vector"] == stored()["vector"]
        assert stored()["support"] == 3

        answer = wait_until(lambda: similar().status_code == 200 and similar().json(), 30, "/similar")
        neighbours = [i["track_uri"] for i in answer["items"]]
        assert sum(u in cluster0 for u in neighbours) >= 6, neighbours  # it sits in its cluster
        (item,) = wait_until(recommended, 30, "the provisional track recommended")
        assert item["provisional"] is True
        assert recommended(include_provisional="false") == []
        assert not any(i["provisional"] for i in similar(include_provisional="false").json()["items"])

        # an edit that removes it and a deletion: support follows, the vector goes below 3
        publish(3, cluster0[12:20], 20)
        support_becomes(2)
        assert "vector" not in stored()
        wait_until(lambda: similar().status_code == 404, 30, "the track withdrawn from serving")
        publish(2, None, 30)
        support_becomes(1)
        publish(4, [NEW, *cluster0[20:25]], 10)
        publish(5, [NEW, *cluster0[25:30]], 10)
        support_becomes(3)
        wait_until(lambda: similar().status_code == 200, 30, "the track served again")

        # the next model trained NEW: it replaces the provisional vector
        uris = [*pipeline.uris, NEW]
        clean = [pipeline.uris.index(u) for u in cluster0]
        matrix = np.vstack([pipeline.matrix, pipeline.matrix[clean].mean(axis=0)])
        seed_model(db, "m2", uris, matrix, settings.vector_subtype, status="ready")
        model = db[store.MODELS].find_one({"_id": "m2"})
        registry.switch(db, model, model["created_at"], settings.vector_subtype)
        wait_until(lambda: http.get("/readyz").json().get("model_version") == "m2", 60, "serving m2")
        publish(6, [NEW, *cluster0[30:35]], 10)  # the stream writes m2 vectors, no fold-in
        wait_until(lambda: db[store.PLAYLIST_VECTORS].find_one({"_id": {"m": "m2", "p": 6}}), 60, "m2")
        trained = db[store.TRACK_VECTORS].find_one({"_id": {"m": "m2", "t": NEW}})
        assert trained is not None and not trained.get("provisional") and "vector" in trained
        assert db[store.TRACK_VECTORS].count_documents({"_id.m": "m2", "provisional": True}) == 0
        assert db[store.FOLD_IN].count_documents({"_id.m": "m2"}) == 0
        (item,) = wait_until(recommended, 30, "the trained track recommended")
        assert item["provisional"] is False
        assert [i["track_uri"] for i in recommended(include_provisional="false")] == [NEW]

        # retiring the old model removes its fold-in state with its vectors
        assert db[store.FOLD_IN].count_documents({"_id.m": "m1"}) > 0
        registry.retire(db, "m1")
        assert db[store.FOLD_IN].count_documents({"_id.m": "m1"}) == 0
        assert db[store.TRACK_VECTORS].count_documents({"_id.m": "m1"}) == 0
