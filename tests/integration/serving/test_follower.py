"""Change streams that end: a dropped collection means a full reload, a stream the server
invalidates is reopened past the invalidate and followed on."""

from __future__ import annotations

from typing import Any

import pytest
from prometheus_client import CollectorRegistry

from playlist2vec import store
from playlist2vec.errors import NotFound
from serving.follower import ChangeFollower
from serving.metrics import ServingMetrics
from serving.source import MongoSource

pytestmark = pytest.mark.integration


def similar_pids(engine: Any, pid: int, k: int = 4) -> list[int]:
    return [s.item for s in engine.similar_playlists(pid, k)[1]]


def counter(metrics: Any, name: str, **labels: str) -> float:
    return metrics.registry.get_sample_value(name, labels) or 0.0


def test_a_dropped_collection_is_reloaded_not_served_from_memory(catalog, db, make_engine, wait):
    engine, metrics = make_engine()
    engine.start()
    wait(lambda: engine.ready, 30, "first index")
    assert {p // 100 for p in similar_pids(engine, 100)} == {1}

    db.drop_collection(store.PLAYLIST_VECTORS)  # no per-document events: the vectors vanish
    for pid in (0, 1, 2, 3, 4):
        catalog.write_playlist(pid, catalog.playlists[pid])

    def gone() -> bool:
        try:
            engine.similar_playlists(100, 4)
        except NotFound:
            return True
        return False

    wait(gone, 30, "the dropped playlists to leave the index")  # before: served for ever
    assert counter(metrics, "p2v_change_stream_resets_total",
                   collection=store.PLAYLIST_VECTORS) >= 1
    assert set(similar_pids(engine, 0)) <= {1, 2, 3, 4}


def test_a_stream_resumed_after_a_drop_follows_the_new_collection(catalog, db, make_engine, wait):
    # A real server answers `invalidate` here and closes the cursor (the reopen that follows is
    # tested in tests/unit/serving/test_follower.py); the local server resumes past the drop.
    # Either way, changes after the drop must be served.
    watch = store.open_change_stream(db[store.PLAYLIST_VECTORS], None)
    db.drop_collection(store.PLAYLIST_VECTORS)
    drop = wait(lambda: next((c for c in store.poll_changes(watch, 100, 0.2)
                              if c["operationType"] == "drop"), None), 10, "the drop event")
    watch.close()
    for pid, tracks in list(catalog.playlists.items()):
        catalog.write_playlist(pid, tracks)
    MongoSource(db).save_token("test", store.PLAYLIST_VECTORS, drop["_id"])

    engine, _ = make_engine()
    engine.start()
    wait(lambda: engine.ready, 30, "first index")
    catalog.write_playlist(960, catalog.playlists[300])
    wait(lambda: 960 in similar_pids(engine, 300, k=6), 10,
         "a change after the drop to be served")  # before: the stream was dead, silently


def test_readiness_names_a_dead_or_silent_follower(catalog, make_engine, wait):
    engine, _ = make_engine()
    engine.start()
    wait(lambda: engine.ready, 30, "first index")
    wait(lambda: engine.follower_problem(max_lag_s=60) is None, 5, "healthy follower")
    engine.stop()  # the follower thread ends; the loaded index would still answer
    assert engine.ready
    assert engine.follower_problem(max_lag_s=60) == "the change-stream follower is not running"


def test_a_followed_vector_change_carries_only_what_serving_reads(db, wait):
    follower = ChangeFollower(MongoSource(db), store.PLAYLIST_VECTORS, "projection",
                              ServingMetrics(CollectorRegistry()))
    follower.open()
    try:
        db[store.PLAYLIST_VECTORS].insert_one({
            "_id": {"m": "v1", "p": 7}, "vector": b"\0" * 8, "n_tracks": 3, "n_known": 2, "modified_at": 5,
            "updated_at": 1.0, "event_time": 0.5, "source": "stream", "log": {"topic": "t", "offset": 9}})
        change = wait(lambda: next(iter(follower.poll(10, 0.2)), None), 10, "the insert's change")
    finally:
        follower.close()
    assert change["documentKey"] == {"_id": {"m": "v1", "p": 7}} and change["operationType"] == "insert"
    assert change["fullDocument"] == {"_id": {"m": "v1", "p": 7}, "vector": b"\0" * 8, "updated_at": 1.0,
                                      "event_time": 0.5}
    assert "ns" not in change and "clusterTime" in change


def test_fold_in_writes_reach_serving_only_when_a_vector_is_set_changed_or_removed(db, wait):
    """Most fold-in writes are tracks below the minimum support (no vector before or after):
    the track_vectors stream leaves them out; trained inserts, vectors and deletions pass."""
    follower = ChangeFollower(MongoSource(db), store.TRACK_VECTORS, "fold-in",
                              ServingMetrics(CollectorRegistry()))
    follower.open()
    coll = db[store.TRACK_VECTORS]
    try:
        coll.insert_one({"_id": {"m": "v1", "t": "junk"}, "provisional": True, "support": 1})
        coll.replace_one({"_id": {"m": "v1", "t": "junk"}}, {"provisional": True, "support": 0})
        coll.insert_one({"_id": {"m": "v1", "t": "trained"}, "vector": b"\0" * 8})
        coll.insert_one({"_id": {"m": "v1", "t": "new"}, "provisional": True, "support": 1})
        coll.replace_one({"_id": {"m": "v1", "t": "new"}},
                         {"provisional": True, "support": 3, "vector": b"\0" * 8, store.SERVED: True})
        coll.replace_one({"_id": {"m": "v1", "t": "new"}},
                         {"provisional": True, "support": 2, store.SERVED: True})
        coll.delete_one({"_id": {"m": "v1", "t": "junk"}})
        seen: list[tuple[str, str]] = []

        def all_seen() -> bool:
            seen.extend((c["operationType"], c["documentKey"]["_id"]["t"]) for c in follower.poll(10, 0.2))
            return len(seen) >= 4
        wait(all_seen, 10, "the changes serving must see")
    finally:
        follower.close()
    assert seen == [("insert", "trained"), ("replace", "new"), ("replace", "new"), ("delete", "junk")]
