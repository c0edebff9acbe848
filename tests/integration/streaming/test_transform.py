"""One partition task on the real MongoDB-wire server, its pids written a group at a time, the
time of each of its phases returned with its counts; track metadata written once per worker
until it changes."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from types import SimpleNamespace
from typing import Any

import pyarrow as pa
import pytest

from playlist2vec import store
from playlist2vec.settings import Settings
from playlist2vec.spark_vectors import TrackTable
from streaming import sink, transform
from streaming.phases import PHASES

pytestmark = [pytest.mark.integration, pytest.mark.spark]


def test_a_task_writes_its_pids_group_by_group_and_sums_the_counts(
        stack_settings: Settings, spark: Any, make_model: Any, helpers: SimpleNamespace,
        monkeypatch: pytest.MonkeyPatch) -> None:
    settings = stack_settings.model_copy(update={"mongo_db": f"p2v_transform_{uuid.uuid4().hex[:8]}"})
    now = int(time.time())
    with store.opened(settings) as db:
        model = make_model(db, "m1")
        table = TrackTable(spark, model.uris, model.matrix)
        try:
            playlists = {pid: model.uris[pid:pid + 5] for pid in range(8)}
            values = [json.dumps({"pid": pid, "name": f"p{pid}", "tracks": tracks,
                                  "modified_at": now}).encode() for pid, tracks in playlists.items()]
            older = {"pid": 3, "name": "older", "tracks": [], "modified_at": now - 60}
            values += [json.dumps(older).encode(), b"{not json"]
            keys = [str(pid).encode() for pid in playlists] + [b"3", b"9"]
            batch = pa.RecordBatch.from_pydict({
                "key": keys, "value": values, "partition": [0] * len(keys),
                "offset": list(range(len(keys))), "timestamp_us": [now * 1_000_000] * len(keys)})
            groups: list[list[int]] = []
            write = sink.write
            monkeypatch.setattr(transform, "WRITE_CHUNK", 3)
            monkeypatch.setattr(sink, "write", lambda db, latest, *rest: groups.append(list(latest))
                                or write(db, latest, *rest))

            task = transform.PartitionTask(settings, (("m1", table),))
            (counts,) = transform.run_partition(task, iter([batch]))

            assert groups == [[0, 1, 2], [3, 4, 5], [6, 7]]
            row = {k: v[0] for k, v in counts.to_pydict().items()}
            assert {k: row[k] for k in transform.COUNTS} == {
                "applied": 8, "stale": 1, "deleted": 0, "invalid": 1, "unknown": 0, "provisional": 0}
            spent = {phase: row[f"{phase}_s"] for phase in PHASES}
            assert spent.pop("fold_in") == 0.0, "fold-in is off"
            assert all(seconds > 0 for seconds in spent.values()), spent
            written = helpers.vector_docs(db, "m1", playlists)
            for pid, tracks in playlists.items():
                helpers.assert_vector(written[pid], model, tracks)
        finally:
            table.destroy()
            db.client.drop_database(db.name)


@pytest.fixture
def meta_task(stack_settings: Settings, spark: Any, make_model: Any) -> Iterator[tuple[Any, Any, Any]]:
    """(database, model, a PartitionTask writing model m1 into it), dropped afterwards."""
    settings = stack_settings.model_copy(update={"mongo_db": f"p2v_meta_{uuid.uuid4().hex[:8]}"})
    with store.opened(settings) as db:
        model = make_model(db, "m1")
        table = TrackTable(spark, model.uris, model.matrix)
        try:
            yield db, model, transform.PartitionTask(settings, (("m1", table),))
        finally:
            table.destroy()
            db.client.drop_database(db.name)


def one_event(pid: int, meta: list[dict[str, Any]]) -> pa.RecordBatch:
    """A Kafka row of a playlist listing the tracks of `meta`, with their metadata."""
    now = int(time.time())
    value = {"pid": pid, "name": "p", "tracks": [m["track_uri"] for m in meta], "modified_at": now,
             "track_meta": meta}
    return pa.RecordBatch.from_pydict({
        "key": [str(pid).encode()], "value": [json.dumps(value).encode()], "partition": [0],
        "offset": [pid], "timestamp_us": [now * 1_000_000]})


def test_a_worker_writes_each_tracks_metadata_once_until_it_changes(
        meta_task: tuple[Any, Any, Any], monkeypatch: pytest.MonkeyPatch) -> None:
    db, model, task = meta_task
    sent: list[list[str]] = []
    bulk_write = store.bulk_write

    def recording(collection: Any, ops: Any, *args: Any, **kwargs: Any) -> int:
        ops = list(ops)
        if collection.name == store.TRACKS:
            sent.append([op._filter["_id"] for op in ops])
        return bulk_write(collection, ops, *args, **kwargs)

    monkeypatch.setattr(store, "bulk_write", recording)
    first = [{"track_uri": uri, "track_name": f"n {uri}"} for uri in model.uris[:3]]
    list(transform.run_partition(task, iter([one_event(1, first)])))
    renamed = [*first[:2], {"track_uri": model.uris[2], "track_name": "renamed"}]
    list(transform.run_partition(task, iter([one_event(2, renamed)])))

    assert sent == [model.uris[:3], [model.uris[2]]]
    stored = {doc["_id"]: doc["track_name"] for doc in db[store.TRACKS].find()}
    assert stored == {model.uris[0]: f"n {model.uris[0]}", model.uris[1]: f"n {model.uris[1]}",
                      model.uris[2]: "renamed"}


def test_metadata_whose_write_failed_is_written_by_the_retried_batch(
        meta_task: tuple[Any, Any, Any], monkeypatch: pytest.MonkeyPatch) -> None:
    db, model, task = meta_task
    rows = one_event(1, [{"track_uri": uri, "track_name": f"n {uri}"} for uri in model.uris[:2]])
    bulk_write = store.bulk_write

    def failing_tracks(collection: Any, ops: Any, *args: Any, **kwargs: Any) -> int:
        if collection.name == store.TRACKS:
            raise OSError("the server went away")
        return bulk_write(collection, ops, *args, **kwargs)

    monkeypatch.setattr(store, "bulk_write", failing_tracks)
    with pytest.raises(OSError):
        list(transform.run_partition(task, iter([rows])))
    monkeypatch.setattr(store, "bulk_write", bulk_write)
    list(transform.run_partition(task, iter([rows])))
    assert {doc["_id"] for doc in db[store.TRACKS].find()} == set(model.uris[:2])
