"""`MemorySource` answers the `Source` questions the way `MongoSource` does."""

from __future__ import annotations

import numpy as np

from serving.memory import MemorySource
from serving.source import Source, playlist_vector
from tests.unit.serving.conftest import axis, model_source


def test_it_is_a_source() -> None:
    source: Source = MemorySource()
    assert source.active_version() is None and source.ready_versions() == []


def test_playlist_vectors_are_the_live_docs_of_the_model_that_owns_keeps() -> None:
    source = model_source()
    source.add_playlist_vector("m1", 201, None)
    source.add_playlist_vector("m2", 300, axis(2))
    pids, matrix = source.playlist_vectors("m1")
    assert pids == [100, 101, 200] and matrix.shape == (3, 4)
    assert source.playlist_vectors("m1", owns=lambda pid: pid >= 200)[0] == [200]
    unknown, empty = source.playlist_vectors("m3")
    assert unknown == [] and empty.size == 0


def test_docs_read_back_as_the_vector_or_removal_they_store() -> None:
    source = model_source()
    source.add_playlist_vector("m1", 201, None)
    docs = source.playlist_vector_docs("m1", [100, 201, 999])
    assert set(docs) == {100, 201}
    np.testing.assert_array_equal(playlist_vector(docs[100], "m1"), axis(0))
    assert playlist_vector(docs[201], "m1") is None


def test_names_and_playlists_leave_out_the_unknown_and_the_deleted() -> None:
    source = model_source()
    source.playlists[300] = {"_id": 300, "name": "gone", "deleted": True}
    assert source.playlist(100) == {"_id": 100, "name": "first", "tracks": ["a0", "b0"]}
    assert source.playlist(300) is None and source.playlist(999) is None
    assert source.track_names(["a0", "zz"]) == {"a0": {"track_name": "A0", "artist_name": "x"}}
    assert source.playlist_names([100, 999]) == {100: "first"}
