"""`playlist2vec route` in front of two `serve --shard i/2` processes, against one unsharded
`serve` over the same database: the same answers, and partial ones within the timeout when a
shard is killed (kill -9) or hangs (SIGSTOP)."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
from pymongo import InsertOne

from playlist2vec import store, vectors
from playlist2vec.settings import Settings
from tests.conftest import REPO, free_port

pytestmark = pytest.mark.integration

PLAYLISTS = 600
DIM = 8
VERSION = "m1"
TIMEOUT = 0.5  # the router's per-shard timeout


def seed(db: Any, settings: Settings) -> None:
    """An active model and PLAYLISTS random playlist vectors (no two alike, so no ties)."""
    rng = np.random.default_rng(11)
    db[store.MODELS].insert_one({"_id": VERSION, "status": "active", "vector_size": DIM,
                                 "activated_at": datetime.now(UTC)})
    db[store.TRACK_VECTORS].insert_one({"_id": {"m": VERSION, "t": "spotify:track:t0"},
                                        "vector": vectors.encode(np.ones(DIM, np.float32),
                                                                 settings.vector_subtype), "count": 1})
    store.bulk_write(db[store.PLAYLISTS], (
        InsertOne({"_id": pid, "name": f"p{pid}", "tracks": ["spotify:track:t0"]})
        for pid in range(PLAYLISTS)))
    store.bulk_write(db[store.PLAYLIST_VECTORS], (
        InsertOne({"_id": {"m": VERSION, "p": pid}, "n_tracks": 1, "n_known": 1, "source": "batch",
                   "vector": vectors.encode(rng.normal(size=DIM).astype(np.float32),
                                            settings.vector_subtype)})
        for pid in range(PLAYLISTS)))


class Process:
    """A `playlist2vec` child running this checkout's code, on its own loopback port."""

    def __init__(self, env: dict[str, str], *args: str) -> None:
        self.url = f"http://127.0.0.1:{free_port()}"
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "playlist2vec.cli", *args, "--http-addr", self.url[7:]],
            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)

    def ready(self) -> bool:
        assert self.proc.poll() is None, f"{self.url} exited with {self.proc.returncode}"
        try:
            return httpx.get(f"{self.url}/readyz", timeout=2).status_code == 200
        except httpx.TransportError:
            return False

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGCONT)
            self.proc.kill()
        self.proc.wait(timeout=30)


@pytest.fixture
def cluster(db: Any, settings: Settings, tmp_path: Path, wait: Any) -> Iterator[dict[str, Process]]:
    seed(db, settings)
    env = {**os.environ, "P2V_HOME": str(tmp_path), "P2V_MONGO_DB": settings.mongo_db,
           "P2V_MONGO_URI": settings.mongo_uri.get_secret_value(), "P2V_STACK": settings.stack,
           "PYTHONPATH": str(REPO)}
    started: dict[str, Process] = {}
    try:
        for name, extra in {"whole": [], "shard0": ["--shard", "0/2"], "shard1": ["--shard", "1/2"]
                            }.items():
            started[name] = Process(env, "serve", "--index", "exact", "--instance", name, *extra)
        started["router"] = Process(env, "route", "--shard", started["shard0"].url,
                                    "--shard", started["shard1"].url, "--timeout", str(TIMEOUT))
        for name, process in started.items():
            wait(process.ready, 90, f"{name} ready")
        yield started
    finally:
        for process in started.values():
            process.stop()


def similar(url: str, pid: int, k: int) -> dict[str, Any]:
    response = httpx.get(f"{url}/v1/playlists/{pid}/similar", params={"k": k}, timeout=10)
    assert response.status_code == 200, response.text
    return response.json()


def test_router_answers_as_one_server_and_partially_without_a_shard(cluster: dict[str, Process]
                                                                    ) -> None:
    router, whole = cluster["router"].url, cluster["whole"].url
    rng = random.Random(3)
    for pid in rng.sample(range(PLAYLISTS), 100):
        k = rng.choice([1, 10, 50])
        merged, single = similar(router, pid, k), similar(whole, pid, k)
        assert [i["pid"] for i in merged["items"]] == [i["pid"] for i in single["items"]], pid
        assert [i["score"] for i in merged["items"]] == pytest.approx(
            [i["score"] for i in single["items"]], abs=1e-6)
        assert merged["partial"] is False and merged["model_version"] == single["model_version"]
    tracks = httpx.get(f"{router}/v1/playlists/5/recommendations", params={"k": 5}).json()
    assert tracks == httpx.get(f"{whole}/v1/playlists/5/recommendations", params={"k": 5}).json()

    cluster["shard1"].proc.send_signal(signal.SIGKILL)
    cluster["shard1"].proc.wait(timeout=10)
    started = time.monotonic()
    answer = similar(router, 4, 10)
    assert time.monotonic() - started < TIMEOUT + 1.0
    assert answer["partial"] is True and answer["missing_shards"] == [cluster["shard1"].url]
    assert [i["pid"] % 2 for i in answer["items"]] == [0] * 10
    even = [i for i in similar(whole, 4, PLAYLISTS)["items"] if i["pid"] % 2 == 0][:10]
    assert [i["pid"] for i in answer["items"]] == [i["pid"] for i in even]

    cluster["shard0"].proc.send_signal(signal.SIGSTOP)  # hangs: only the timeout ends the wait
    started = time.monotonic()
    response = httpx.get(f"{router}/v1/playlists/4/similar", timeout=10)
    assert time.monotonic() - started < TIMEOUT + 1.0
    assert response.status_code == 503 and response.headers["retry-after"] == "5"
    metrics = httpx.get(f"{router}/metrics").text
    hung = cluster["shard0"].url
    assert f'p2v_router_shard_requests_total{{outcome="timeout",shard="{hung}"}} 1.0' in metrics
    assert 'p2v_router_partial_answers_total{route="/v1/playlists/{pid}/similar"} 1.0' in metrics
