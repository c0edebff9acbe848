"""build_upserts and friends: the MongoDB operations of a micro-batch, checked without a server."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import numpy as np
import pytest
from pymongo import ReplaceOne, UpdateOne

from playlist2vec import vectors
from playlist2vec.errors import InvalidInput
from streaming import sink

NOW = datetime(2025, 1, 1, tzinfo=UTC)


def row(pid: int, modified_at: int, deleted: bool = False, **extra: Any) -> dict[str, Any]:
    base = {"pid": pid, "modified_at": modified_at, "deleted": deleted,
            "name": None if deleted else f"p{pid}",
            "tracks": None if deleted else ["a", "b"], "collaborative": None, "num_followers": None,
            "track_meta": None, "n_events": 1, "vector": None if deleted else [1.0, 2.0],
            "n_tracks": 0 if deleted else 2, "n_known": 0 if deleted else 2}
    return base | extra


def test_upserts_are_whole_document_conditional_replaces() -> None:
    ups = sink.build_upserts([row(1, 10, collaborative=True)], "m1", 2, NOW, 0)
    [playlist], [vector] = ups.playlists, ups.playlist_vectors
    for op in (playlist, vector):
        assert isinstance(op, ReplaceOne)
        assert op._filter == {"_id": 1, "modified_at": {"$lte": 10}} and op._upsert
    assert playlist._doc == {"_id": 1, "name": "p1", "tracks": ["a", "b"], "modified_at": 10,
                             "updated_at": NOW, "deleted": False, "collaborative": True}
    assert {k: v for k, v in vector._doc.items() if k != "vector"} == {
        "_id": 1, "model_version": "m1", "n_tracks": 2, "n_known": 2, "modified_at": 10,
        "updated_at": NOW, "source": "stream"}
    np.testing.assert_array_equal(vectors.decode(vector._doc["vector"]), [1.0, 2.0])


def test_a_deletion_keeps_a_tombstone_without_vector() -> None:
    ups = sink.build_upserts([row(2, 20, deleted=True)], "m1", 2, NOW, 0)
    assert ups.playlists[0]._doc == {"_id": 2, "modified_at": 20, "updated_at": NOW, "deleted": True,
                                     "tracks": []}
    assert ups.playlist_vectors[0]._doc == {"_id": 2, "model_version": "m1", "n_tracks": 0, "n_known": 0,
                                            "modified_at": 20, "updated_at": NOW, "source": "stream",
                                            "deleted": True}


def test_no_known_track_means_no_vector() -> None:
    doc = sink.build_upserts([row(3, 1, vector=None, n_known=0)], "m1", 2, NOW, 0).playlist_vectors[0]._doc
    assert "vector" not in doc and doc["n_known"] == 0


def test_a_vector_of_the_wrong_size_or_not_finite_is_refused() -> None:
    with pytest.raises(InvalidInput):
        sink.build_upserts([row(4, 1, vector=[1.0, 2.0, 3.0])], "m1", 2, NOW, 0)
    with pytest.raises(InvalidInput):
        sink.build_upserts([row(4, 1, vector=[1.0, float("nan")])], "m1", 2, NOW, 0)


def test_track_metadata_last_mention_wins_and_partial_fields_are_set_only() -> None:
    rows = [row(1, 1, track_meta=json.dumps([{"track_uri": "a", "track_name": "A", "junk": 1}])),
            row(2, 1, track_meta=json.dumps([{"track_uri": "a", "artist_name": "X"},
                                             {"track_name": "no uri"}])),
            row(3, 1, deleted=True, track_meta=json.dumps([{"track_uri": "z", "track_name": "Z"}]))]
    [op] = sink.track_updates(rows)
    assert isinstance(op, UpdateOne)
    assert op._filter == {"_id": "a"} and op._doc == {"$set": {"track_name": "A", "artist_name": "X"}}


def test_split_stale_keeps_equal_and_newer_rows() -> None:
    rows = [row(1, 10), row(2, 10), row(3, 10), row(4, 10)]
    fresh, stale = sink.split_stale(rows, {1: 9, 2: 10, 3: 11})
    assert [r["pid"] for r in fresh] == [1, 2, 4] and [r["pid"] for r in stale] == [3]


def test_outcomes_count_superseded_and_stale_events_as_stale() -> None:
    newest = [row(1, 10, n_events=3), row(2, 10, deleted=True), row(3, 10)]
    fresh = newest[:2]
    assert sink.outcomes(newest, fresh, n_invalid=4) == {"applied": 1, "deleted": 1, "stale": 3, "invalid": 4}
    assert sink.unknown_tracks([row(1, 1, n_tracks=5, n_known=2), row(2, 1, deleted=True)]) == 3
