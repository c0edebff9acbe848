"""The streaming job end to end, in-process: real Kafka, Spark and MongoDB-wire server.

One query (and checkpoint) serves every test in this module; each test uses its own pids and
waits with `processAllAvailable`, which returns once everything published is committed.
"""

from __future__ import annotations

import hashlib
import json
import time
import uuid
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from prometheus_client import CollectorRegistry

from playlist2vec import events, store, topics
from playlist2vec.producer import Producer
from playlist2vec.settings import Settings
from streaming import dead_letters, job
from streaming.metrics import StreamMetrics
from streaming.producer import kafka_producer
from tests.support.waiting import wait_until

pytestmark = [pytest.mark.integration, pytest.mark.spark]

TRIGGER = "200 milliseconds"


def snapshot(pid: int, name: str, tracks: list[str], modified_at: int, **extra: Any) -> tuple[bytes, bytes]:
    body = {"pid": pid, "name": name, "tracks": tracks, "modified_at": modified_at, **extra}
    return str(pid).encode(), json.dumps(body).encode()


class Harness:
    def __init__(self, settings: Settings, db: Any, running: job.RunningStream, model: Any,
                 metrics: StreamMetrics) -> None:
        self.settings, self.db, self.running, self.model, self.metrics = settings, db, running, model, metrics
        self.producer = kafka_producer(settings)

    def send(self, *events: tuple[bytes | None, bytes | None]) -> None:
        """Publish `events` in order and wait until the query has committed them."""
        for key, value in events:
            self.producer.send(self.settings.playlist_topic, key=key, value=value)
        self.producer.flush()
        self.running.query.processAllAvailable()

    def counted(self, result: str) -> float:
        return self.metrics.registry.get_sample_value("p2v_stream_events_total", {"result": result}) or 0.0


@pytest.fixture(scope="module")
def harness(stack_settings: Settings, spark: Any, make_model: Any,
            tmp_path_factory: pytest.TempPathFactory) -> Iterator[Harness]:
    suffix = uuid.uuid4().hex[:8]
    settings = stack_settings.model_copy(update={
        "mongo_db": f"p2v_stream_{suffix}", "playlist_topic": f"stream_{suffix}",
        "dlq_topic": f"stream_{suffix}.dlq"})
    topics.ensure_topics(settings, partitions=2)
    with store.opened(settings) as db:
        model = make_model(db, "m1")
        metrics = StreamMetrics(CollectorRegistry())
        options = job.StreamOptions(checkpoint=tmp_path_factory.mktemp("ckpt") / "stream",
                                    trigger=TRIGGER, max_offsets_per_trigger=500)
        running = job.start(spark, settings, options, metrics)
        harness = Harness(settings, db, running, model, metrics)
        try:
            yield harness
        finally:
            running.stop()
            harness.producer.close()
            db.client.drop_database(db.name)


def test_vectors_are_means_of_the_active_models_track_vectors(harness: Harness,
                                                              helpers: SimpleNamespace) -> None:
    u = harness.model.uris
    meta = [{"track_uri": u[0], "track_name": "First", "artist_name": "Someone", "duration_ms": 1000}]
    playlists = {
        100: [u[0], u[1], u[1], u[5]],  # a repeated track counts twice
        101: [u[2], "spotify:track:unknown000000000000001", u[3]],
        102: ["spotify:track:unknown000000000000002"],  # nothing known: no vector
        103: [],
    }
    unknown = harness.metrics.registry.get_sample_value
    unknown_before = unknown("p2v_stream_unknown_tracks_total")
    harness.send(*(snapshot(pid, f"p{pid}", t, 10, track_meta=meta if pid == 100 else None)
                   for pid, t in playlists.items()))
    stored = helpers.vector_docs(harness.db, "m1", playlists)
    for pid, tracks in playlists.items():
        helpers.assert_vector(stored[pid], harness.model, tracks)
        assert stored[pid]["source"] == "stream" and stored[pid]["modified_at"] == 10
        assert abs(stored[pid]["event_time"] - stored[pid]["updated_at"]) < timedelta(minutes=5)
    lists = helpers.docs(harness.db, store.PLAYLISTS, playlists)
    assert {pid: (d["name"], d["tracks"], d["deleted"]) for pid, d in lists.items()} == {
        pid: (f"p{pid}", t, False) for pid, t in playlists.items()}
    track = harness.db[store.TRACKS].find_one({"_id": u[0]})
    assert track is not None and track["track_name"] == "First" and track["duration_ms"] == 1000
    assert unknown("p2v_stream_unknown_tracks_total") - unknown_before == 2


