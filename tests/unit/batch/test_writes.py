"""The pure builders of batch MongoDB operations."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
from pymongo import InsertOne, ReplaceOne

from batch.writes import (
    build_playlist_ops,
    build_playlist_vector_ops,
    build_track_ops,
    build_track_vector_ops,
)
from playlist2vec import vectors
from tests.support.operations import spec

NOW = datetime(2026, 11, 25, tzinfo=UTC)


def test_track_vectors_are_inserted_under_the_model_version() -> None:
    [op] = build_track_vector_ops([{"track_uri": "t1", "vector": [0.5, -1.0], "count": 7}], "v1", 0)
    assert isinstance(op, InsertOne)
    doc = spec(op).document
    assert doc["_id"] == {"m": "v1", "t": "t1"} and doc["count"] == 7
    assert doc["vector"].subtype == 0
    np.testing.assert_array_equal(vectors.decode(doc["vector"]), np.float32([0.5, -1.0]))


def test_playlists_replace_only_older_ones() -> None:
    [op] = build_playlist_ops([{"pid": 3, "name": "n", "tracks": ["a", "b"], "modified_at": 10}], NOW)
    assert isinstance(op, ReplaceOne)
    assert spec(op).filter == {"_id": 3, "modified_at": {"$lt": 10}} and spec(op).upsert
    assert spec(op).document == {"_id": 3, "name": "n", "tracks": ["a", "b"], "modified_at": 10,
                       "updated_at": NOW, "deleted": False}


def test_playlist_vectors_are_whole_documents_and_omit_missing_vectors() -> None:
    rows = [{"pid": 1, "vector": [1.0, 2.0], "n_tracks": 3, "n_known": 2, "modified_at": 5},
            {"pid": 2, "vector": None, "n_tracks": 4, "n_known": 0, "modified_at": 6}]
    known, unknown = build_playlist_vector_ops(rows, "v9", NOW, 9)
    assert spec(known).filter["_id"] == {"m": "v9", "p": 1}
    assert set(spec(known).document) == {"_id", "vector", "n_tracks", "n_known", "modified_at",
                               "updated_at", "source"}
    assert spec(known).document["source"] == "batch"
    assert spec(known).document["vector"].subtype == 9
    assert "vector" not in spec(unknown).document and spec(unknown).document["n_known"] == 0


def test_tracks_carry_their_metadata() -> None:
    row = {"track_uri": "t", "track_name": "s", "artist_name": "a", "artist_uri": "au",
           "album_name": "al", "album_uri": "alu", "duration_ms": 1000}
    [op] = build_track_ops([row])
    assert spec(op).filter == {"_id": "t"} and spec(op).document["$set"]["duration_ms"] == 1000
    assert "_id" not in spec(op).document["$set"]
