"""Applying change batches with no MongoDB: inserts, updates re-read through the source,
deletes, other models and shards, freshness observed once per change, and playlist edits
handed to live quality."""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from serving.changes import ChangeApplier
from serving.live import LiveIndex
from serving.loader import Loader
from serving.memory import MemorySource
from serving.metrics import ServingMetrics
from serving.options import ServeOptions
from serving.quality import LiveQuality, Scorer
from serving.queries import Queries
from serving.shard import Shard
from serving.state import ModelState, TrackVectors
from tests.unit.serving.conftest import add_model, axis


def key(pid: int, version: str = "m1") -> dict[str, Any]:
    return {"_id": {"m": version, "p": pid}}


def insert(source: MemorySource, pid: int, vector: np.ndarray | None, version: str = "m1",
           **fields: Any) -> dict[str, Any]:
    """The insert event of a doc stored for `pid` (as the change stream would carry it)."""
    source.add_playlist_vector(version, pid, vector, **fields)
    return {"operationType": "insert", "documentKey": key(pid, version),
            "fullDocument": source.playlist_docs[version][pid]}


def similar(queries: Queries, pid: int, k: int = 1) -> list[Any]:
    return [s.item for s in queries.similar_playlists(pid, k)[1]]


@pytest.fixture
def applier(loader: Loader, metrics: ServingMetrics) -> ChangeApplier:
    loader.run_once()
    return ChangeApplier(loader, metrics)


def test_an_inserted_playlist_is_answered_at_once_and_timed(
        applier: ChangeApplier, source: MemorySource, metrics: ServingMetrics) -> None:
    applier.apply_playlist_vectors([insert(source, 300, axis(2), updated_at=time.time() - 1)])
    queries = applier.loader.queries
    assert similar(queries, 100, 5)[-1] == 300  # on axis 2: the farthest from axis 0
    get = metrics.registry.get_sample_value
    assert get("p2v_freshness_seconds_count", {"stage": "mongo_to_servable"}) == 1
    assert get("p2v_index_delta_items", {"index": "playlists"}) == 1


def test_a_delete_removes_and_an_update_is_reread_through_the_source(
        applier: ChangeApplier, source: MemorySource) -> None:
    queries = applier.loader.queries
    applier.apply_playlist_vectors([{"operationType": "delete", "documentKey": key(101)}])
    assert 101 not in similar(queries, 100, 5)
    source.add_playlist_vector("m1", 101, axis(0, 3))
    applier.apply_playlist_vectors([{"operationType": "update", "documentKey": key(101)}])
    assert similar(queries, 100) == [101]


def test_the_last_change_of_a_pid_in_a_batch_decides(applier: ChangeApplier,
                                                     source: MemorySource) -> None:
    applier.apply_playlist_vectors([insert(source, 300, axis(0)),
                                    {"operationType": "delete", "documentKey": key(300)}])
    assert 300 not in similar(applier.loader.queries, 100, 5)


def test_other_models_other_shards_and_wrong_dimensions_are_ignored(
        source: MemorySource, options: ServeOptions, metrics: ServingMetrics) -> None:
    sharded = ServeOptions(options.indexes_dir, strategy="exact", shard=Shard(0, 2))
    loader = Loader(source, Queries(source), sharded, metrics)
    loader.run_once()
    applier = ChangeApplier(loader, metrics)
    shard = Shard(0, 2)
    mine = [pid for pid in range(300, 400) if shard.owns(pid)]
    other = next(pid for pid in range(300, 400) if not shard.owns(pid))
    applier.apply_playlist_vectors([
        insert(source, mine[0], axis(0), version="m2"),
        insert(source, other, axis(0)),
        insert(source, mine[1], np.ones(3, dtype=np.float32)),
        {"operationType": "drop"},
    ])
    playlists = loader.queries.state().playlists
    assert playlists.delta_size() == 0
    applier.apply_playlist_vectors([insert(source, mine[2], axis(0))])
    assert playlists.vector(mine[2]) is not None


def test_a_model_being_built_gets_the_changes_too(applier: ChangeApplier,
                                                  source: MemorySource) -> None:
    loader = applier.loader
    served = loader.queries.state()
    loader.pending = ModelState("m1", 4, TrackVectors([], np.empty((0, 4), np.float32)),
                                LiveIndex("tracks"), LiveIndex("playlists"))
    applier.apply_playlist_vectors([insert(source, 300, axis(2))])
    assert served.playlists.vector(300) is not None
    assert loader.pending.playlists.vector(300) is not None


class RecordingQuality(LiveQuality):
    """Live quality that records what the applier hands it instead of scoring."""

    def __init__(self, metrics: ServingMetrics) -> None:
        super().__init__(metrics, {}, lambda counts: None)
        self.seen: list[tuple[Any, list[str] | None, str | None, list[str]]] = []

    def change(self, pid: Any, tracks: Sequence[str] | None, active: Scorer | None,
               shadows: Sequence[Scorer]) -> None:
        self.seen.append((pid, None if tracks is None else list(tracks),
                          active.version if active else None, [s.version for s in shadows]))


def test_playlist_edits_go_to_live_quality_with_the_served_and_shadow_models(
        source: MemorySource, tmp_path: Path, metrics: ServingMetrics) -> None:
    options = ServeOptions(tmp_path, strategy="exact", live_quality=True, shard=Shard(0, 2))
    loader = Loader(source, Queries(source), options, metrics)
    add_model(source, "m2")
    source.ready = ["m1", "m2"]  # the served model is not scored twice
    loader.run_once()
    applier = ChangeApplier(loader, metrics)
    applier.quality = RecordingQuality(metrics)
    shard = Shard(0, 2)
    mine = [pid for pid in range(300, 400) if shard.owns(pid)]
    other = next(pid for pid in range(300, 400) if not shard.owns(pid))
    applier.score_playlists([
        {"operationType": "insert", "documentKey": {"_id": mine[0]},
         "fullDocument": {"_id": mine[0], "tracks": ["a0", "b0"]}},
        {"operationType": "update", "documentKey": {"_id": mine[1]}},
        {"operationType": "replace", "documentKey": {"_id": mine[2]},
         "fullDocument": {"_id": mine[2], "deleted": True}},
        {"operationType": "insert", "documentKey": {"_id": other},
         "fullDocument": {"_id": other, "tracks": ["a0"]}},
    ])
    assert applier.quality.seen == [(mine[0], ["a0", "b0"], "m1", ["m2"]),
                                    (mine[1], None, "m1", ["m2"]),
                                    (mine[2], None, "m1", ["m2"])]
