"""`serving.server`: the app `serve` runs owns its MongoDB client and closes it at shutdown."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient
from pymongo.errors import InvalidOperation

from playlist2vec import store
from playlist2vec.settings import Settings
from serving.engine import ServeOptions
from serving.server import build_app
from tests.support.waiting import wait_until

pytestmark = pytest.mark.integration


def test_the_mongodb_client_is_closed_when_the_app_shuts_down(
        catalog: Any, settings: Settings, tmp_path: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    made: list[Any] = []
    database = store.database

    def recorded(s: Settings) -> Any:
        made.append(database(s))
        return made[-1]

    monkeypatch.setattr(store, "database", recorded)
    app = build_app(settings, ServeOptions(indexes_dir=tmp_path / "indexes", strategy="exact",
                                           poll_wait=0.05, instance="closing"))
    (db,) = made
    with TestClient(app) as client:
        wait_until(lambda: client.get("/readyz").status_code == 200, 30, "the first index")
        assert db.command("ping")["ok"] == 1  # in use while the app serves
    with pytest.raises(InvalidOperation, match="after close"):
        db.command("ping")
