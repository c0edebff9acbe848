"""Snapshots: an index built once into new files, how they are built, and how a replaced one's
files go."""

from __future__ import annotations

import time
import uuid
from collections.abc import Hashable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from playlist2vec.vectors import FloatArray
from serving import indexes
from serving.indexes import IndexParams, VectorIndex


@dataclass(frozen=True)
class Snapshot:
    index: VectorIndex
    files: list[Path] = field(default_factory=list)
    built_at: float = field(default_factory=time.time)


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
