"""The documents of `playlists`, `playlist_vectors` and `tracks`, and the newer-wins write rule.

One definition for every writer (batch corpus loads, the batch derive pass, the stream), so
the shapes in ARCHITECTURE.md cannot drift apart between them. Builders are pure: they return
pymongo operations, the caller runs them with `store.bulk_write`.

Newer wins: a playlist or playlist-vector write is a whole-document replace conditioned on the
stored `modified_at` being not newer, with upsert. When the stored document is newer the
filter matches nothing, the upsert collides with the existing `_id` and the server answers
DuplicateKey (`STALE`): the write is stale, changes nothing and is counted as such. An equal
`modified_at` rewrites the same values, so replays are harmless, except that a stored deletion
wins a tie against a live snapshot (so the snapshot a deletion removed cannot come back).

Tombstones (null-value Kafka records) delete whatever the clocks say: `playlist_delete_write`
ignores `modified_at` and moves it forward to at least the tombstone's clock (`$max`), so the
deletion is ordered after everything stored before it and a later replay of those older
events is stale. Its only condition is the Kafka position: stream writes record the record
they came from (`log`: topic, partition, offset; a playlist's events share one partition), and
a tombstone does not undo what a later record of its key wrote (a replay of the topic).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from pymongo import ReplaceOne, UpdateOne

from playlist2vec import vectors

STALE = 11000  # DuplicateKey: the conditional upsert lost to a newer stored document
TRACK_FIELDS = ("track_name", "artist_name", "artist_uri", "album_name", "album_uri", "duration_ms")
OPTIONAL_PLAYLIST_FIELDS = ("collaborative", "num_followers")


def newer_wins(key: Any, modified_at: int, deleted: bool = False,
               rewrite_equal: bool = True) -> dict[str, Any]:
    """The filter of a conditional replace: the document `key`, unless a newer one is stored
    (or, for a live snapshot, a deletion of the same `modified_at`; or, with `rewrite_equal`
    false, any document as new)."""
    if deleted or not rewrite_equal:
        return {"_id": key, "modified_at": {"$lte" if rewrite_equal else "$lt": modified_at}}
    return {"_id": key, "$or": [{"modified_at": {"$lt": modified_at}},
                                {"modified_at": modified_at, "deleted": {"$ne": True}}]}


def before(log: Mapping[str, Any]) -> dict[str, Any]:
    """Filter: the stored document does not come from a later record of the same topic partition
    than `log` (documents written by batch, or from another topic, always qualify)."""
    return {"$or": [{"log.topic": {"$ne": log["topic"]}}, {"log.partition": {"$ne": log["partition"]}},
                    {"log.offset": {"$lte": log["offset"]}}]}


def playlist_vector_key(version: str, pid: int) -> dict[str, Any]:
    """`playlist_vectors` `_id`: one document per (model version, pid)."""
    return {"m": version, "p": pid}


def playlist_doc(row: Mapping[str, Any], now: datetime) -> dict[str, Any]:
    """The `playlists` document of an event or corpus row (pid, modified_at, deleted, name,
    tracks, optional collaborative/num_followers). A deletion keeps a marker document, so an
    older event cannot bring the playlist back."""
    doc: dict[str, Any] = {"_id": int(row["pid"]), "modified_at": int(row["modified_at"]),
                           "updated_at": now}
    if row.get("log") is not None:
        doc["log"] = row["log"]
    if row.get("deleted"):
        return doc | {"deleted": True, "name": None, "tracks": []}
    doc |= {"name": row["name"], "tracks": list(row["tracks"] or ()), "deleted": False}
    for optional in OPTIONAL_PLAYLIST_FIELDS:
        if row.get(optional) is not None:
            doc[optional] = row[optional]
    return doc


def playlist_write(row: Mapping[str, Any], now: datetime,
                   rewrite_equal: bool = True) -> ReplaceOne[dict[str, Any]]:
    """A corpus load passes `rewrite_equal=False`: reloading the same corpus then leaves the
    stored playlists (and their `updated_at`, which a model's catch-up selects by) alone."""
    doc = playlist_doc(row, now)
    return ReplaceOne(newer_wins(doc["_id"], doc["modified_at"], doc["deleted"], rewrite_equal), doc,
                      upsert=True)


def playlist_delete_write(pid: int, clock: int, log: Mapping[str, Any], now: datetime) -> UpdateOne:
    """A tombstone's deletion of `pid` (from the record at `log`): `modified_at` raised to at
    least `clock` (never lowered), so it is ordered after the stored state; re-running it is
    harmless. DuplicateKey (`STALE`) when a later record of the key is stored."""
    return UpdateOne({"_id": int(pid), **before(log)}, {
        "$set": {"deleted": True, "name": None, "tracks": [], "updated_at": now, "log": dict(log)},
        "$unset": {key: "" for key in OPTIONAL_PLAYLIST_FIELDS},
        "$max": {"modified_at": int(clock)},
    }, upsert=True)


def playlist_vector_doc(row: Mapping[str, Any], version: str, now: datetime, source: str,
                        subtype: int) -> dict[str, Any]:
    """The `playlist_vectors` document of `version` for a row (pid, modified_at, deleted,
    vector|None, n_tracks, n_known, optional event_time). No `vector` field when no track is
    known; `deleted: true` (and no vector) for a deleted playlist."""
    doc: dict[str, Any] = {
        "_id": playlist_vector_key(version, int(row["pid"])),
        "n_tracks": int(row.get("n_tracks") or 0), "n_known": int(row.get("n_known") or 0),
        "modified_at": int(row["modified_at"]), "updated_at": now, "source": source,
    }
    for optional in ("event_time", "log"):
        if row.get(optional) is not None:
            doc[optional] = row[optional]
    if row.get("deleted"):
        doc["deleted"] = True
    elif row.get("vector") is not None:
        doc["vector"] = vectors.encode(row["vector"], subtype)
    return doc


def playlist_vector_write(row: Mapping[str, Any], version: str, now: datetime, source: str,
                          subtype: int) -> ReplaceOne[dict[str, Any]]:
    doc = playlist_vector_doc(row, version, now, source, subtype)
    return ReplaceOne(newer_wins(doc["_id"], doc["modified_at"], bool(doc.get("deleted"))), doc,
                      upsert=True)


def playlist_vector_delete_write(version: str, pid: int, clock: int, log: Mapping[str, Any],
                                 now: datetime, source: str, event_time: datetime) -> UpdateOne:
    """`playlist_delete_write` for one model's vector document: no vector, `deleted: true`."""
    fields: dict[str, Any] = {"deleted": True, "n_tracks": 0, "n_known": 0, "updated_at": now,
                              "source": source, "event_time": event_time, "log": dict(log)}
    return UpdateOne({"_id": playlist_vector_key(version, int(pid)), **before(log)}, {
        "$set": fields, "$unset": {"vector": ""}, "$max": {"modified_at": int(clock)},
    }, upsert=True)


def track_write(uri: str, fields: Mapping[str, Any]) -> UpdateOne:
    """`$set` of the metadata fields given (an event naming only some keeps the others)."""
    return UpdateOne({"_id": uri}, {"$set": {k: fields[k] for k in TRACK_FIELDS if k in fields}},
                     upsert=True)


def track_fields(entries: Sequence[Mapping[str, Any]]) -> dict[str, Mapping[str, Any]]:
    """Metadata entries (each with `track_uri`) -> per uri, what `track_write` sets: the last
    mention of a track wins field by field; uris without any field are skipped. A track whose
    mentions agree (the usual case) maps to its entry as it is, `track_uri` included (a stream
    chunk lists tens of thousands: no copy per mention)."""
    latest: dict[str, Mapping[str, Any]] = {}
    for entry in entries:
        uri = entry.get("track_uri")
        if isinstance(uri, str) and uri:
            known = latest.get(uri)
            if known is None or (known is not entry and known != entry):
                latest[uri] = entry if known is None else {**known, **entry}
    return {uri: fields for uri, fields in latest.items()
            if any(field in fields for field in TRACK_FIELDS)}
