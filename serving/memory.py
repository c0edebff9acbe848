"""`MemorySource`: the `Source` protocol over dicts, for unit tests and in-process benchmarks."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from playlist2vec import documents, vectors
from playlist2vec.vectors import FloatArray


@dataclass
class MemorySource:
    """Models, playlists and names held in memory; a test changes them between calls.

    `playlist_docs` holds `playlist_vectors` documents as MongoDB stores them (keyed
    by pid, under each model's version), so deletes and other models' docs read the same way.
    """

    active: str | None = None
    ready: list[str] = field(default_factory=list)
    tracks: dict[str, tuple[list[str], FloatArray]] = field(default_factory=dict)
    playlist_docs: dict[str, dict[Any, dict[str, Any]]] = field(default_factory=dict)
    playlists: dict[Any, dict[str, Any]] = field(default_factory=dict)
    names: dict[str, dict[str, Any]] = field(default_factory=dict)

    def add_playlist_vector(self, version: str, pid: Any, vector: FloatArray | None,
                            **fields: Any) -> None:
        """Store `pid`'s doc for `version` (a None vector stores a removed one)."""
        doc: dict[str, Any] = {"_id": documents.playlist_vector_key(version, pid), **fields}
        if vector is None:
            doc["deleted"] = True
        else:
            doc["vector"] = vectors.encode(np.asarray(vector, dtype=np.float32))
        self.playlist_docs.setdefault(version, {})[pid] = doc

    def active_version(self) -> str | None:
        return self.active

    def ready_versions(self) -> list[str]:
        return list(self.ready)

    def track_vectors(self, version: str) -> tuple[list[str], FloatArray]:
        uris, matrix = self.tracks.get(version, ([], np.empty((0, 0), dtype=np.float32)))
        return list(uris), matrix

    def provisional_vectors(self, version: str) -> dict[str, FloatArray]:
        return {}  # no stream folds tracks in here

    def track_vector_docs(self, version: str, uris: Collection[str]) -> dict[str, dict[str, Any]]:
        return {}

    def playlist_vectors(self, version: str, owns: Any = None) -> tuple[list[Any], FloatArray]:
        live = [(pid, vectors.decode(doc["vector"]))
                for pid, doc in self.playlist_docs.get(version, {}).items()
                if doc.get("vector") is not None and not doc.get("deleted")
                and (owns is None or owns(pid))]
        matrix = np.stack([v for _, v in live]) if live else np.empty((0, 0), dtype=np.float32)
        return [pid for pid, _ in live], matrix

    def playlist_vector_docs(self, version: str, pids: Collection[Any]) -> dict[Any, dict[str, Any]]:
        docs = self.playlist_docs.get(version, {})
        return {pid: docs[pid] for pid in pids if pid in docs}

    def playlist(self, pid: Any) -> dict[str, Any] | None:
        doc = self.playlists.get(pid)
        return None if doc is None or doc.get("deleted") else doc

    def track_names(self, uris: Collection[str]) -> dict[str, dict[str, Any]]:
        return {uri: self.names[uri] for uri in uris if uri in self.names}

    def playlist_names(self, pids: Collection[Any]) -> dict[Any, str | None]:
        return {pid: self.playlists[pid].get("name") for pid in pids if pid in self.playlists}
