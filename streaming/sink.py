"""The MongoDB side of a micro-batch: pure `build_upserts` from batch rows, then bulk writes.

Every write is a whole-document conditional replace, `{"_id": pid, "modified_at": {"$lte": m}}`
with upsert: an older event than the stored one fails with DuplicateKey (tolerated: stale), an
equal one rewrites the same values, so replays and re-run batches are harmless. A deletion
keeps a tombstone document (no `vector`, `deleted: true`) in `playlist_vectors` rather than
deleting it, so a later stale event for that pid still loses to the stored `modified_at`.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from pymongo import ReplaceOne, UpdateOne
from pymongo.database import Database

from playlist2vec import store, vectors
from playlist2vec.events import TRACK_META_FIELDS

Row = Mapping[str, Any]
SOURCE = "stream"


@dataclass
class Upserts:
    """The writes of one micro-batch, per collection."""

    playlists: list[ReplaceOne] = field(default_factory=list)
    playlist_vectors: list[ReplaceOne] = field(default_factory=list)
    tracks: list[UpdateOne] = field(default_factory=list)


def _conditional(row: Row, doc: dict[str, Any]) -> ReplaceOne:
    return ReplaceOne({"_id": row["pid"], "modified_at": {"$lte": row["modified_at"]}}, doc, upsert=True)


def playlist_doc(row: Row, now: datetime) -> dict[str, Any]:
    doc: dict[str, Any] = {"_id": row["pid"], "modified_at": row["modified_at"], "updated_at": now}
    if row["deleted"]:
        return doc | {"deleted": True, "tracks": []}
    doc |= {"name": row["name"], "tracks": list(row["tracks"]), "deleted": False}
    for optional in ("collaborative", "num_followers"):
        if row.get(optional) is not None:
            doc[optional] = row[optional]
    return doc


def vector_doc(row: Row, model_version: str, dim: int, now: datetime, subtype: int) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "_id": row["pid"], "model_version": model_version,
        "n_tracks": row["n_tracks"], "n_known": row["n_known"],
        "modified_at": row["modified_at"], "updated_at": now, "source": SOURCE,
    }
    if row["deleted"]:
        doc["deleted"] = True
    elif row.get("vector") is not None:
        doc["vector"] = vectors.encode(vectors.validate(row["vector"], dim), subtype)
    return doc


def track_updates(rows: Iterable[Row]) -> list[UpdateOne]:
    """`tracks` upserts from the events' `track_meta` (last mention of a track wins).

    `$set` of the fields given, so an event naming only some fields keeps the others.
    """
    latest: dict[str, dict[str, Any]] = {}
    for row in rows:
        if row["deleted"] or not row.get("track_meta"):
            continue
        meta = json.loads(row["track_meta"])
        for entry in meta if isinstance(meta, list) else ():
            uri = entry.get("track_uri")
            if isinstance(uri, str) and uri:
                fields = {k: entry[k] for k in TRACK_META_FIELDS if k in entry and k != "track_uri"}
                latest.setdefault(uri, {}).update(fields)
    return [UpdateOne({"_id": uri}, {"$set": fields}, upsert=True)
            for uri, fields in latest.items() if fields]


def build_upserts(rows: Sequence[Row], model_version: str, dim: int, now: datetime,
                  subtype: int) -> Upserts:
    """The conditional whole-document replaces (and track metadata) for the newest rows."""
    return Upserts(
        playlists=[_conditional(r, playlist_doc(r, now)) for r in rows],
        playlist_vectors=[_conditional(r, vector_doc(r, model_version, dim, now, subtype)) for r in rows],
        tracks=track_updates(rows),
    )


def split_stale(rows: Sequence[Row], stored: Mapping[int, int]) -> tuple[list[Row], list[Row]]:
    """(rows at least as new as what is stored, rows older than it)."""
    fresh: list[Row] = []
    stale: list[Row] = []
    for row in rows:
        (stale if stored.get(row["pid"], row["modified_at"]) > row["modified_at"] else fresh).append(row)
    return fresh, stale


def outcomes(newest: Sequence[Row], fresh: Sequence[Row], n_invalid: int) -> dict[str, int]:
    """Events by result: superseded-in-batch and older-than-stored events are both stale."""
    deleted = sum(1 for r in fresh if r["deleted"])
    return {
        "applied": len(fresh) - deleted,
        "deleted": deleted,
        "stale": sum(r["n_events"] for r in newest) - len(fresh),
        "invalid": n_invalid,
    }


def unknown_tracks(fresh: Iterable[Row]) -> int:
    return sum(r["n_tracks"] - r["n_known"] for r in fresh if not r["deleted"])


def stored_modified_at(db: Database[dict[str, Any]], pids: Sequence[int]) -> dict[int, int]:
    """The stored `modified_at` per pid, to skip (and count) stale rows before writing.

    Only an optimisation and a count: the conditional replace stays the guard against a
    concurrent writer.
    """
    if not pids:
        return {}
    cursor = db[store.PLAYLIST_VECTORS].find({"_id": {"$in": list(pids)}}, {"modified_at": 1})
    return {doc["_id"]: doc["modified_at"] for doc in cursor if "modified_at" in doc}


def write(db: Database[dict[str, Any]], upserts: Upserts) -> None:
    """Tracks, then playlists, then playlist_vectors (the collection serving follows) last."""
    stale_ok = frozenset({store.DUPLICATE_KEY})
    store.bulk_write(db[store.TRACKS], upserts.tracks)
    store.bulk_write(db[store.PLAYLISTS], upserts.playlists, tolerate=stale_ok)
    store.bulk_write(db[store.PLAYLIST_VECTORS], upserts.playlist_vectors, tolerate=stale_ok)
