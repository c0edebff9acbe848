from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
from pymongo import ReplaceOne, UpdateOne

from playlist2vec import documents, vectors
from tests.support.operations import spec

NOW = datetime(2026, 12, 1, tzinfo=UTC)


def test_playlist_write_is_a_newer_wins_replace() -> None:
    op = documents.playlist_write({"pid": 7, "modified_at": 100, "name": "x", "tracks": ["a", "b"],
                                   "collaborative": True, "num_followers": None}, NOW)
    doc = {"_id": 7, "modified_at": 100, "updated_at": NOW, "name": "x", "tracks": ["a", "b"],
           "deleted": False, "collaborative": True}
    assert op == ReplaceOne(documents.newer_wins(7, 100), doc, upsert=True)


def test_a_corpus_load_leaves_an_equal_stored_playlist_alone() -> None:
    op = documents.playlist_write({"pid": 7, "modified_at": 100, "name": "x", "tracks": []}, NOW,
                                  rewrite_equal=False)
    assert spec(op).filter == {"_id": 7, "modified_at": {"$lt": 100}}


def test_a_deleted_playlist_keeps_a_marker_without_tracks() -> None:
    doc = documents.playlist_doc({"pid": 7, "modified_at": 5, "deleted": True, "tracks": ["a"]}, NOW)
    assert doc["deleted"] is True and doc["tracks"] == [] and doc["modified_at"] == 5


def test_playlist_vectors_are_keyed_by_model_and_pid() -> None:
    row = {"pid": 3, "modified_at": 9, "vector": [1.0, 2.0], "n_tracks": 4, "n_known": 2,
           "event_time": NOW}
    doc = documents.playlist_vector_doc(row, "m1", NOW, "stream", vectors.GENERIC_SUBTYPE)
    op = documents.playlist_vector_write(row, "m1", NOW, "stream", vectors.GENERIC_SUBTYPE)
    assert op == ReplaceOne(documents.newer_wins({"m": "m1", "p": 3}, 9), doc, upsert=True)
    assert doc["_id"] == {"m": "m1", "p": 3} and doc["source"] == "stream"
    assert doc["event_time"] == NOW and (doc["n_tracks"], doc["n_known"]) == (4, 2)
    np.testing.assert_array_equal(vectors.decode(doc["vector"]), np.array([1.0, 2.0], np.float32))


def test_no_vector_when_no_track_is_known_and_none_when_deleted() -> None:
    unknown = documents.playlist_vector_doc({"pid": 1, "modified_at": 1, "vector": None, "n_tracks": 2,
                                             "n_known": 0}, "m", NOW, "batch", 0)
    deleted = documents.playlist_vector_doc({"pid": 1, "modified_at": 2, "deleted": True,
                                             "vector": [1.0]}, "m", NOW, "stream", 0)
    assert "vector" not in unknown and "deleted" not in unknown
    assert "vector" not in deleted and deleted["deleted"] is True


def test_track_fields_keep_a_tracks_entry_whole_when_its_mentions_agree() -> None:
    entry = {"track_uri": "t1", "track_name": "A"}
    assert documents.track_fields([entry, dict(entry)])["t1"] is entry


def test_track_fields_merge_mentions_field_by_field() -> None:
    fields = documents.track_fields([
        {"track_uri": "t1", "track_name": "old", "artist_name": "A"},
        {"track_uri": "t1", "track_name": "new"},
        {"track_uri": "", "track_name": "ignored"},
        {"track_uri": "t2"},
    ])
    assert fields == {"t1": {"track_uri": "t1", "track_name": "new", "artist_name": "A"}}
    assert documents.track_write("t1", fields["t1"]) == UpdateOne(
        {"_id": "t1"}, {"$set": {"track_name": "new", "artist_name": "A"}}, upsert=True)


def test_a_live_snapshot_loses_a_tie_to_a_stored_deletion() -> None:
    assert documents.newer_wins(7, 5) == {"_id": 7, "$or": [
        {"modified_at": {"$lt": 5}}, {"modified_at": 5, "deleted": {"$ne": True}}]}
    assert documents.newer_wins(7, 5, deleted=True) == {"_id": 7, "modified_at": {"$lte": 5}}


def test_a_tombstone_raises_the_clock_and_yields_only_to_a_later_record_of_its_key() -> None:
    log = {"topic": "t", "partition": 1, "offset": 9}
    op = documents.playlist_delete_write(7, 50, log, NOW)
    assert spec(op).filter == {"_id": 7, "$or": [{"log.topic": {"$ne": "t"}}, {"log.partition": {"$ne": 1}},
                                            {"log.offset": {"$lte": 9}}]}
    assert spec(op).document["$max"] == {"modified_at": 50} and spec(op).upsert
    assert spec(op).document["$set"]["deleted"] is True and spec(op).document["$set"]["tracks"] == []
    assert spec(op).document["$set"]["log"] == log
    vec = documents.playlist_vector_delete_write("m1", 7, 50, log, NOW, "stream", NOW)
    assert spec(vec).filter == {"_id": {"m": "m1", "p": 7}, **documents.before(log)}
    assert spec(vec).document["$unset"] == {"vector": ""}
    assert spec(vec).document["$max"] == {"modified_at": 50}
