"""The training job end to end: real Spark, the real MongoDB-wire server, a generated corpus."""

from __future__ import annotations

import json
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from batch import registry, writes
from batch.train import TrainOptions, metrics_path, train
from batch.word2vec import Word2VecParams
from playlist2vec import store, vectors
from playlist2vec.cli import main
from playlist2vec.errors import PipelineError
from playlist2vec.settings import Settings
from tests.integration.batch import switching

# each test trains on a (small) corpus: minutes on a busy 2-core machine
pytestmark = [pytest.mark.integration, pytest.mark.spark, pytest.mark.slow, pytest.mark.timeout(1500)]
PARAMS = Word2VecParams(vector_size=8, window=3, iterations=1, min_count=3, partitions=2)


def _corpus(folder: Path) -> list[dict[str, Any]]:
    return [p for f in sorted(folder.glob("*.json")) for p in json.loads(f.read_text())["playlists"]]


def _cli(settings: Settings, *args: str) -> int:
    return main(["--home", str(settings.home), "--mongo-uri", settings.mongo_uri.get_secret_value(),
                 "--mongo-db", settings.mongo_db, "--spark-master", settings.spark_master, *args])


def _sink_watching(settings: Settings, db: Any, seen: list[tuple[str, set[str]]]) -> writes.Sink:
    """The real sink, noting which models are active while each collection is written."""
    real = writes.mongo_sink(settings.mongo_uri.get_secret_value(), settings.mongo_db)

    def sink(rows: Any, collection: str, build: writes.OpsBuilder, tolerate: frozenset[int]) -> int:
        seen.append((collection, {m["_id"] for m in db[store.MODELS].find({"status": "active"})}))
        return real(rows, collection, build, tolerate)

    return sink


def test_train_writes_the_model_then_switches_to_it(spark: Any, settings: Settings, db: Any,
                                                     corpus_dir: Path, capsys: Any) -> None:
    playlists = _corpus(corpus_dir)
    counts = Counter(t["track_uri"] for p in playlists for t in p["tracks"])
    vocabulary = {t for t, c in counts.items() if c >= PARAMS.min_count}

    # first run through the CLI
    assert _cli(settings, "train", "--input", str(corpus_dir), "--vector-size", "8", "--window", "3",
                "--iterations", "1", "--min-count", "3") == 0
    assert "active" in capsys.readouterr().out
    assert "p2v_batch_last_run_success 1.0" in metrics_path(settings).read_text()
    first = store.active_model(db)
    assert first["vocab_size"] == len(vocabulary) and first["corpus"]["playlists"] == len(playlists)
    stored = db[store.TRACK_VECTORS].find({"_id.m": first["_id"]})
    assert {d["_id"]["t"]: d["count"] for d in stored} == {t: counts[t] for t in vocabulary}
    assert db[store.TRACKS].count_documents({}) == len(counts)
    assert db[store.PLAYLISTS].count_documents({"deleted": False}) == len(playlists)

    # a playlist vector is the mean of its known tracks' vectors, under the model's key
    uris, matrix = store.load_track_vectors(db, first["_id"])
    by_uri = dict(zip(uris, matrix, strict=True))
    for p in playlists[:50]:
        doc = db[store.PLAYLIST_VECTORS].find_one({"_id": {"m": first["_id"], "p": p["pid"]}})
        known = [by_uri[t["track_uri"]] for t in p["tracks"] if t["track_uri"] in by_uri]
        assert doc["n_tracks"] == len(p["tracks"]) and doc["n_known"] == len(known)
        assert doc["source"] == "batch" and doc["modified_at"] == p["modified_at"]
        np.testing.assert_allclose(vectors.decode(doc["vector"]), np.mean(known, axis=0), atol=1e-5)
    stored_playlist = db[store.PLAYLISTS].find_one({"_id": playlists[0]["pid"]})
    assert stored_playlist["tracks"] == [t["track_uri"] for t in playlists[0]["tracks"]]

    # a newer (streamed) edit of a playlist survives the corpus and gets the new model's vector
    edited, newer = playlists[1]["pid"], playlists[1]["modified_at"] + 100
    new_tracks = [t["track_uri"] for t in playlists[2]["tracks"]]
    switching.stream_write(db, settings, [{"pid": edited, "name": "edited", "tracks": new_tracks,
                                           "modified_at": newer}])
    first_vectors = switching.model_docs(db, first["_id"])

    # second run of the same input: the registry switches only after every write
    seen: list[tuple[str, set[str]]] = []
    report = train(settings, spark, TrainOptions(str(corpus_dir), PARAMS),
                   sink=_sink_watching(settings, db, seen), progress=lambda _: None)
    assert [c for c, _ in seen] == [store.TRACK_VECTORS, store.TRACKS, store.PLAYLISTS,
                                    store.PLAYLIST_VECTORS]
    assert all(active == {first["_id"]} for _, active in seen)
    models = {m["_id"]: m for m in db[store.MODELS].find()}
    assert models[report.version]["status"] == registry.ACTIVE
    assert models[first["_id"]]["status"] == registry.RETIRED
    assert store.active_model(db)["_id"] == report.version
    assert db[store.PLAYLISTS].count_documents({}) == len(playlists)
    assert db[store.PLAYLISTS].find_one({"_id": edited})["name"] == "edited"
    # the new model derived every playlist from `playlists`, the edited one included
    assert switching.assert_vectors_from_current_playlists(db, report.version) == len(playlists)
    # the retired model keeps its vectors, untouched
    assert switching.model_docs(db, first["_id"]) == first_vectors
    assert db[store.TRACK_VECTORS].count_documents({"_id.m": report.version}) == len(vocabulary)