def test_edits_update_and_older_events_change_nothing(harness: Harness, helpers: SimpleNamespace) -> None:
    u = harness.model.uris
    harness.send(snapshot(200, "v1", [u[0], u[1]], 100), snapshot(201, "a", [u[0]], 100))
    harness.send(snapshot(200, "v2", [u[2], u[3], u[4]], 200))
    after_edit = helpers.vector_docs(harness.db, "m1", [200])[200]
    helpers.assert_vector(after_edit, harness.model, [u[2], u[3], u[4]])
    assert helpers.docs(harness.db, store.PLAYLISTS, [200])[200]["name"] == "v2"

    stale_before = harness.counted("stale")
    harness.send(snapshot(200, "old", [u[9]], 150))  # older than the stored 200
    assert helpers.vector_docs(harness.db, "m1", [200])[200] == after_edit
    assert helpers.docs(harness.db, store.PLAYLISTS, [200])[200]["name"] == "v2"
    assert harness.counted("stale") == stale_before + 1

    # within one batch the newest by modified_at wins, whatever the arrival order
    harness.send(snapshot(201, "newest", [u[7]], 300), snapshot(201, "older", [u[8]], 250))
    helpers.assert_vector(helpers.vector_docs(harness.db, "m1", [201])[201], harness.model, [u[7]])
    assert helpers.docs(harness.db, store.PLAYLISTS, [201])[201]["name"] == "newest"


def test_deletions_remove_vectors_and_stay_deleted(harness: Harness, helpers: SimpleNamespace) -> None:
    u = harness.model.uris
    harness.send(snapshot(300, "a", [u[0]], 100), snapshot(301, "b", [u[1]], 100))
    deleted_before = harness.counted("deleted")
    harness.send((b"300", None),  # tombstone: modified_at = its Kafka timestamp (now)
                 (b"301", json.dumps({"pid": 301, "deleted": True, "modified_at": 150}).encode()))
    stored = helpers.vector_docs(harness.db, "m1", [300, 301])
    for pid in (300, 301):
        assert "vector" not in stored[pid] and stored[pid]["deleted"] is True
    lists = helpers.docs(harness.db, store.PLAYLISTS, [300, 301])
    assert all(d["deleted"] is True and d["tracks"] == [] for d in lists.values())
    assert lists[301]["modified_at"] == 150 and lists[300]["modified_at"] > 1_600_000_000
    assert harness.counted("deleted") == deleted_before + 2

    harness.send(snapshot(301, "resurrected?", [u[2]], 120))  # older than the deletion
    assert "vector" not in helpers.vector_docs(harness.db, "m1", [301])[301]
    harness.send(snapshot(301, "recreated", [u[2]], 160))  # newer: the playlist is back
    helpers.assert_vector(helpers.vector_docs(harness.db, "m1", [301])[301], harness.model, [u[2]])


def test_invalid_events_go_to_the_dlq_and_valid_ones_apply(harness: Harness,
                                                           helpers: SimpleNamespace) -> None:
    u = harness.model.uris

    def body(pid: Any, **fields: Any) -> bytes:
        return json.dumps({"pid": pid, "name": "x", "tracks": [], "modified_at": 1, **fields}).encode()

    # keys everywhere: a compacted topic refuses records without one
    invalid = {
        (b"420", b"{not json"): events.BAD_JSON,
        (b"400", body("400")): events.BAD_PID,
        (b"-4", body(-4)): events.NEGATIVE_PID,
        (b"401", body(401, tracks=[u[0]] * 10_001)): events.TOO_MANY_TRACKS,
        (b"402", body(402, tracks=[u[0], 7])): events.BAD_TRACK,
        (b"403", body(403, modified_at="today")): events.BAD_MODIFIED_AT,
        (b"404", body(405)): events.KEY_MISMATCH,
        (b"not-a-pid", None): events.BAD_TOMBSTONE,
    }
    invalid_before = harness.counted("invalid")
    valid = [snapshot(410, "ok", [u[0], u[1]], 5), snapshot(411, "ok", [u[2]], 5)]
    harness.send(valid[0], *invalid, valid[1])

    letters = helpers.read_topic(harness.settings, harness.settings.dlq_topic, len(invalid))
    reasons = {(r.key, r.value): dict(r.headers)["reason"].decode() for r in letters}
    assert reasons.keys() == invalid.keys()
    # a reason is the rule's constant, plus the parser's message for bad JSON
    assert all(reasons[event].startswith(rule) for event, rule in invalid.items()), reasons
    source = harness.settings.playlist_topic.encode()
    assert all(dict(r.headers)["source"].startswith(source) for r in letters)
    assert harness.counted("invalid") == invalid_before + len(invalid)
    stored = helpers.vector_docs(harness.db, "m1", [410, 411, 400, 401, 402, 403, 404, 405])
    assert set(stored) == {410, 411}
    helpers.assert_vector(stored[410], harness.model, [u[0], u[1]])


