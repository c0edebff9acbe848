"""The rows the derive pass and the catch-up read from `playlists` documents."""

from __future__ import annotations

from batch.derive import playlist_row


def test_a_playlist_document_becomes_a_row() -> None:
    assert playlist_row({"_id": 5, "tracks": ["a", "b"], "modified_at": 9, "deleted": False}) \
        == (5, ["a", "b"], 9, False)


def test_a_deletion_marker_is_a_deleted_row_without_tracks() -> None:
    assert playlist_row({"_id": 5, "tracks": [], "modified_at": 9, "deleted": True}) \
        == (5, [], 9, True)
    assert playlist_row({"_id": 6, "modified_at": 1}) == (6, [], 1, False)
