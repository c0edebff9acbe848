"""What serving reads: the `Source` protocol queries and model loading depend on, and its
MongoDB implementation (which also keeps resume tokens and live-quality counts)."""

from __future__ import annotations

import time
from collections.abc import Collection, Mapping
from typing import Any, Protocol

import numpy as np
from pymongo.database import Database

from playlist2vec import documents, store, vectors
from playlist2vec.errors import NotReady
from playlist2vec.vectors import FloatArray


def playlist_vector(doc: Mapping[str, Any] | None, version: str) -> FloatArray | None:
    """The vector a `playlist_vectors` doc gives `version`'s index: None if it is removed
    (missing, deleted, no known track); LookupError if the doc belongs to another model."""
    if doc is not None and doc["_id"]["m"] != version:
        raise LookupError(doc["_id"]["m"])
    if doc is None or doc.get("deleted") or doc.get("vector") is None:
        return None
    return vectors.decode(doc["vector"])


def provisional_vector(doc: Mapping[str, Any] | None, dim: int) -> FloatArray | None:
    """The vector a provisional `track_vectors` doc gives the track index: None when it is gone,
    below the minimum support (no `vector`), not provisional, or of another dimension."""
    if doc is None or not doc.get("provisional") or doc.get("vector") is None:
        return None
    vector = vectors.decode(doc["vector"])
    return vector if vector.shape[0] == dim else None


class Source(Protocol):
    """The reads serving needs besides change streams; `MemorySource` is the in-memory one."""

    def active_version(self) -> str | None:
        """The served model's version, None before the first switch."""
        ...

    def ready_versions(self) -> list[str]:
        """Trained models not switched to (scored in shadow)."""
        ...

    def track_vectors(self, version: str) -> tuple[list[str], FloatArray]: ...

    def provisional_vectors(self, version: str) -> dict[str, FloatArray]:
        """`version`'s provisional (folded-in) track vectors in use."""
        ...

    def track_vector_docs(self, version: str, uris: Collection[str]) -> dict[str, dict[str, Any]]: ...

    def playlist_vectors(self, version: str, owns: Any = None) -> tuple[list[Any], FloatArray]: ...

    def playlist_vector_docs(self, version: str, pids: Collection[Any]) -> dict[Any, dict[str, Any]]: ...

    def playlist(self, pid: Any) -> dict[str, Any] | None: ...

    def track_names(self, uris: Collection[str]) -> dict[str, dict[str, Any]]: ...

    def playlist_names(self, pids: Collection[Any]) -> dict[Any, str | None]: ...


class MongoSource:
    """Serving's MongoDB access, one method per question."""

    def __init__(self, db: Database[dict[str, Any]]) -> None:
        self.db = db

    def active_version(self) -> str | None:
        try:
            return str(store.active_model(self.db)["_id"])
        except NotReady:
            return None

    def track_vectors(self, version: str) -> tuple[list[str], FloatArray]:
        return store.load_track_vectors(self.db, version)

    def provisional_vectors(self, version: str) -> dict[str, FloatArray]:
        uris, matrix = store.load_track_vectors(self.db, version, provisional=True)
        return dict(zip(uris, matrix, strict=True))

    def track_vector_docs(self, version: str, uris: Collection[str]) -> dict[str, dict[str, Any]]:
        """`version`'s current `track_vectors` docs by uri (vector and flags only)."""
        keys = [{"m": version, "t": uri} for uri in uris]
        cursor = self.db[store.TRACK_VECTORS].find({"_id": {"$in": keys}},
                                                   {"vector": 1, "provisional": 1})
        return {doc["_id"]["t"]: doc for doc in cursor}

    def playlist_vectors(self, version: str, owns: Any = None) -> tuple[list[Any], FloatArray]:
        """(pids, matrix) of every live playlist vector of `version` (those `owns(pid)` keeps)."""
        pids: list[Any] = []
        rows: list[FloatArray] = []
        query = {"_id.m": version, "vector": {"$exists": True}, "deleted": {"$ne": True}}
        for doc in store.iter_docs(self.db[store.PLAYLIST_VECTORS], query, ["vector"]):
            pid = doc["_id"]["p"]
            if owns is None or owns(pid):
                pids.append(pid)
                rows.append(vectors.decode(doc["vector"]))
        return pids, (np.stack(rows) if rows else np.empty((0, 0), dtype=np.float32))

    def playlist_vector_docs(self, version: str, pids: Collection[Any]) -> dict[Any, dict[str, Any]]:
        """`version`'s current `playlist_vectors` docs by pid (pids without a doc are absent)."""
        keys = [documents.playlist_vector_key(version, pid) for pid in pids]
        cursor = self.db[store.PLAYLIST_VECTORS].find({"_id": {"$in": keys}})
        return {doc["_id"]["p"]: doc for doc in cursor}

    def playlist(self, pid: Any) -> dict[str, Any] | None:
        """The `playlists` doc, None when unknown or deleted."""
        doc = self.db[store.PLAYLISTS].find_one({"_id": pid},
                                                {"name": 1, "tracks": 1, "deleted": 1})
        return None if doc is None or doc.get("deleted") else doc

    def track_names(self, uris: Collection[str]) -> dict[str, dict[str, Any]]:
        cursor = self.db[store.TRACKS].find({"_id": {"$in": list(uris)}},
                                            {"track_name": 1, "artist_name": 1})
        return {doc["_id"]: doc for doc in cursor}

    def playlist_names(self, pids: Collection[Any]) -> dict[Any, str | None]:
        cursor = self.db[store.PLAYLISTS].find({"_id": {"$in": list(pids)}}, {"name": 1})
        return {doc["_id"]: doc.get("name") for doc in cursor}

    def ready_versions(self) -> list[str]:
        """The `ready` models: trained, not switched to; serving scores them in shadow."""
        return [str(m["_id"]) for m in store.write_models(self.db) if m["status"] == "ready"]

    def load_online(self, instance: str) -> dict[str, Any]:
        doc = self.db[store.SERVING_STATE].find_one({"_id": instance}, {"online": 1}) or {}
        return dict(doc.get("online") or {})

    def save_online(self, instance: str, counts: Mapping[str, Any]) -> None:
        self.db[store.SERVING_STATE].update_one(
            {"_id": instance}, {"$set": {"online": dict(counts), "online_at": time.time()}},
            upsert=True)

    def load_tokens(self, instance: str) -> dict[str, Any]:
        doc = self.db[store.SERVING_STATE].find_one({"_id": instance}) or {}
        return dict(doc.get("tokens") or {})

    def save_token(self, instance: str, collection: str, token: Mapping[str, Any] | None) -> None:
        # serving_state is not followed by anyone, so a field update is fine here
        self.db[store.SERVING_STATE].update_one(
            {"_id": instance},
            {"$set": {f"tokens.{collection}": token, "updated_at": time.time()}}, upsert=True)