def test_a_tombstone_deletes_a_newer_snapshot_and_replays_do_not_resurrect_it(
        harness: Harness, helpers: SimpleNamespace) -> None:
    u = harness.model.uris
    ahead = int(time.time()) + 120  # a producer clock two minutes fast (within the allowed skew)
    first = snapshot(330, "ahead", [u[0]], ahead)
    harness.send(first)
    harness.send((b"330", None))  # its record timestamp (now) is older than the stored modified_at
    lists, vecs = (helpers.docs(harness.db, store.PLAYLISTS, [330])[330],
                   helpers.vector_docs(harness.db, "m1", [330])[330])
    assert lists["deleted"] is True and lists["tracks"] == [] and lists["modified_at"] == ahead
    assert vecs["deleted"] is True and "vector" not in vecs and vecs["modified_at"] == ahead

    stale_before = harness.counted("stale")
    harness.send(first)  # a replay of what the tombstone deleted
    assert helpers.docs(harness.db, store.PLAYLISTS, [330])[330]["deleted"] is True
    assert "vector" not in helpers.vector_docs(harness.db, "m1", [330])[330]
    assert harness.counted("stale") == stale_before + 1
    harness.send(snapshot(330, "again", [u[1]], ahead + 1))  # a genuinely newer edit recreates it
    helpers.assert_vector(helpers.vector_docs(harness.db, "m1", [330])[330], harness.model, [u[1]])


def test_poison_events_are_dead_letters_and_the_stream_goes_on(harness: Harness,
                                                              helpers: SimpleNamespace) -> None:
    u = harness.model.uris
    huge = b'{"pid": 460, "name": "' + b"x" * (1024 * 1024 + 100) + b'"'  # > 1 MiB, unterminated
    poison = [
        (b"450", rb'{"pid": 450, "name": "\ud800", "tracks": [], "modified_at": 1}'),
        (b"451", rb'{"pid": 451, "name": "x", "tracks": ["\udfff"], "modified_at": 1}'),
        (b"452", b'{"pid": 452, "name": "x", "tracks": [], "modified_at": 1, '
                 rb'"track_meta": [{"track_uri": "a", "track_name": "\ud800"}]}'),
        (b"453", b"[" * 100_000 + b"]" * 100_000),
        (b"454", b'{"pid": ' + b"9" * 5000 + b', "name": "x", "tracks": [], "modified_at": 1}'),
        (b"9" * 5000, None),
        (b"460", huge),
    ]
    # the largest record the contract allows through Kafka needs a producer that sends it
    with Producer(harness.settings, {"message.max.bytes": 4 * 1024 * 1024}) as producer:
        for key, value in poison:
            producer.send(harness.settings.playlist_topic, key=key, value=value)
        producer.flush()
    invalid_before = harness.counted("invalid")
    harness.send(snapshot(470, "after the poison", [u[0]], 1))

    letters = helpers.read_topic(harness.settings, harness.settings.dlq_topic, len(poison))
    by_key = {r.key[:3]: r for r in letters}
    assert {k[:3] for k, _ in poison} <= by_key.keys()
    assert all(dict(r.headers)["reason"] for r in by_key.values())
    big = dict(by_key[b"460"].headers)
    assert len(by_key[b"460"].value) == dead_letters.VALUE_CAP
    assert big["size"] == str(len(huge)).encode()
    assert big["sha256"] == hashlib.sha256(huge).hexdigest().encode()
    assert harness.counted("invalid") >= invalid_before + len(poison)
    assert helpers.docs(harness.db, store.PLAYLISTS, [450, 451, 452, 453, 454, 460]) == {}
    helpers.assert_vector(helpers.vector_docs(harness.db, "m1", [470])[470], harness.model, [u[0]])


