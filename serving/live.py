"""A live index: a snapshot index plus a delta of changed and removed items.

Snapshot indexes (Annoy above all) cannot change after build, so changes since the snapshot
go to a delta that is scanned exactly; answers merge both, minus items the delta replaced
or removed. Each delta entry remembers the sequence number of its change, so a swap to a
newer snapshot prunes exactly the entries the new snapshot already reflects.

The delta is rows that are only ever appended (`_Rows`): each change, a removal too, adds a
row, and a query's view is the row count when it took the lock; a later change appends past
that count and marks the row it replaces in a way that view ignores. So taking a view costs
nothing and an apply costs its own changes, however large the delta (rebuilding the whole
view after each apply was a tenth of serving's CPU at 3,000 changes/s). Rows that run out of
room are replaced by a copy of each id's current row with room to spare: amortised over the
appends that filled them, and it keeps the replaced rows a query scans past few. A swap makes
the same copy of the entries it keeps.

A snapshot whose index `accepts_updates` (HNSW) takes changes directly instead and needs no
rebuild; the delta then only holds changes made while a replacement is being built (after
`mark`), which the swap replays into the replacement before installing it.
"""

from __future__ import annotations

import itertools
import threading
from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from playlist2vec.vectors import FloatArray, cosine_top_k, normalize
from serving.indexes import VectorIndex
from serving.snapshot import Snapshot

_CURRENT = np.iinfo(np.int64).max
"""`replaced_by` of a row that no later change has replaced."""

_MIN_ROOM = 1024  # rows, the least a new `_Rows` has room for


class _Rows:
    """The delta's changes as rows that only ever get appended: a view of the first n rows
    answers the same while later changes append.

    A row's id, unit vector and sequence number never change once written. `replaced_by[r]`
    is the row of the change that replaced row r (_CURRENT while none has; r itself for a
    removal, which answers nothing), so a view of n rows sees row r iff r < n <= replaced_by[r]:
    a change recorded after the view is at row n or later, so the replacement it writes
    leaves the view's answer as it was. `first` (the first row of each id) answers "had the
    id changed as of the view" the same way; `latest` holds each id's current row. Running
    out of room means a new, larger `_Rows` (`rebuilt`): views keep the one they took."""

    def __init__(self, room: int, dim: int) -> None:
        self.units = np.zeros((room, dim), dtype=np.float32)
        self.seqs = np.zeros(room, dtype=np.int64)  # non-decreasing: rows are appended in order
        self.replaced_by = np.full(room, _CURRENT, dtype=np.int64)
        self.ids: list[Any] = []
        self.first: dict[Any, int] = {}
        self.latest: dict[Any, int] = {}

    @property
    def dim(self) -> int:
        return int(self.units.shape[1])

    def fits(self, count: int, dim: int) -> bool:
        """Whether `count` more rows of dimension `dim` (0: removals only) fit."""
        return len(self.ids) + count <= len(self.seqs) and dim in (0, self.dim)

    def append(self, items: Sequence[Any], units: FloatArray, live: np.ndarray, seq: int) -> None:
        """One row per item, changed by change `seq`: `units` holds the unit vectors of the
        items `live` marks, in order; the others are removed. Only after `fits`."""
        start = len(self.ids)
        rows = np.arange(start, start + len(items))
        replaced: list[int] = []
        by: list[int] = []
        for row, item in enumerate(items, start):
            old = self.latest.get(item)
            if old is None:
                self.first[item] = row
            else:
                replaced.append(old)
                by.append(row)
            self.latest[item] = row
        if len(units):
            self.units[rows[live]] = units
        self.seqs[rows] = seq
        self.replaced_by[rows[~live]] = rows[~live]
        old_rows, new_rows = np.array(replaced, dtype=np.int64), np.array(by, dtype=np.int64)
        still = self.replaced_by[old_rows] == _CURRENT  # a removal stays replaced by itself
        self.replaced_by[old_rows[still]] = new_rows[still]
        self.ids.extend(items)

    def removed(self, rows: np.ndarray) -> np.ndarray:
        """Which of `rows` record removals (whether or not later rows replaced them)."""
        return np.asarray(self.replaced_by[rows] == rows)

    def unit(self, row: int) -> FloatArray | None:
        """The unit vector `row` records, None for a removal."""
        return None if self.replaced_by[row] == row else self.units[row]

    def current_after(self, seq: int) -> dict[Any, FloatArray | None]:
        """The current unit vector (None: removed) of each id changed after change `seq`."""
        size = len(self.ids)
        start = int(np.searchsorted(self.seqs[:size], seq, side="right"))
        # rows in order: an id's current row, its last, overwrites the ones it replaced
        return {self.ids[row]: self.unit(row) for row in range(start, size)}

    def rebuilt(self, after: int, room: int, dim: int) -> _Rows:
        """New rows holding the current row of each id changed after change `after`, with room
        for `room` more rows of dimension `dim` (0: this one's) and as many again as it then
        holds: the next copy comes after at least as many appends as this one copies."""
        current = np.fromiter(self.latest.values(), dtype=np.int64, count=len(self.latest))
        start = np.searchsorted(self.seqs[:len(self.ids)], after, side="right")
        keep = np.sort(current[current >= start])
        fresh = _Rows(max(_MIN_ROOM, 2 * (len(keep) + room)), dim or self.dim)
        if self.dim:  # else every row is a removal, which records no vector
            fresh.units[:len(keep)] = self.units[keep]
        fresh.seqs[:len(keep)] = self.seqs[keep]
        removals = np.flatnonzero(self.removed(keep))
        fresh.replaced_by[removals] = removals
        fresh.ids = [self.ids[row] for row in keep.tolist()]
        fresh.latest = dict(zip(fresh.ids, range(len(keep)), strict=True))
        fresh.first = fresh.latest.copy()
        return fresh


