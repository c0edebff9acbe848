"""The engine over a source with no change streams: queries over installed states and an idle
background, so the HTTP app runs with no MongoDB."""

from __future__ import annotations

from pathlib import Path

from fastapi.testclient import TestClient

from playlist2vec.settings import Settings
from serving.api import create_app
from serving.engine import Engine, ServeOptions
from serving.loader import Loader
from serving.memory import MemorySource
from serving.metrics import ServingMetrics
from serving.refresher import Idle
from tests.unit.serving.conftest import model_source


def test_a_memory_source_gets_an_idle_background(tmp_path: Path, metrics: ServingMetrics) -> None:
    engine = Engine(MemorySource(), ServeOptions(tmp_path), metrics)
    assert isinstance(engine.background, Idle)
    engine.start()
    engine.request_rebuild()
    assert engine.follower_problem(max_lag_s=0) is None
    engine.stop()
    assert not engine.ready


def test_the_app_answers_from_an_installed_state_with_names_from_the_source(
        tmp_path: Path, metrics: ServingMetrics) -> None:
    source = model_source()
    options = ServeOptions(tmp_path, strategy="exact")
    engine = Engine(source, options, metrics)
    Loader(source, engine, options, metrics).run_once()  # installs into the engine's queries
    with TestClient(create_app(Settings.load({}), engine, metrics)) as client:
        assert client.get("/readyz").json() == {"ready": True, "model_version": "m1"}
        answer = client.get("/v1/playlists/100/recommendations", params={"k": 1}).json()
        assert answer["items"] == [{"track_uri": "a1", "score": answer["items"][0]["score"],
                                    "track_name": "A1", "artist_name": "x", "provisional": False,
                                    "explanation": None}]
        similar = client.get("/v1/playlists/200/similar", params={"k": 1}).json()
        assert similar["items"][0]["pid"] == 201
        assert client.get("/v1/playlists/999/recommendations").status_code == 404
