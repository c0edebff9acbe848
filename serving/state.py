"""The serving state of one model: its track vectors and its track and playlist live indexes."""

from __future__ import annotations

import uuid
from collections.abc import Hashable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from playlist2vec.vectors import FloatArray
from serving import indexes
from serving.indexes import IndexParams
from serving.live import LiveIndex, Snapshot


class TrackVectors(Mapping[str, FloatArray]):
    """Raw track vectors by uri over one matrix (what `recommend.seed_query` averages)."""

    def __init__(self, uris: Sequence[str], matrix: FloatArray) -> None:
        self._rows = {uri: row for row, uri in enumerate(uris)}
        self._matrix = matrix

    def __getitem__(self, uri: str) -> FloatArray:
        return self._matrix[self._rows[uri]]

    def __iter__(self) -> Iterator[str]:
        return iter(self._rows)

    def __len__(self) -> int:
        return len(self._rows)


@dataclass(frozen=True)
class ModelState:
    version: str
    dim: int
    track_vectors: TrackVectors
    tracks: LiveIndex
    playlists: LiveIndex


@dataclass(frozen=True)
class SnapshotBuilder:
    """Builds snapshot indexes into NEW files under `directory` (mapped files are never rewritten)."""

    strategy: str
    params: IndexParams
    directory: Path
    prefix: str

    def build(self, name: str, ids: Sequence[Hashable], matrix: FloatArray) -> Snapshot:
        index = indexes.create(indexes.resolve(self.strategy, len(ids)), self.params)
        index.build(ids, matrix)
        self.directory.mkdir(parents=True, exist_ok=True)
        files = index.save(self.directory / f"{self.prefix}-{name}-{uuid.uuid4().hex}")
        return Snapshot(index, files)

    def remove_stale(self) -> None:
        """Delete files a previous run of this instance left behind."""
        for path in self.directory.glob(f"{self.prefix}-*"):
            path.unlink(missing_ok=True)


def discard(snapshot: Snapshot | None) -> None:
    """Unlink a replaced snapshot's files; queries still holding it keep their mapping."""
    if snapshot is not None:
        for path in snapshot.files:
            path.unlink(missing_ok=True)
