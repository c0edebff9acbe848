from __future__ import annotations

from playlist2vec.store import change_key


def test_change_key_prefers_full_document() -> None:
    assert change_key({"fullDocument": {"_id": 3}, "documentKey": {"_id": 4}}) == 3


def test_change_key_reads_document_key_of_replace_on_local_server() -> None:
    # mongo-java-server reports a replace as an update whose documentKey is the replacement
    assert change_key({"fullDocument": {}, "documentKey": {"_id": 1, "a": 3}}) == 1


def test_change_key_of_delete_and_of_unknowable_update() -> None:
    assert change_key({"fullDocument": None, "documentKey": {"_id": {"m": "v", "t": "x"}}}) == {
        "m": "v",
        "t": "x",
    }
    assert change_key({"fullDocument": {"a": 2}, "documentKey": {"$set": {"a": 2}}}) is None
