"""Model switches lose nothing: real Spark, the real MongoDB-wire server, serving following it.

Stream edits are written the way the stream writes them (`switching.stream_write`: the
playlist, then a vector for every model in `store.write_models`).
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from batch import registry, writes
from batch.train import TrainOptions, train
from batch.word2vec import Word2VecParams
from playlist2vec import store
from playlist2vec.cli import main
from playlist2vec.errors import NotFound, PipelineError
from playlist2vec.settings import Settings
from serving.api import create_app
from serving.engine import Engine, ServeOptions
from serving.metrics import ServingMetrics
from serving.source import MongoSource
from tests.integration.batch import switching
from tests.support.waiting import wait_until

pytestmark = [pytest.mark.integration, pytest.mark.spark, pytest.mark.slow, pytest.mark.timeout(1800)]
PARAMS_A = Word2VecParams(vector_size=8, window=3, iterations=1, min_count=3, partitions=2)
PARAMS_B = replace(PARAMS_A, seed=7)  # another model of the same corpus


def _corpus(folder: Path) -> list[dict[str, Any]]:
    return [p for f in sorted(folder.glob("*.json")) for p in json.loads(f.read_text())["playlists"]]


def _uris(playlist: dict[str, Any]) -> list[str]:
    return [t["track_uri"] for t in playlist["tracks"]]


def _edit(playlist: dict[str, Any], tracks_from: dict[str, Any]) -> dict[str, Any]:
    return {"pid": playlist["pid"], "name": f"{playlist['name']} (edited)",
            "tracks": _uris(tracks_from), "modified_at": playlist["modified_at"] + 100}


def _new(pid: int, tracks_from: dict[str, Any]) -> dict[str, Any]:
    return {"pid": pid, "name": f"stream-only {pid}", "tracks": _uris(tracks_from),
            "modified_at": int(time.time())}


def _cli(settings: Settings, *args: str) -> int:
    return main(["--home", str(settings.home), "--mongo-uri", settings.mongo_uri.get_secret_value(),
                 "--mongo-db", settings.mongo_db, "--spark-master", settings.spark_master, *args])


def _train(settings: Settings, spark: Any, corpus_dir: Path, params: Word2VecParams,
           **kwargs: Any) -> str:
    return train(settings, spark, TrainOptions(str(corpus_dir), params), progress=lambda _: None,
                 **kwargs).version


@contextmanager
def _serving(settings: Settings, tmp_path: Path) -> Iterator[tuple[TestClient, Engine]]:
    metrics = ServingMetrics()
    options = ServeOptions(indexes_dir=tmp_path / "indexes", poll_wait=0.05,
                           rebuild_interval=3600.0, instance="switch-test")
    engine = Engine(MongoSource(store.database(settings)), options, metrics)
    with TestClient(create_app(settings, engine, metrics)) as client:
        yield client, engine


def _served_by(client: TestClient, version: str, timeout: float = 120) -> None:
    wait_until(lambda: client.get("/readyz").json().get("model_version") == version, timeout,
          f"serving model {version}")


def _similar(client: TestClient, pid: int) -> dict[str, Any]:
    reply = client.get(f"/v1/playlists/{pid}/similar", params={"k": 5})
    assert reply.status_code == 200, (pid, reply.text)
    return reply.json()


class Watcher:
    """Asks the engine for neighbours of some playlists over and over, noting every answer's
    model (or the NotFound) until stopped."""

    def __init__(self, engine: Engine, pids: list[int]) -> None:
        self.engine, self.pids = engine, pids
        self.answers: list[tuple[int, str]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> Watcher:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        # two more whole rounds first: the last answers are then from after the caller's checks
        # (on a busy machine the thread may not have asked once since the swap)
        wanted = len(self.answers) + 2 * len(self.pids)
        wait_until(lambda: len(self.answers) >= wanted or not self._thread.is_alive(), 30,
              "the watcher's rounds after the switch")
        self._stop.set()
        self._thread.join(timeout=30)

    def _run(self) -> None:
        while not self._stop.is_set():
            for pid in self.pids:
                try:
                    self.answers.append((pid, self.engine.similar_playlists(pid, 5)[0]))
                except NotFound:
                    self.answers.append((pid, "404"))
            time.sleep(0.01)


def test_a_new_model_has_every_playlist_and_rollback_serves_the_old_one(
        spark: Any, settings: Settings, db: Any, corpus_dir: Path, tmp_path: Path,
        capsys: pytest.CaptureFixture[str]) -> None:
    corpus = _corpus(corpus_dir)
    a = _train(settings, spark, corpus_dir, PARAMS_A)
    with _serving(settings, tmp_path) as (client, engine):
        _served_by(client, a)
        # (a) the stream edits 50 corpus playlists, adds 20 of its own and deletes one
        edits = [_edit(corpus[i], corpus[i + 100]) for i in range(50)]
        new = [_new(1_000_000 + i, corpus[200 + i]) for i in range(20)]
        deleted = {"pid": corpus[60]["pid"], "deleted": True, "modified_at": corpus[60]["modified_at"] + 100}
        switching.stream_write(db, settings, [*edits, *new, deleted])
        wait_until(lambda: client.get(f"/v1/playlists/{new[0]['pid']}/similar").status_code == 200, 10,
              "a stream-only playlist served by model A")

        # (b) changes while B trains: after its derive pass read `playlists` (only A is
        # written: B is training), and once B is ready (both are written)
        during_derive = [_edit(corpus[i], corpus[i + 300]) for i in range(70, 75)] + \
            [_new(2_000_000 + i, corpus[300 + i]) for i in range(5)]
        once_ready = [_edit(corpus[i], corpus[i + 300]) for i in range(80, 85)] + \
            [_new(3_000_000 + i, corpus[320 + i]) for i in range(5)]
        real = writes.mongo_sink(settings.mongo_uri.get_secret_value(), settings.mongo_db)

        def sink(rows: Any, collection: str, build: writes.OpsBuilder, tolerate: frozenset[int]) -> int:
            done = real(rows, collection, build, tolerate)
            if collection == store.PLAYLIST_VECTORS:
                assert [m["_id"] for m in store.write_models(db)] == [a]
                switching.stream_write(db, settings, during_derive)
            return done

        def when_ready() -> None:
            assert [m["status"] for m in store.write_models(db)] == ["active", "ready"]
            assert store.write_models(db)[0]["_id"] == a
            switching.stream_write(db, settings, once_ready)

        watched = [corpus[10]["pid"], corpus[150]["pid"], new[0]["pid"]]
        with Watcher(engine, watched) as watcher:
            b = _train(settings, spark, corpus_dir, PARAMS_B, sink=sink,
                       stages=switching.Hooked(on_start={"catch-up": when_ready}))
            _served_by(client, b)
        models = {m["_id"]: m for m in db[store.MODELS].find()}
        assert (models[a]["status"], models[b]["status"]) == (registry.RETIRED, registry.ACTIVE)
        live = len(corpus) - 1 + len(new) + 10
        assert switching.assert_vectors_from_current_playlists(db, b) == live
        for playlist in [*edits[:5], *new, *during_derive, *once_ready]:
            assert _similar(client, playlist["pid"])["model_version"] == b
        # no watched playlist went missing during the switch, and the switch happened once
        versions = [v for _, v in watcher.answers]
        assert "404" not in versions
        assert versions[0] == a and versions[-1] == b
        assert versions == sorted(versions, key=lambda v: v == b), "answers went back to A"

        # (d) a change while B is active (A is retired: only B is written), then rollback
        after = [_edit(corpus[90], corpus[400]), _new(4_000_000, corpus[401])]
        switching.stream_write(db, settings, after)
        capsys.readouterr()
        assert _cli(settings, "models", "rollback") == 0
        assert f"model {a} active" in capsys.readouterr().out
        _served_by(client, a, timeout=60)
        assert switching.assert_vectors_from_current_playlists(db, a) == live + 1
        for playlist in [*after, *new, *once_ready]:
            assert _similar(client, playlist["pid"])["model_version"] == a

    assert _cli(settings, "models", "list") == 0
    listing = capsys.readouterr().out
    assert f"{a}" in listing and f"{b}" in listing
    assert _cli(settings, "models", "retire", a) == 2
    assert "activate another model first" in capsys.readouterr().err
    assert _cli(settings, "models", "retire", b) == 0
    assert db[store.PLAYLIST_VECTORS].count_documents({"_id.m": b}) == 0
    assert db[store.TRACK_VECTORS].count_documents({"_id.m": b}) == 0
    assert _cli(settings, "models", "rollback") != 0
    assert "no retired model" in capsys.readouterr().err
    assert _cli(settings, "models", "activate", b) != 0
    assert "vectors were removed" in capsys.readouterr().err


FAIL_AT = ["fit", store.TRACK_VECTORS, store.PLAYLISTS, "derive", "catch-up", "activate"]


def test_a_model_failing_at_any_stage_leaves_the_active_one_served_and_unchanged(
        spark: Any, settings: Settings, db: Any, corpus_dir: Path, tmp_path: Path) -> None:
    a = _train(settings, spark, corpus_dir, PARAMS_A)
    before = switching.model_docs(db, a)
    assert len(before[store.PLAYLIST_VECTORS]) == len(_corpus(corpus_dir))
    with _serving(settings, tmp_path) as (client, _):
        _served_by(client, a)
        for stage in FAIL_AT:
            with pytest.raises(PipelineError, match=f"stage {stage} failed: .*injected failure"):
                _train(settings, spark, corpus_dir, PARAMS_B, stages=switching.Hooked(fail=stage))
            assert db[store.MODELS].count_documents({"status": registry.FAILED,
                                                     "error.stage": stage}) == 1, stage
            assert store.active_model(db)["_id"] == a, stage
            assert switching.model_docs(db, a) == before, stage
            assert client.get("/readyz").json()["model_version"] == a
            assert _similar(client, _corpus(corpus_dir)[0]["pid"])["model_version"] == a
    # a failed run's vectors stay (nobody reads them) until `models retire` removes them
    derived = db[store.MODELS].find_one({"status": registry.FAILED, "error.stage": "derive"})
    assert db[store.PLAYLIST_VECTORS].count_documents({"_id.m": derived["_id"]}) > 0
    registry.retire(db, derived["_id"])
    assert db[store.PLAYLIST_VECTORS].count_documents({"_id.m": derived["_id"]}) == 0
    assert switching.model_docs(db, a) == before
