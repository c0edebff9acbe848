"""The builder thread's work over a `MemorySource`: first load, model switch, the rebuild
policy, rebuilds from memory or from the source, and shadow models."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from prometheus_client import CollectorRegistry

from serving.loader import Loader
from serving.memory import MemorySource
from serving.metrics import ServingMetrics
from serving.options import ServeOptions
from serving.queries import Queries
from tests.unit.serving.conftest import add_model, axis


def similar(loader: Loader, pid: int, k: int = 1) -> list[object]:
    return [s.item for s in loader.queries.similar_playlists(pid, k)[1]]


def test_the_first_run_loads_and_installs_the_active_model(loader: Loader,
                                                          metrics: ServingMetrics) -> None:
    loader.run_once()
    state = loader.queries.state()
    assert (state.version, state.dim, len(state.track_vectors)) == ("m1", 4, 6)
    assert similar(loader, 100) == [101] and loader.pending is None
    get = metrics.registry.get_sample_value
    assert get("p2v_index_items", {"index": "playlists"}) == 4


def test_no_active_model_loads_nothing(options: ServeOptions, metrics: ServingMetrics) -> None:
    source = MemorySource()
    loader = Loader(source, Queries(source), options, metrics)
    loader.run_once()
    assert not loader.queries.ready


def test_a_new_active_model_is_switched_to(loader: Loader, source: MemorySource) -> None:
    loader.run_once()
    first = loader.queries.state()
    add_model(source, "m2")
    source.active = "m2"
    loader.run_once()
    assert loader.queries.state().version == "m2"
    assert not any(p.exists() for p in first.tracks.snapshot.files)  # type: ignore[union-attr]


def test_a_snapshot_is_rebuilt_when_its_delta_or_its_age_passes_the_limit(
        loader: Loader, options: ServeOptions) -> None:
    loader.run_once()
    state = loader.queries.state()
    assert not loader.rebuild_due(state)
    state.playlists.apply({i: axis(2) for i in range(options.rebuild_max_delta + 1)})
    assert loader.rebuild_due(state)
    stale = Loader(loader.source, loader.queries, dataclasses.replace(options, rebuild_interval=0),
                   loader.metrics)
    assert stale.rebuild_due(loader.queries.state())


def test_the_delta_limit_grows_with_the_snapshot(loader: Loader, options: ServeOptions) -> None:
    loader.run_once()
    state = loader.queries.state()
    size = len(state.playlists.snapshot.index)  # type: ignore[union-attr]
    share = (options.rebuild_max_delta + 2) / size  # the share's limit passes the fixed one
    sharing = Loader(loader.source, loader.queries,
                     dataclasses.replace(options, rebuild_delta_share=share), loader.metrics)
    state.playlists.apply({i: axis(2) for i in range(options.rebuild_max_delta + 1)})
    assert loader.rebuild_due(state) and not sharing.rebuild_due(state)
    state.playlists.apply({-1: axis(2), -2: axis(2)})
    assert sharing.rebuild_due(state)


def test_a_due_rebuild_starts_from_memory_and_a_requested_one_from_the_source(
        source: MemorySource, tmp_path: Path) -> None:
    options = ServeOptions(indexes_dir=tmp_path, strategy="exact", rebuild_max_delta=0,
                           rebuild_delta_share=0)
    loader = Loader(source, Queries(source), options, ServingMetrics(CollectorRegistry()))
    loader.run_once()
    state = loader.queries.state()
    state.playlists.apply({300: axis(2)})  # a change the follower applied
    source.add_playlist_vector("m1", 400, axis(2))  # stored, but no change seen yet
    before = state.playlists.snapshot
    loader.run_once()  # due: delta 1 > 0
    assert state.playlists.snapshot is not before and state.playlists.delta_size() == 0
    assert state.playlists.vector(300) is not None and state.playlists.vector(400) is None
    loader.rebuild_requested = True
    loader.run_once()
    assert state.playlists.vector(400) is not None and not loader.rebuild_requested


def test_an_updatable_index_is_rebuilt_only_on_request(source: MemorySource,
                                                       tmp_path: Path) -> None:
    options = ServeOptions(indexes_dir=tmp_path, strategy="hnsw", rebuild_interval=0,
                           rebuild_max_delta=0)
    loader = Loader(source, Queries(source), options, ServingMetrics(CollectorRegistry()))
    loader.run_once()
    state = loader.queries.state()
    state.playlists.apply({300: axis(2)})
    assert not loader.rebuild_due(state)
    loader.rebuild_requested = True
    assert loader.rebuild_due(state)


def test_ready_models_are_scored_in_shadow_until_no_longer_ready(
        source: MemorySource, tmp_path: Path) -> None:
    options = ServeOptions(indexes_dir=tmp_path, strategy="exact", live_quality=True)
    loader = Loader(source, Queries(source), options, ServingMetrics(CollectorRegistry()))
    add_model(source, "m2")
    source.ready = ["m2", "empty"]
    loader.run_once()
    assert set(loader.shadows) == {"m2"}  # a ready model without tracks is not scored
    scorer, index = loader.shadows["m2"]
    assert scorer.version == "m2" and index.search(axis(0), 1)[0][0] == "a0"
    files = index.snapshot.files  # type: ignore[union-attr]
    source.ready = []
    loader.run_once()
    assert loader.shadows == {} and not any(p.exists() for p in files)
