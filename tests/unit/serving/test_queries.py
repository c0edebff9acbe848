"""Queries over an installed state, with no MongoDB: answers, errors, the database fallback
for playlists not held here, and canaries kept out of real answers."""

from __future__ import annotations

import numpy as np
import pytest

from playlist2vec.errors import InvalidInput, NotFound, NotReady
from playlist2vec.events import CANARY_PIDS
from serving.loader import Loader
from serving.memory import MemorySource
from serving.queries import Queries
from tests.unit.serving.conftest import axis


def loaded(loader: Loader) -> Queries:
    loader.run_once()
    return loader.queries


def test_nothing_is_answered_before_a_state_is_installed(source: MemorySource) -> None:
    queries = Queries(source)
    assert not queries.ready and queries.current is None
    with pytest.raises(NotReady):
        queries.similar_tracks("a0", 3)


def test_recommendations_continue_the_seeds_without_repeating_them(loader: Loader) -> None:
    queries = loaded(loader)
    version, scored, explained = queries.recommend_tracks(["a0"], 2, explain_top=1)
    assert version == "m1"
    assert [s.item for s in scored] == ["a1", "b0"]  # then ties at 0, by id
    assert [part[0] for part in explained[0].parts] == ["a0"]
    assert queries.recommend_tracks(["unknown"], 3) == ("m1", [], [])


def test_similar_tracks_of_an_unknown_track_is_not_found(loader: Loader) -> None:
    queries = loaded(loader)
    assert [s.item for s in queries.similar_tracks("b0", 1)[1]] == ["b1"]
    with pytest.raises(NotFound, match="zz"):
        queries.similar_tracks("zz", 3)


def test_similar_playlists_asks_the_source_for_a_playlist_not_held_here(
        loader: Loader, source: MemorySource) -> None:
    queries = loaded(loader)
    assert [s.item for s in queries.similar_playlists(200, 1)[1]] == [201]
    source.add_playlist_vector("m1", 500, axis(1, 3))  # stored after the build: not held
    assert [s.item for s in queries.similar_playlists(500, 2)[1]] == [201, 200]
    source.add_playlist_vector("m1", 501, None)
    with pytest.raises(NotFound):
        queries.similar_playlists(501, 2)
    source.add_playlist_vector("m1", 502, np.ones(3, dtype=np.float32))
    with pytest.raises(InvalidInput, match="dimension 3"):
        queries.similar_playlists(502, 2)


def test_canaries_are_answered_only_to_a_canary(loader: Loader, source: MemorySource) -> None:
    canary = CANARY_PIDS.start
    source.add_playlist_vector("m1", canary, axis(0))
    queries = loaded(loader)
    assert canary not in [s.item for s in queries.similar_playlists(100, 4)[1]]
    source.add_playlist_vector("m1", canary + 1, axis(0))
    assert canary in [s.item for s in queries.similar_playlists(canary + 1, 4)[1]]


def test_installing_a_new_state_removes_the_old_ones_files(loader: Loader,
                                                           source: MemorySource) -> None:
    queries = loaded(loader)
    old = queries.state()
    files = old.tracks.snapshot.files + old.playlists.snapshot.files  # type: ignore[union-attr]
    assert all(path.exists() for path in files)
    queries.install(old)  # the same state again: nothing to remove
    assert all(path.exists() for path in files)
    loader.reload_requested = True
    loader.run_once()
    assert queries.state() is not old
    assert not any(path.exists() for path in files)


def test_provisional_tracks_are_candidates_penalised_marked_and_excludable(loader: Loader) -> None:
    queries = loaded(loader)
    state = queries.state()
    new = axis(0, 3) + 0.01 * axis(2)  # beside a0, a1: a provisional (folded-in) track
    assert state.track_vectors.set_provisional("new", new)
    assert not state.track_vectors.set_provisional("a1", axis(2))  # never over a trained one
    state.tracks.apply({"new": new})
    queries.provisional_penalty = 0.0
    assert [s.item for s in queries.recommend_tracks(["a0"], 2)[1]] == ["a1", "new"]
    queries.provisional_penalty = 1.5  # its cosine ~0.99 - 1.5: below every orthogonal track
    assert [s.item for s in queries.recommend_tracks(["a0"], 3)[1]] == ["a1", "b0", "b1"]
    last = queries.recommend_tracks(["a0"], 6)[1][-1]
    assert last.item == "new" and last.score == pytest.approx(0.99 - 1.5, abs=0.01)
    assert "new" not in [s.item for s in queries.recommend_tracks(["a0"], 6, 0, False)[1]]
    assert queries.provisional(["a1", "new"]) == {"new"}
    assert [s.item for s in queries.similar_tracks("new", 1)[1]] == ["a1"]  # answerable itself
    state.track_vectors.set_provisional("new", None)
    state.tracks.apply({"new": None})
    with pytest.raises(NotFound):
        queries.similar_tracks("new", 1)


def test_a_provisional_seed_steers_the_query_only_without_trained_seeds(loader: Loader) -> None:
    queries = loaded(loader)
    state = queries.state()
    state.track_vectors.set_provisional("new", axis(1))  # a new track on the b axis
    state.tracks.apply({"new": axis(1)})
    queries.provisional_penalty = 0.0
    # beside a trained seed it is left out of the query (and of the explanation)
    _, scored, explained = queries.recommend_tracks(["a0", "new"], 1, explain_top=2)
    assert [s.item for s in scored] == ["a1"] and scored[0].score == pytest.approx(0.995, abs=1e-3)
    assert [seed for seed, _ in explained[0].parts] == ["a0"] and explained[0].known == 1
    # alone it is the query: its neighbours are the b tracks
    assert {s.item for s in queries.recommend_tracks(["new"], 2)[1]} == {"b0", "b1"}
