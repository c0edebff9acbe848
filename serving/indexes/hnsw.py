"""The hnsw strategy: an hnswlib graph that takes updates in place (optional extra `hnsw`)."""

from __future__ import annotations

from collections.abc import Hashable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from playlist2vec.errors import ConfigError
from playlist2vec.vectors import FloatArray
from serving.indexes.contract import IndexParams, VectorIndex
from serving.rwlock import ReadWriteLock

HNSW_EF_PER_RESULT = 1.0
HNSW_MIN_EF = 64
"""Auto ef = max(HNSW_EF_PER_RESULT x n, 64); hnswlib itself never searches with ef < n."""

HNSW_UPDATE_CHUNK = 4
"""Items applied per exclusive hold of the graph: a query waits at most one chunk (at 1M
items an update takes ~1 ms, an insert ~0.3 ms)."""

HNSW_GROWTH = 1.25


class HnswIndex(VectorIndex):
    """hnswlib graph (optional extra `hnsw`): the fastest at large k and large n; takes updates.

    Labels are rows of `ids` and are never reused: a changed item keeps its label (hnswlib
    updates the point in place), a removed one is marked deleted, and a new or returning item
    gets a fresh label whose point takes a deleted point's slot (`replace_deleted`). hnswlib
    allows concurrent searches but not a search during `add_items`, `mark_deleted` or
    `resize_index`, so searches share a readers-writer lock that updates take exclusively,
    one small chunk at a time.
    """

    strategy = "hnsw"
    suffix = ".hnsw"
    accepts_updates = True

    def __init__(self, params: IndexParams | None = None) -> None:
        super().__init__(params)
        self._guard = ReadWriteLock()
        self._hnsw: Any = None
        self._ef = 0
        self._removed = 0  # labels whose item was removed or moved to a new label
        self._vacant = 0  # deleted slots not yet reused

    def __len__(self) -> int:
        return len(self.ids) - self._removed

    @staticmethod
    def _module() -> Any:
        try:
            import hnswlib
        except ImportError:
            raise ConfigError(
                "index strategy `hnsw` needs hnswlib: pip install 'playlist2vec[hnsw]'") from None
        return hnswlib

    def _new(self, max_elements: int) -> Any:
        graph = self._module().Index(space="cosine", dim=self.dim)
        graph.init_index(max_elements=max_elements, M=self.params.hnsw_m,
                         ef_construction=self.params.hnsw_ef_construction,
                         allow_replace_deleted=True)
        return graph

    def _build(self, unit: FloatArray) -> None:
        self._hnsw = self._new(len(unit))
        self._hnsw.add_items(unit, np.arange(len(unit)), num_threads=-1)
        self.rows()  # now, before an update and a query could race to build it

    def _search(self, unit_query: FloatArray, n: int) -> tuple[Sequence[int], np.ndarray]:
        ef = self.params.hnsw_ef
        if ef <= 0:
            ef = max(int(HNSW_EF_PER_RESULT * n), HNSW_MIN_EF)
        ef = max(ef, n)
        with self._guard.read():
            # ef is one value shared by all queries; racing queries with another n may search
            # with theirs, which costs at most recall: hnswlib never searches below ef = n
            if ef != self._ef:
                self._hnsw.set_ef(ef)
                self._ef = ef
            labels, distances = self._hnsw.knn_query(unit_query, k=n, num_threads=1)
        return labels[0].tolist(), (1.0 - distances[0]).astype(np.float32)

    def _vector(self, row: int) -> FloatArray | None:
        with self._guard.read():
            try:
                return np.asarray(self._hnsw.get_items([row])[0], dtype=np.float32)
            except RuntimeError:  # removed since the caller looked its row up
                return None

    def update(self, changes: Mapping[Hashable, FloatArray | None]) -> None:
        rows = self.rows()
        gone = [rows.pop(item) for item, unit in changes.items() if unit is None and item in rows]
        kept = [(rows[item], unit) for item, unit in changes.items()
                if unit is not None and item in rows]
        fresh = [(item, unit) for item, unit in changes.items()
                 if unit is not None and item not in rows]
        for start in range(0, len(gone), HNSW_UPDATE_CHUNK):
            with self._guard.write():
                for label in gone[start:start + HNSW_UPDATE_CHUNK]:
                    self._hnsw.mark_deleted(label)
        self._removed += len(gone)
        self._vacant += len(gone)
        self._write_points(kept, replace_deleted=False)
        if not fresh:
            return
        self._grow(fresh[0][1].shape[0], len(fresh))
        labels = range(len(self.ids), len(self.ids) + len(fresh))
        # ids before points: a search must find an id for every label it can return
        self.ids.extend(item for item, _ in fresh)
        rows.update(zip((item for item, _ in fresh), labels, strict=True))
        self._write_points(list(zip(labels, (u for _, u in fresh), strict=True)),
                           replace_deleted=True)
        self._vacant -= min(self._vacant, len(fresh))

    def _write_points(self, points: list[tuple[int, FloatArray]], replace_deleted: bool) -> None:
        for start in range(0, len(points), HNSW_UPDATE_CHUNK):
            chunk = points[start:start + HNSW_UPDATE_CHUNK]
            with self._guard.write():
                self._hnsw.add_items(np.stack([u for _, u in chunk]), [r for r, _ in chunk],
                                     num_threads=1, replace_deleted=replace_deleted)

    def _grow(self, dim: int, incoming: int) -> None:
        """Make room for `incoming` new points beyond the deleted slots they can reuse."""
        if self._hnsw is None:  # built empty: hnswlib needs a capacity, so start the graph now
            self.dim = self.dim or dim
            self._hnsw = self._new(incoming)
            return
        needed = self._hnsw.element_count + max(0, incoming - self._vacant)
        if needed > self._hnsw.max_elements:
            with self._guard.write():
                self._hnsw.resize_index(int(needed * HNSW_GROWTH))

    def _saved_ids(self) -> list[Any]:
        # a removed item's label is saved as null, so a load knows which labels are live
        if not self._removed:
            return self.ids
        rows = self.rows()
        return [item if rows.get(item) == label else None for label, item in enumerate(self.ids)]

    def load(self, prefix: Path) -> None:
        super().load(prefix)
        self._removed = self._vacant = sum(item is None for item in self.ids)
        self._row_of = {item: row for row, item in enumerate(self.ids) if item is not None}

    def _save(self, path: Path) -> None:
        with self._guard.read():  # no update may run during the write
            self._hnsw.save_index(str(path))

    def _load(self, path: Path) -> None:
        self._hnsw = self._module().Index(space="cosine", dim=self.dim)
        self._hnsw.load_index(str(path), allow_replace_deleted=True)
        self._ef = 0
