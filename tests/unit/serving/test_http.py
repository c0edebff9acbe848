"""The HTTP edge with no services behind it: unhandled errors become counted JSON 500s, and
error answers never echo what cannot be encoded."""

from __future__ import annotations

from pathlib import Path

from fastapi.testclient import TestClient
from prometheus_client import CollectorRegistry

from playlist2vec.errors import InvalidInput
from playlist2vec.settings import Settings
from serving.api import create_app
from serving.engine import Engine, ServeOptions
from serving.http import error_response, printable
from serving.memory import MemorySource
from serving.metrics import ServingMetrics


class BrokenEngine(Engine):
    """An engine whose recommendation has a bug."""

    def recommend_tracks(self, seeds, k, explain_top=0, include_provisional=True):  # type: ignore[no-untyped-def]
        raise RuntimeError("a bug")


def test_an_unhandled_error_is_a_counted_json_500(tmp_path: Path) -> None:
    metrics = ServingMetrics(CollectorRegistry())
    engine = BrokenEngine(MemorySource(), ServeOptions(tmp_path), metrics)
    client = TestClient(create_app(Settings.load({}), engine, metrics), raise_server_exceptions=False)
    response = client.post("/v1/recommendations", json={"tracks": ["spotify:track:a"], "k": 3})
    assert response.status_code == 500
    assert response.json() == {"error": "InternalError", "detail": "RuntimeError"}
    get = metrics.registry.get_sample_value
    assert get("p2v_http_requests_total", {"route": "/v1/recommendations", "code": "500"}) == 1
    assert get("p2v_http_request_duration_seconds_count", {"route": "/v1/recommendations"}) == 1


def test_error_details_are_short_and_encodable() -> None:
    assert printable("x" * 1000).endswith("...") and len(printable("x" * 1000)) == 300
    body = error_response(InvalidInput("bad \ud800 value")).body
    assert b"\\\\ud800" in body
