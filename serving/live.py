"""A live index: a snapshot index plus a delta of changed and removed items.

Snapshot indexes (Annoy above all) cannot change after build, so changes since the snapshot
go to a delta that is scanned exactly; answers merge both, minus items the delta replaced
or removed. Each delta entry remembers the sequence number of its change, so a swap to a
newer snapshot prunes exactly the entries the new snapshot already reflects.

A snapshot whose index `accepts_updates` (HNSW) takes changes directly instead and needs no
rebuild; the delta then only holds changes made while a replacement is being built (after
`mark`), which the swap replays into the replacement before installing it.
"""

from __future__ import annotations

import threading
from collections.abc import Hashable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from playlist2vec.vectors import FloatArray, cosine_top_k, normalize
from serving.indexes import VectorIndex
from serving.snapshot import Snapshot


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
        self._building = False
        self._view: _DeltaView | None = _EMPTY_VIEW

    @property
    def snapshot(self) -> Snapshot | None:
        return self._snapshot

    def delta_size(self) -> int:
        return len(self._delta)

    @property
    def updatable(self) -> bool:
        """True when changes go straight into the snapshot index (no rebuild needed)."""
        return _takes_updates(self._snapshot)

    def apply(self, changes: Mapping[Hashable, FloatArray | None]) -> None:
        """Record new vectors (or None: removed) for ids; later changes override earlier ones."""
        if not changes:
            return
        units: dict[Hashable, FloatArray | None] = dict.fromkeys(changes)
        live = [(item, vector) for item, vector in changes.items() if vector is not None]
        if live:  # one normalisation for the whole poll: thousands of changes a second
            matrix = normalize(np.stack([np.asarray(vector, dtype=np.float32) for _, vector in live]))
            units.update(zip([item for item, _ in live], matrix, strict=True))
        with self._lock:
            self._seq += 1
            snapshot = self._snapshot
            direct = _takes_updates(snapshot)
            if not direct or self._building:  # a replacement being built must replay these
                for item, unit in units.items():
                    self._delta[item] = (self._seq, unit)
                self._view = None
        if direct:
            assert snapshot is not None
            # outside the lock: queries keep reading references while the graph takes the
            # update (the index guards itself); only this thread applies changes
            snapshot.index.update(units)

    def mark(self) -> int:
        """Start a rebuild: the sequence number a snapshot built from state read after this
        call reflects."""
        with self._lock:
            self._building = True
            return self._seq

    def freeze(self) -> tuple[int, list[Any], FloatArray]:
        """Start a rebuild from memory: (the sequence number it reflects, ids, unit vectors),
        the snapshot's items with every change so far applied. Changes are applied in the
        order they were made, so this is the stored state as of the last one (no read of
        MongoDB, whose full scan costs the server as much as the build costs serving)."""
        with self._lock:
            self._building = True
            through, snapshot, delta = self._seq, self._snapshot, dict(self._delta)
        ids, unit = snapshot.index.items() if snapshot is not None else ([], np.empty((0, 0), np.float32))
        kept = [row for row, item in enumerate(ids) if item not in delta]
        live = [(item, vector) for item, (_, vector) in delta.items() if vector is not None]
        rows = [unit[kept]] if kept else []
        if live:
            rows.append(np.stack([vector for _, vector in live]))
        matrix = np.concatenate(rows) if rows else unit[:0]
        return through, [ids[row] for row in kept] + [item for item, _ in live], matrix

    def swap(self, snapshot: Snapshot, through: int) -> Snapshot | None:
        """Install `snapshot` (reflecting changes up to `through`); returns the one it replaced.

        An updatable snapshot first takes every later change (replayed outside the lock, in
        rounds until none is left), so its delta starts empty."""
        replayed = through
        while True:
            with self._lock:
                later = {k: v for k, (seq, v) in self._delta.items() if seq > replayed}
                if not snapshot.index.accepts_updates or not later:
                    old, self._snapshot = self._snapshot, snapshot
                    self._delta = {k: v for k, v in self._delta.items()
                                   if v[0] > through and not snapshot.index.accepts_updates}
                    self._building = False
                    self._view = None
                    return old
                replayed = self._seq
            snapshot.index.update(later)

    def vector(self, item: Hashable) -> FloatArray | None:
        """The unit vector answered for `item`: its delta entry, else the snapshot's (None if
        removed or unknown)."""
        with self._lock:
            snapshot, entry = self._snapshot, self._delta.get(item)
        if entry is not None:
            return entry[1]
        return None if snapshot is None else snapshot.index.vector(item)

    def search(self, query: FloatArray, n: int) -> list[tuple[Any, float]]:
        """Up to n (id, cosine score) pairs, best first, from the snapshot merged with the delta."""
        with self._lock:
            snapshot, view = self._snapshot, self._view_locked()
        unit_query = normalize(np.asarray(query, dtype=np.float32))
        ids: list[Any] = []
        scores: list[np.ndarray] = []
        if snapshot is not None:
            found, found_scores = self._snapshot_top(snapshot.index, unit_query, n, view.changed)
            if not view.ids:  # nothing to merge (always so for an updatable index): as found
                return list(zip(found, found_scores.tolist(), strict=True))
            ids.extend(found)
            scores.append(found_scores)
        if view.ids:  # a partial sort: a delta grows to tens of thousands between rebuilds
            top, top_scores = cosine_top_k(unit_query, view.unit, n)
            ids.extend(view.ids[i] for i in top)
            scores.append(top_scores)
        if not ids:
            return []
        merged = np.concatenate(scores)
        order = np.argsort(-merged, kind="stable")[:n]
        return list(zip([ids[i] for i in order], merged[order].tolist(), strict=True))

    @staticmethod
    def _snapshot_top(index: VectorIndex, unit_query: FloatArray, n: int,
                      changed: frozenset[Any]) -> tuple[list[Any], np.ndarray]:
        """The snapshot's n best ids not overridden by the delta, asking for more while some
        were dropped (changed ids rarely rank, so one round is the common case)."""
        if not changed:
            return index.search(unit_query, n)
        want = n + min(len(changed), n)
        while True:
            found, scores = index.search(unit_query, want)
            keep = [i for i, item in enumerate(found) if item not in changed]
            if len(keep) >= n or len(found) < want or want >= n + len(changed):
                keep = keep[:n]
                return [found[i] for i in keep], scores[keep]
            want = min(n + len(changed), 2 * want)

    def _view_locked(self) -> _DeltaView:
        if _takes_updates(self._snapshot):
            return _EMPTY_VIEW  # the index itself holds every change
        if self._view is None:
            live = [(k, v) for k, (_, v) in self._delta.items() if v is not None]
            unit = np.stack([v for _, v in live]) if live else _EMPTY_VIEW.unit
            self._view = _DeltaView([k for k, _ in live], unit, frozenset(self._delta))
        return self._view


def _takes_updates(snapshot: Snapshot | None) -> bool:
    return snapshot is not None and snapshot.index.accepts_updates