@dataclass(frozen=True)
class _DeltaView:
    """The delta as a query sees it: the first `size` rows of `rows` (none when the snapshot
    takes changes itself), and how many ids they change."""

    rows: _Rows
    size: int
    changed: int

    def replaces(self, item: Any) -> bool:
        """Whether the delta changed or removed `item` as of the view."""
        return self.rows.first.get(item, self.size) < self.size

    def top(self, unit_query: FloatArray, n: int) -> tuple[list[Any], np.ndarray]:
        """The ids and cosine scores of the n best vectors the view answers, best first."""
        size = self.size
        if not self.rows.dim:  # removals only so far: no vector to score
            return [], np.empty(0, dtype=np.float32)
        hidden = np.flatnonzero(self.rows.replaced_by[:size] < size)  # replaced, or removals
        rows, scores = cosine_top_k(unit_query, self.rows.units[:size], n, hidden)
        return [self.rows.ids[row] for row in rows.tolist()], scores


class LiveIndex:
    """Snapshot + delta; queries hold the lock only to read the snapshot and the delta's size."""

    def __init__(self, name: str) -> None:
        self.name = name
        self._lock = threading.Lock()
        self._snapshot: Snapshot | None = None
        self._rows = _Rows(0, 0)
        self._seq = 0
        self._building = False

    @property
    def snapshot(self) -> Snapshot | None:
        return self._snapshot

    def delta_size(self) -> int:
        return len(self._rows.latest)

    @property
    def updatable(self) -> bool:
        """True when changes go straight into the snapshot index (no rebuild needed)."""
        return _takes_updates(self._snapshot)

    def apply(self, changes: Mapping[Hashable, FloatArray | None]) -> None:
        """Record new vectors (or None: removed) for ids; later changes override earlier ones."""
        if not changes:
            return
        items = list(changes)
        live = np.fromiter((vector is not None for vector in changes.values()), dtype=bool,
                           count=len(items))
        vectors = [np.asarray(vector, dtype=np.float32) for vector in changes.values()
                   if vector is not None]
        # one normalisation for the whole poll: thousands of changes a second
        units = normalize(np.stack(vectors)) if vectors else np.empty((0, 0), dtype=np.float32)
        with self._lock:
            self._seq += 1
            snapshot = self._snapshot
            direct = _takes_updates(snapshot)
            if not direct or self._building:  # a replacement being built must replay these
                if not self._rows.fits(len(items), units.shape[1]):  # amortised, see _Rows.rebuilt
                    self._rows = self._rows.rebuilt(0, len(items), units.shape[1])
                self._rows.append(items, units, live, self._seq)
        if direct:
            assert snapshot is not None
            update: dict[Hashable, FloatArray | None] = dict.fromkeys(items)
            update.update(zip(itertools.compress(items, live), units, strict=True))
            # outside the lock: queries keep reading references while the graph takes the
            # update (the index guards itself, as the builder loading a new state's provisional
            # tracks may apply beside the follower; the delta only changes under the lock)
            snapshot.index.update(update)

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
            through, snapshot, rows = self._seq, self._snapshot, self._rows
            delta = rows.latest.copy()
        ids, unit = snapshot.index.items() if snapshot is not None else ([], np.empty((0, 0), np.float32))
        kept = [row for row, item in enumerate(ids) if item not in delta]
        current = np.fromiter(delta.values(), dtype=np.int64, count=len(delta))
        # outside the lock: a row's vector, and whether it is a removal, never change
        live = current[~rows.removed(current)]
        parts = [unit[kept]] if kept else []
        if len(live):
            parts.append(rows.units[live])
        matrix = np.concatenate(parts) if parts else unit[:0]
        return through, [ids[row] for row in kept] + [rows.ids[row] for row in live.tolist()], matrix

    def swap(self, snapshot: Snapshot, through: int) -> Snapshot | None:
        """Install `snapshot` (reflecting changes up to `through`); returns the one it replaced.

        An updatable snapshot first takes every later change (replayed outside the lock, in
        rounds until none is left), so its delta starts empty."""
        updatable = snapshot.index.accepts_updates
        replayed = through
        while True:
            with self._lock:
                later = self._rows.current_after(replayed) if updatable else {}
                if not later:
                    old, self._snapshot = self._snapshot, snapshot
                    # a swap is rare: one copy of the changes it keeps, in fresh rows
                    self._rows = _Rows(0, 0) if updatable else self._rows.rebuilt(through, 0, 0)
                    self._building = False
                    return old
                replayed = self._seq
            snapshot.index.update(later)

    def vector(self, item: Hashable) -> FloatArray | None:
        """The unit vector answered for `item`: its delta entry, else the snapshot's (None if
        removed or unknown)."""
        with self._lock:
            snapshot, rows = self._snapshot, self._rows
            row = rows.latest.get(item)
        if row is not None:  # a row's vector, unlike its id's current row, never changes
            return rows.unit(row)
        return None if snapshot is None else snapshot.index.vector(item)

    def search(self, query: FloatArray, n: int) -> list[tuple[Any, float]]:
        """Up to n (id, cosine score) pairs, best first, from the snapshot merged with the delta."""
        with self._lock:
            snapshot, view = self._snapshot, self._view_locked()
        unit_query = normalize(np.asarray(query, dtype=np.float32))
        ids: list[Any] = []
        scores: list[np.ndarray] = []
        if snapshot is not None:
            found, found_scores = self._snapshot_top(snapshot.index, unit_query, n, view)
            if not view.size:  # nothing to merge (always so for an updatable index): as found
                return list(zip(found, found_scores.tolist(), strict=True))
            ids.extend(found)
            scores.append(found_scores)
        if view.size:  # a partial sort: a delta grows to tens of thousands between rebuilds
            top, top_scores = view.top(unit_query, n)
            ids.extend(top)
            scores.append(top_scores)
        if not ids:
            return []
        merged = np.concatenate(scores)
        order = np.argsort(-merged, kind="stable")[:n]
        return list(zip([ids[i] for i in order], merged[order].tolist(), strict=True))

    @staticmethod
    def _snapshot_top(index: VectorIndex, unit_query: FloatArray, n: int,
                      view: _DeltaView) -> tuple[list[Any], np.ndarray]:
        """The snapshot's n best ids not overridden by the delta, asking for more while some
        were dropped (changed ids rarely rank, so one round is the common case)."""
        if not view.changed:
            return index.search(unit_query, n)
        want = n + min(view.changed, n)
        while True:
            found, scores = index.search(unit_query, want)
            keep = [i for i, item in enumerate(found) if not view.replaces(item)]
            if len(keep) >= n or len(found) < want or want >= n + view.changed:
                keep = keep[:n]
                return [found[i] for i in keep], scores[keep]
            want = min(n + view.changed, 2 * want)

    def _view_locked(self) -> _DeltaView:
        if _takes_updates(self._snapshot):
            return _DeltaView(self._rows, 0, 0)  # the index itself holds every change
        return _DeltaView(self._rows, len(self._rows.ids), len(self._rows.latest))


def _takes_updates(snapshot: Snapshot | None) -> bool:
    return snapshot is not None and snapshot.index.accepts_updates
