"""One partition task on the real MongoDB-wire server, its pids written a group at a time, the
time of each of its phases returned with its counts."""

from __future__ import annotations

import json
import time
import uuid
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
