"""The engine against the real MongoDB-wire server: freshness, deletes, resume, rebuilds, switches."""

from __future__ import annotations

import threading
from typing import Any

import pytest
from fastapi.testclient import TestClient

from playlist2vec import store
from playlist2vec.errors import NotFound
from serving.shard import Shard

pytestmark = pytest.mark.integration

# annoy: snapshot + delta, rebuilt; hnsw: every change goes into the graph, no rebuild
FRESHNESS_PATHS = ["annoy", "hnsw"]
# A change is applied from the change stream (rebuilds are an hour apart here) within a poll
# or two; the deadline only bounds a wait on a loaded machine: how fast is what
# test_freshness.py and `bench stream` measure.
CHANGE_S = 15.0


@pytest.fixture(params=FRESHNESS_PATHS)
def strategy(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def assert_applied_where_expected(engine: Any, snapshot: Any) -> None:
    """hnsw: changes live in the graph (empty delta) and the graph was never rebuilt."""
    playlists = engine.state().playlists
    assert playlists.snapshot is snapshot, "answered without a rebuild"
    if playlists.updatable:
        assert playlists.delta_size() == 0


def similar_pids(engine: Any, pid: int, k: int = 50) -> list[int]:
    return [s.item for s in engine.similar_playlists(pid, k)[1]]


def events(metrics: Any, collection: str = store.PLAYLIST_VECTORS) -> float:
    """Change events applied that carried a document (writers replace: a MongoDB `replace`)."""
    return sum(
        metrics.registry.get_sample_value("p2v_change_events_total", {"collection": collection, "op": op})
        or 0.0
        for op in ("insert", "replace", "update")
    )


def test_new_vector_is_served_from_the_change_stream_before_any_rebuild(catalog, make_engine, wait,
                                                                    strategy):
    engine, _ = make_engine(strategy=strategy)
    engine.start()
    wait(lambda: engine.ready, 30, "first index")
    snapshot = engine.state().playlists.snapshot
    assert 999 not in similar_pids(engine, 200)

    catalog.write_playlist(999, catalog.playlists[201])  # same tracks as 201: cluster 2
    wait(lambda: 999 in similar_pids(engine, 200, k=PLAYLISTS_IN_CLUSTER), CHANGE_S, "fresh playlist")
    assert_applied_where_expected(engine, snapshot)
    moved = catalog.playlists[300]  # a changed vector replaces the old one: 999 moves cluster
    catalog.write_playlist(999, moved)
    wait(lambda: 999 in similar_pids(engine, 300, k=PLAYLISTS_IN_CLUSTER), CHANGE_S, "moved playlist")
    assert 999 not in similar_pids(engine, 200, k=PLAYLISTS_IN_CLUSTER)
    # /similar of 999 itself takes its query vector from memory, already the new one
    assert {pid // 100 for pid in similar_pids(engine, 999, k=4)} == {3}
    assert_applied_where_expected(engine, snapshot)


PLAYLISTS_IN_CLUSTER = 6  # 5 seeded + the new one, minus the query itself, plus slack


@pytest.mark.parametrize("how", ["replace", "update", "delete"])
def test_deleted_playlist_disappears(catalog, make_engine, wait, strategy, how):
    engine, _ = make_engine(strategy=strategy)
    engine.start()
    wait(lambda: engine.ready, 30, "first index")
    snapshot = engine.state().playlists.snapshot
    assert 201 in similar_pids(engine, 200, k=4)

    catalog.delete_playlist(201, how=how)
    wait(lambda: 201 not in similar_pids(engine, 200), CHANGE_S, "deleted playlist gone")
    with pytest.raises(NotFound):
        engine.similar_playlists(201, 10)
    catalog.write_playlist(201, catalog.playlists[200])  # and a deleted playlist can come back
    wait(lambda: 201 in similar_pids(engine, 200, k=4), CHANGE_S, "returning playlist")
    assert_applied_where_expected(engine, snapshot)


def test_restart_resumes_from_token_and_applies_changes_exactly_once(catalog, make_engine, wait,
                                                                     strategy):
    first, _ = make_engine(strategy=strategy)
    first.start()
    wait(lambda: first.ready, 30, "first index")
    catalog.write_playlist(900, catalog.playlists[100])
    wait(lambda: 900 in similar_pids(first, 100), CHANGE_S, "change applied")
    first.stop()  # the follower finishes its batch (apply, then commit the token) before exiting

    catalog.write_playlist(901, catalog.playlists[300])  # changes made while down
    catalog.delete_playlist(102)

    second, second_metrics = make_engine(strategy=strategy)
    second.start()
    wait(lambda: events(second_metrics) >= 2, 10, "changes made while down")
    wait(lambda: second.ready, 30, "index after restart")
    assert 901 in similar_pids(second, 300)
    assert 102 not in similar_pids(second, 100)
    assert events(second_metrics) == 2, "each change applied once, none replayed"
    assert second_metrics.registry.get_sample_value(
        "p2v_change_stream_resets_total", {"collection": store.PLAYLIST_VECTORS}) is None


def test_unusable_resume_token_means_full_reload_and_a_metric(catalog, db, make_engine, wait,
                                                              strategy):
    db[store.SERVING_STATE].replace_one(
        {"_id": "test"}, {"_id": "test", "tokens": {store.PLAYLIST_VECTORS: {"_data": "bogus"}}},
        upsert=True)
    engine, metrics = make_engine(strategy=strategy)
    engine.start()
    wait(lambda: engine.ready, 30, "index after reset")
    assert metrics.registry.get_sample_value(
        "p2v_change_stream_resets_total", {"collection": store.PLAYLIST_VECTORS}) == 1
    catalog.write_playlist(950, catalog.playlists[0])
    wait(lambda: 950 in similar_pids(engine, 0), CHANGE_S, "changes followed after the reset")


def test_rebuild_under_concurrent_queries_loses_no_request(catalog, make_engine, app_for, wait,
                                                          strategy):
    engine, metrics = make_engine(strategy=strategy)
    app = app_for(engine, metrics)
    failures: list[str] = []
    answered = [0]
    stop = threading.Event()

    def query(client: TestClient) -> None:
        while not stop.is_set():
            for path in ("/v1/playlists/200/similar?k=5", "/v1/playlists/300/recommendations?k=5"):
                response = client.get(path)
                if response.status_code != 200 or not response.json()["items"]:
                    failures.append(f"{path}: {response.status_code} {response.text}")
                answered[0] += 1

    with TestClient(app) as client:
        wait(lambda: engine.ready, 30, "first index")
        threads = [threading.Thread(target=query, args=(client,)) for _ in range(3)]
        for thread in threads:
            thread.start()
        try:
            for _ in range(3):
                before = engine.state().playlists.snapshot
                catalog.write_playlist(800 + _, catalog.playlists[101])
                engine.request_rebuild()
                wait(lambda b=before: engine.state().playlists.snapshot is not b, 20, "rebuild")
        finally:
            stop.set()
            for thread in threads:
                thread.join()
    assert not failures, failures[:3]
    assert answered[0] > 0
    files = sorted(p.name for p in engine.options.indexes_dir.iterdir())
    assert len(files) == 4, f"only the current track and playlist files remain: {files}"


def test_only_snapshot_indexes_rebuild_for_a_large_delta(catalog, make_engine, wait, strategy):
    engine, _ = make_engine(strategy=strategy, rebuild_max_delta=0, rebuild_delta_share=0)
    engine.start()
    wait(lambda: engine.ready, 30, "first index")
    snapshot = engine.state().playlists.snapshot
    catalog.write_playlist(990, catalog.playlists[100])
    wait(lambda: 990 in similar_pids(engine, 100), CHANGE_S, "change applied")
    if strategy == "annoy":
        wait(lambda: engine.state().playlists.snapshot is not snapshot, 10, "rebuild")
    else:
        assert not engine.rebuild_due(engine.state())
        assert_applied_where_expected(engine, snapshot)
        assert len(snapshot.index) == 21


def test_a_due_rebuild_starts_from_memory_and_a_requested_one_rereads_mongodb(
        catalog, make_engine, wait, monkeypatch):
    engine, _ = make_engine(strategy="annoy", rebuild_max_delta=0, rebuild_delta_share=0)
    reads: list[str] = []
    read = engine.source.playlist_vectors
    monkeypatch.setattr(engine.source, "playlist_vectors",
                        lambda version, owns=None: reads.append(version) or read(version, owns))
    engine.start()
    wait(lambda: engine.ready, 30, "first index")
    first = engine.state().playlists.snapshot
    catalog.write_playlist(990, catalog.playlists[100])
    catalog.delete_playlist(201)
    wait(lambda: engine.state().playlists.snapshot is not first
         and engine.state().playlists.delta_size() == 0, 10, "rebuild")
    rebuilt = engine.state().playlists.snapshot.index
    assert rebuilt.vector(990) is not None and rebuilt.vector(201) is None
    assert len(rebuilt) == len(first.index), "one added, one removed"
    assert reads == [engine.state().version], "the due rebuild read nothing from MongoDB"

    engine.request_rebuild()
    wait(lambda: len(reads) == 2, 10, "requested rebuild")


def test_model_switch_rebuilds_on_the_new_model(catalog, make_engine, wait):
    engine, _ = make_engine()
    engine.start()
    wait(lambda: engine.ready, 30, "first index")
    catalog.seed(version="m2", seed=1)  # writes m2 vectors, then activates m2
    wait(lambda: engine.state().version == "m2", 30, "switch to m2")
    version, items = engine.similar_tracks("spotify:track:c1t00", 5)
    assert version == "m2"
    assert {catalog.cluster_of_track(s.item) for s in items} == {1}


def test_changes_of_another_model_are_ignored(catalog, make_engine, wait, strategy):
    engine, _ = make_engine(strategy=strategy)
    engine.start()
    wait(lambda: engine.ready, 30, "first index")
    # model m9's vector of playlist 100 points at cluster 3, m1's stays in cluster 1
    cluster_1, cluster_3 = list(catalog.playlists[100]), list(catalog.playlists[300])
    catalog.write_playlist(100, cluster_3, version="m9")
    catalog.write_playlist(905, cluster_3, version="m9")
    catalog.write_playlist(906, cluster_1)  # m1: applied after the m9 changes
    wait(lambda: 906 in similar_pids(engine, 101), CHANGE_S, "the m1 change after them")
    assert 100 in similar_pids(engine, 101, k=PLAYLISTS_IN_CLUSTER)
    assert 100 not in similar_pids(engine, 300, k=PLAYLISTS_IN_CLUSTER)
    with pytest.raises(NotFound):
        engine.similar_playlists(905, 5)


def test_switch_answers_every_playlist_from_one_model_or_the_other(catalog, make_engine, wait):
    engine, _ = make_engine()
    engine.start()
    wait(lambda: engine.ready, 30, "first index")
    answers: list[str] = []
    stop = threading.Event()

    def ask() -> None:
        while not stop.is_set():
            for pid in (100, 201, 302):
                try:
                    answers.append(engine.similar_playlists(pid, 5)[0])
                except NotFound:
                    answers.append("404")

    asking = threading.Thread(target=ask, daemon=True)
    asking.start()
    try:
        catalog.seed(version="m2", seed=1)  # writes m2 vectors, then activates m2
        wait(lambda: engine.state().version == "m2", 30, "switch to m2")
        wait(lambda: answers[-1] == "m2", 5, "answers of m2")
    finally:
        stop.set()
        asking.join(timeout=10)
    assert "404" not in answers
    assert answers[0] == "m1" and answers == sorted(answers), "one switch, m1 then m2"


def test_shard_serves_only_its_playlists(catalog, make_engine, wait):
    engine, _ = make_engine(shard=Shard(1, 2))
    engine.start()
    wait(lambda: engine.ready, 30, "first index")
    found = similar_pids(engine, 200, k=100)
    assert found and all(pid % 2 == 1 for pid in found)
    catalog.write_playlist(903, catalog.playlists[200])
    catalog.write_playlist(904, catalog.playlists[200])
    wait(lambda: 903 in similar_pids(engine, 200, k=100), CHANGE_S, "own fresh playlist")
    assert 904 not in similar_pids(engine, 200, k=100)


def test_every_change_to_the_served_model_is_timed_once(catalog, db, make_engine, wait, strategy):
    """Three edits of one playlist written back to back (one poll usually holds them all) count
    three times, an update event is timed by the re-read document, a hard delete not at all."""
    from datetime import UTC, datetime, timedelta

    from pymongo import ReplaceOne, UpdateOne

    from playlist2vec import vectors

    engine, metrics = make_engine(strategy=strategy)
    engine.start()
    wait(lambda: engine.ready, 30, "first index")
    before = events(metrics)
    now = datetime.now(UTC).replace(tzinfo=None)
    event_time = now - timedelta(seconds=2)

    def doc(pid: int, tracks: list[str]) -> dict[str, Any]:
        mean, known = vectors.mean_vector(tracks, catalog.track_vectors)
        assert mean is not None
        return {"_id": {"m": "m1", "p": pid}, "vector": vectors.encode(mean, catalog.settings.vector_subtype),
                "n_tracks": len(tracks), "n_known": known, "modified_at": 1, "source": "stream",
                "event_time": event_time, "updated_at": now}

    coll = db[store.PLAYLIST_VECTORS]
    coll.bulk_write([ReplaceOne({"_id": {"m": "m1", "p": 100}}, doc(100, catalog.playlists[p]))
                     for p in (200, 300, 201)] + [
        UpdateOne({"_id": {"m": "m1", "p": 101}}, {"$set": {"event_time": event_time,
                                                           "updated_at": now}})])
    coll.delete_one({"_id": {"m": "m1", "p": 102}})
    wait(lambda: events(metrics) - before == 4 and events(metrics, store.PLAYLIST_VECTORS) and
         metrics.registry.get_sample_value(
             "p2v_change_events_total", {"collection": store.PLAYLIST_VECTORS, "op": "delete"}),
         10, "five changes applied")
    get = metrics.registry.get_sample_value
    assert get("p2v_freshness_seconds_count", {"stage": "end_to_end"}) == 4
    assert get("p2v_freshness_seconds_count", {"stage": "kafka_to_mongo"}) == 4
    assert get("p2v_freshness_seconds_sum", {"stage": "kafka_to_mongo"}) == pytest.approx(8.0)
    # the batch-written seed docs (no event_time) were never changes: nothing else counted
    assert get("p2v_freshness_seconds_count", {"stage": "mongo_to_servable"}) == 4
    e2e = get("p2v_freshness_seconds_sum", {"stage": "end_to_end"}) / 4
    assert 2.0 <= e2e < 12.0
    assert 200 in similar_pids(engine, 100, k=5) or 201 in similar_pids(engine, 100, k=5)