def test_every_written_model_gets_its_vector_from_its_own_tracks(harness: Harness, make_model: Any,
                                                                 helpers: SimpleNamespace) -> None:
    m1 = harness.model
    m3 = make_model(harness.db, "m3", seed=3, status="ready")
    models = harness.db[store.MODELS]
    try:
        tracks = [m1.uris[0], m3.uris[1], m3.uris[2]]
        harness.send(snapshot(480, "both", tracks, 1))
        helpers.assert_vector(helpers.vector_docs(harness.db, "m1", [480])[480], m1, tracks)
        helpers.assert_vector(helpers.vector_docs(harness.db, "m3", [480])[480], m3, tracks)
        assert helpers.docs(harness.db, store.PLAYLISTS, [480])[480]["tracks"] == tracks  # written once
        harness.send((b"480", None))
        assert all(d["deleted"] for d in helpers.vector_docs(harness.db, "m1", [480]).values())
        assert helpers.vector_docs(harness.db, "m3", [480])[480]["deleted"] is True
    finally:
        models.update_one({"_id": "m3"}, {"$set": {"status": "retired"}})
    harness.send(snapshot(481, "one", tracks, 1))
    assert set(helpers.vector_docs(harness.db, "m1", [481])) == {481}
    assert helpers.vector_docs(harness.db, "m3", [481]) == {}


def test_metrics_are_fed_by_the_progress_and_the_batches(harness: Harness) -> None:
    harness.send(snapshot(500, "m", harness.model.uris[:3], 1))
    value = harness.metrics.registry.get_sample_value

    def lags() -> dict[str, float | None]:
        return {p: value("p2v_stream_kafka_lag_messages", {"partition": p}) for p in ("0", "1")}

    # `send` returned once the query caught up: the last batch read up to the end of both
    # partitions, so once the (asynchronously polled) progress is recorded both lags are 0
    wait_until(lambda: lags() == {"0": 0.0, "1": 0.0}, 30, "both partitions' lag at 0",
               interval_s=0.1)
    assert value("p2v_stream_batches_total") >= 1
    assert value("p2v_stream_batch_duration_seconds_count") == value("p2v_stream_batches_total")
    assert harness.counted("applied") >= 1


def test_replaying_the_whole_topic_changes_nothing(harness: Harness, spark: Any, tmp_path: Path) -> None:
    u = harness.model.uris
    harness.send(snapshot(700, "a", [u[0]], 1), snapshot(700, "b", [u[1]], 2), (b"700", None),
                 snapshot(701, "c", [u[2], u[3]], 3))

    def state() -> dict[str, list[dict[str, Any]]]:
        return {c: sorted(({k: v for k, v in d.items() if k != "updated_at"} for d in harness.db[c].find()),
                          key=lambda d: str(d["_id"]))
                for c in (store.PLAYLISTS, store.PLAYLIST_VECTORS)}

    before = state()
    replay = job.start(spark, harness.settings,
                       job.StreamOptions(checkpoint=tmp_path / "replay", trigger=TRIGGER,
                                         max_offsets_per_trigger=40, available_now=True),
                       StreamMetrics(CollectorRegistry()))
    assert replay.query.awaitTermination(240)
    replay.close()
    assert replay.query.exception() is None
    assert state() == before


def test_active_model_switch_reloads_vectors(harness: Harness, make_model: Any,
                                             helpers: SimpleNamespace) -> None:
    m1 = harness.model
    m2 = make_model(harness.db, "m2", seed=1)
    models = harness.db[store.MODELS]
    models.replace_one({"_id": "m1"}, models.find_one({"_id": "m1"}) | {"status": "retired"})
    try:
        tracks = [m2.uris[0], m2.uris[3], m1.uris[0]]  # an m1 track is unknown to m2
        harness.send(snapshot(600, "switch", tracks, 1))
        helpers.assert_vector(helpers.vector_docs(harness.db, "m2", [600])[600], m2, tracks)
        assert helpers.vector_docs(harness.db, "m1", [600]) == {}  # m1 is no longer written
    finally:
        models.replace_one({"_id": "m2"}, models.find_one({"_id": "m2"}) | {"status": "retired"})
        models.replace_one({"_id": "m1"}, models.find_one({"_id": "m1"}) | {"status": "active"})
    harness.send(snapshot(601, "back", [m1.uris[0]], 1))
    helpers.assert_vector(helpers.vector_docs(harness.db, "m1", [601])[601], m1, [m1.uris[0]])
