"""A live index: an immutable snapshot index plus a delta of changed and removed items.

Snapshot indexes (Annoy above all) cannot change after build, so changes since the snapshot
go to a delta that is scanned exactly; answers merge both, minus items the delta replaced
or removed. Each delta entry remembers the sequence number of its change, so a swap to a
newer snapshot prunes exactly the entries the new snapshot already reflects.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Hashable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from playlist2vec.vectors import FloatArray, normalize
from serving.indexes import VectorIndex


@dataclass(frozen=True)
class Snapshot:
    index: VectorIndex
    files: list[Path] = field(default_factory=list)
    built_at: float = field(default_factory=time.time)


@dataclass(frozen=True)
class _DeltaView:
    """An immutable view of the delta for queries: live vectors and every changed id."""

    ids: list[Any]
    unit: FloatArray
    changed: frozenset[Any]


_EMPTY_VIEW = _DeltaView([], np.empty((0, 0), dtype=np.float32), frozenset())


class LiveIndex:
    """Snapshot + delta; queries never block on writers beyond a dictionary read."""

    def __init__(self, name: str) -> None:
        self.name = name
        self._lock = threading.Lock()
        self._snapshot: Snapshot | None = None
        self._delta: dict[Any, tuple[int, FloatArray | None]] = {}
        self._seq = 0
        self._view: _DeltaView | None = _EMPTY_VIEW

    @property
    def snapshot(self) -> Snapshot | None:
        return self._snapshot

    def delta_size(self) -> int:
        return len(self._delta)

    def apply(self, changes: Mapping[Hashable, FloatArray | None]) -> None:
        """Record new vectors (or None: removed) for ids; later changes override earlier ones."""
        if not changes:
            return
        with self._lock:
            self._seq += 1
            for item, vector in changes.items():
                unit = None if vector is None else normalize(np.asarray(vector, dtype=np.float32))
                self._delta[item] = (self._seq, unit)
            self._view = None

    def mark(self) -> int:
        """The sequence number a snapshot built from state read after this call reflects."""
        with self._lock:
            return self._seq

    def swap(self, snapshot: Snapshot, through: int) -> Snapshot | None:
        """Install `snapshot` (reflecting changes up to `through`); returns the one it replaced."""
        with self._lock:
            old, self._snapshot = self._snapshot, snapshot
            self._delta = {k: v for k, v in self._delta.items() if v[0] > through}
            self._view = None
        return old

    def search(self, query: FloatArray, n: int) -> list[tuple[Any, float]]:
        """Up to n (id, cosine score) pairs, best first, from the snapshot merged with the delta."""
        with self._lock:
            snapshot, view = self._snapshot, self._view_locked()
        unit_query = normalize(np.asarray(query, dtype=np.float32))
        ids: list[Any] = []
        scores: list[np.ndarray] = []
        if snapshot is not None:
            found, found_scores = self._snapshot_top(snapshot.index, unit_query, n, view.changed)
            ids.extend(found)
            scores.append(found_scores)
        if view.ids:
            delta_scores = view.unit @ unit_query
            top = np.argsort(-delta_scores, kind="stable")[:n]
            ids.extend(view.ids[i] for i in top)
            scores.append(delta_scores[top].astype(np.float32))
        if not ids:
            return []
        merged = np.concatenate(scores)
        order = np.argsort(-merged, kind="stable")[:n]
        return [(ids[i], float(merged[i])) for i in order]

    @staticmethod
    def _snapshot_top(index: VectorIndex, unit_query: FloatArray, n: int,
                      changed: frozenset[Any]) -> tuple[list[Any], np.ndarray]:
        """The snapshot's n best ids not overridden by the delta, asking for more while some
        were dropped (changed ids rarely rank, so one round is the common case)."""
        want = n + min(len(changed), n)
        while True:
            found, scores = index.search(unit_query, want)
            keep = [i for i, item in enumerate(found) if item not in changed]
            if len(keep) >= n or len(found) < want or want >= n + len(changed):
                keep = keep[:n]
                return [found[i] for i in keep], scores[keep]
            want = min(n + len(changed), 2 * want)

    def _view_locked(self) -> _DeltaView:
        if self._view is None:
            live = [(k, v) for k, (_, v) in self._delta.items() if v is not None]
            unit = np.stack([v for _, v in live]) if live else _EMPTY_VIEW.unit
            self._view = _DeltaView([k for k, _ in live], unit, frozenset(self._delta))
        return self._view