def _raise_in_executor(rows: Any) -> list[Any]:
    raise ValueError("injected failure")


def test_a_failure_midway_leaves_the_old_model_active(spark: Any, settings: Settings, db: Any,
                                                      corpus_dir: Path) -> None:
    old = registry.save(db, registry.new_model(datetime(2026, 1, 1, tzinfo=UTC), {}, "x"),
                        status=registry.ACTIVE)
    real = writes.mongo_sink(settings.mongo_uri.get_secret_value(), settings.mongo_db)

    def failing(rows: Any, collection: str, build: writes.OpsBuilder, tolerate: frozenset[int]) -> int:
        # the second collection fails inside the executors, as a real write error would
        return real(rows, collection, build if collection == store.TRACK_VECTORS
                    else _raise_in_executor, tolerate)

    with pytest.raises(PipelineError, match=r"stage tracks failed: .*injected failure"):
        train(settings, spark, TrainOptions(str(corpus_dir), PARAMS), sink=failing,
              progress=lambda _: None)
    assert store.active_model(db)["_id"] == old["_id"]
    [failed] = db[store.MODELS].find({"_id": {"$ne": old["_id"]}})
    assert failed["status"] == registry.FAILED and failed["error"]["stage"] == store.TRACKS
    # the failed run wrote its own track vectors only, and no playlist vectors
    assert db[store.TRACK_VECTORS].count_documents({"_id.m": {"$ne": failed["_id"]}}) == 0
    assert db[store.PLAYLIST_VECTORS].count_documents({}) == 0
    assert "p2v_batch_last_run_success 0.0" in metrics_path(settings).read_text()


NEW = "spotify:track:NEWtrack00000000000001"


def _with_new_track(corpus_dir: Path, folder: Path) -> Path:
    """The corpus plus five playlists holding NEW beside tracks of the corpus."""
    import shutil

    shutil.copytree(corpus_dir, folder)
    first = json.loads(next(iter(sorted(corpus_dir.glob("*.json")))).read_text())
    extra = []
    for i, playlist in enumerate(first["playlists"][:5]):
        tracks = [*playlist["tracks"][:8],
                  {**playlist["tracks"][0], "track_uri": NEW, "track_name": "New"}]
        extra.append({**playlist, "pid": 990_000 + i, "num_tracks": len(tracks),
                      "tracks": [{**t, "pos": pos} for pos, t in enumerate(tracks)]})
    (folder / "mpd.slice.990000-990004.json").write_text(json.dumps({"info": first["info"],
                                                                     "playlists": extra}))
    return folder


def test_the_next_training_replaces_provisional_vectors(spark: Any, settings: Settings, db: Any,
                                                        corpus_dir: Path, tmp_path: Path) -> None:
    """A track the model never saw, folded in by the stream (its MongoDB state written by the
    stream's own code), is trained by the next model: no provisional vector for it there, and
    retiring the old model removes the old model's fold-in state."""
    from playlist2vec.vectors import TrackIndex
    from streaming import fold

    first = train(settings, spark, TrainOptions(str(corpus_dir), PARAMS), progress=lambda _: None)
    uris, matrix = store.load_track_vectors(db, first.version)
    index = TrackIndex.of(uris, matrix)
    known = uris[:9]
    targets = [fold.Target(900 + i, f"{900 + i}@t/0/{i}", [*known[3 * i:3 * i + 3], NEW])
               for i in range(3)]
    usable, _ = fold.fold(db, first.version, index, targets, 3, settings.vector_subtype)
    assert set(usable) == {NEW}
    provisional = db[store.TRACK_VECTORS].find_one({"_id": {"m": first.version, "t": NEW}})
    assert provisional["provisional"] is True and provisional["support"] == 3

    second = train(settings, spark, TrainOptions(str(_with_new_track(corpus_dir, tmp_path / "c2")),
                                                 PARAMS), progress=lambda _: None)
    assert store.active_model(db)["_id"] == second.version
    trained = db[store.TRACK_VECTORS].find_one({"_id": {"m": second.version, "t": NEW}})
    assert trained is not None and "vector" in trained and not trained.get("provisional")
    assert db[store.TRACK_VECTORS].count_documents({"_id.m": second.version, "provisional": True}) == 0
    assert db[store.FOLD_IN].count_documents({"_id.m": second.version}) == 0
    assert db[store.FOLD_IN].count_documents({"_id.m": first.version}) == 3  # kept while retired
    assert db[store.FOLD_IN_BATCHES].count_documents({"_id.m": first.version}) == 1
    registry.retire(db, first.version)
    assert db[store.FOLD_IN].count_documents({"_id.m": first.version}) == 0
    assert db[store.FOLD_IN_BATCHES].count_documents({"_id.m": first.version}) == 0
    assert db[store.TRACK_VECTORS].count_documents({"_id.m": first.version}) == 0
