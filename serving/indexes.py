"""Vector index strategies behind one interface: Annoy (default), exact numpy scan, HNSW.

Every strategy scores by cosine similarity, keeps its own item ids, and saves to files
without pickle: the index payload plus a JSON sidecar (`<prefix>.meta.json`) with the ids.
Strategies that `accepts_updates` (HNSW) also take changed, new and removed items in place;
the others are immutable snapshots that serving pairs with a delta and rebuilds.
"""

from __future__ import annotations

import json
from abc import ABC, abstractmethod
from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from playlist2vec.errors import ConfigError
from playlist2vec.vectors import FloatArray, angular_to_cosine, cosine_top_k, normalize
from serving.rwlock import ReadWriteLock


@dataclass(frozen=True)
class IndexParams:
    """Tuning knobs; each strategy reads the ones it has. `-1` means "derived from n"."""

    trees: int = 10
    search_k: int = -1
    hnsw_m: int = 16
    hnsw_ef_construction: int = 64
    hnsw_ef: int = -1


ANNOY_SEARCH_K_PER_RESULT = 200
ANNOY_MIN_SEARCH_K = 10_000
"""Auto search_k = max(200 x n, 10,000) nodes. Annoy's own default (trees x n) gives recall
0.7-0.8 at k=10 and 0.6-0.9 at k=500 on embedding-like data; this gives 0.9-0.98 at k=10 and
>= 0.95 at k=500 on 100k items. With a fixed node budget fewer trees search deeper, so 10
trees beat 50 in recall as well as in build time and size (measured; see the serving README)."""


class VectorIndex(ABC):
    """Build once over (ids, matrix), then answer (ids, cosine scores) best first."""

    strategy: ClassVar[str]
    suffix: ClassVar[str]
    accepts_updates: ClassVar[bool] = False

    def __init__(self, params: IndexParams | None = None) -> None:
        self.params = params or IndexParams()
        self.ids: list[Any] = []
        self.dim = 0
        self._row_of: dict[Any, int] | None = None

    def __len__(self) -> int:
        return len(self.ids)

    def rows(self) -> dict[Any, int]:
        """Row of each item, built on first use (only id lookups need it, not searches)."""
        if self._row_of is None:
            self._row_of = {item: row for row, item in enumerate(self.ids)}
        return self._row_of

    def vector(self, item: Hashable) -> FloatArray | None:
        """The unit vector indexed for `item`, None if the index does not hold it."""
        row = self.rows().get(item)
        return None if row is None else self._vector(row)

    def items(self) -> tuple[list[Any], FloatArray]:
        """Every item held and its unit vector, in row order (what a rebuild from memory
        starts from)."""
        held = [(item, self._vector(row)) for item, row in self.rows().items()]
        kept = [(item, unit) for item, unit in held if unit is not None]
        return [item for item, _ in kept], _stack([unit for _, unit in kept], self.dim)

    def update(self, changes: Mapping[Hashable, FloatArray | None]) -> None:
        """Apply unit vectors (None: remove the item) in place; only where `accepts_updates`."""
        raise NotImplementedError(f"{self.strategy} indexes are rebuilt, not updated")

    def build(self, ids: Sequence[Hashable], matrix: FloatArray) -> None:
        matrix = np.asarray(matrix, dtype=np.float32)
        if matrix.ndim != 2 or matrix.shape[0] != len(ids):
            raise ValueError(f"matrix shape {matrix.shape} does not match {len(ids)} ids")
        self.ids = list(ids)
        self.dim = int(matrix.shape[1])
        if self.ids:
            self._build(normalize(matrix))

    def search(self, query: FloatArray, n: int) -> tuple[list[Any], np.ndarray]:
        """Up to n (ids, cosine scores), best first."""
        n = min(n, len(self))
        if n <= 0:
            return [], np.empty(0, dtype=np.float32)
        rows, scores = self._search(normalize(np.asarray(query, dtype=np.float32)), n)
        return list(map(self.ids.__getitem__, rows)), scores

    def save(self, prefix: Path) -> list[Path]:
        """Write `<prefix><suffix>` and `<prefix>.meta.json`; returns the files written."""
        meta = Path(f"{prefix}.meta.json")
        payload = Path(f"{prefix}{self.suffix}")
        if self.ids:
            self._save(payload)
        meta.write_text(json.dumps({"strategy": self.strategy, "dim": self.dim,
                                    "ids": self._saved_ids()}))
        return [payload, meta] if self.ids else [meta]

    def _saved_ids(self) -> list[Any]:
        return self.ids

    def load(self, prefix: Path) -> None:
        meta = json.loads(Path(f"{prefix}.meta.json").read_text())
        if meta["strategy"] != self.strategy:
            raise ConfigError(f"{prefix} holds a {meta['strategy']} index, not {self.strategy}")
        self.ids, self.dim = meta["ids"], meta["dim"]
        self._row_of = None
        if self.ids:
            self._load(Path(f"{prefix}{self.suffix}"))

    @abstractmethod
    def _build(self, unit: FloatArray) -> None: ...

    @abstractmethod
    def _vector(self, row: int) -> FloatArray | None: ...

    @abstractmethod
    def _search(self, unit_query: FloatArray, n: int) -> tuple[Sequence[int], np.ndarray]: ...

    @abstractmethod
    def _save(self, path: Path) -> None: ...

    @abstractmethod
    def _load(self, path: Path) -> None: ...


class ExactIndex(VectorIndex):
    """Brute-force cosine scan in numpy: exact, no build, competitive below a few 100k items."""

    strategy = "exact"
    suffix = ".npy"

    def _build(self, unit: FloatArray) -> None:
        self._unit = unit

    def _search(self, unit_query: FloatArray, n: int) -> tuple[Sequence[int], np.ndarray]:
        rows, scores = cosine_top_k(unit_query, self._unit, n)
        return rows.tolist(), scores

    def _vector(self, row: int) -> FloatArray:
        return np.asarray(self._unit[row], dtype=np.float32)

    def items(self) -> tuple[list[Any], FloatArray]:
        if not self.ids:
            return [], _stack([], self.dim)
        return list(self.ids), np.asarray(self._unit, dtype=np.float32)

    def _save(self, path: Path) -> None:
        np.save(path, self._unit, allow_pickle=False)

    def _load(self, path: Path) -> None:
        self._unit = np.load(path, mmap_mode="r", allow_pickle=False)


class AnnoyIndex(VectorIndex):
    """Annoy (angular) random-projection forest; saved files are memory-mapped, never rewritten.

    A replaced file is only unlinked (safe while mapped on POSIX); the mapping goes when the
    last query holding the old index drops it.
    """

    strategy = "annoy"
    suffix = ".annoy"

    def _build(self, unit: FloatArray) -> None:
        from annoy import AnnoyIndex as Annoy

        self._annoy = Annoy(self.dim, "angular")
        for row, vector in enumerate(unit):
            self._annoy.add_item(row, vector)
        self._annoy.build(self.params.trees, n_jobs=-1)

    def _search(self, unit_query: FloatArray, n: int) -> tuple[Sequence[int], np.ndarray]:
        search_k = self.params.search_k
        if search_k < 0:
            search_k = max(ANNOY_SEARCH_K_PER_RESULT * n, ANNOY_MIN_SEARCH_K)
        rows, distances = self._annoy.get_nns_by_vector(
            unit_query.tolist(), n, search_k=search_k, include_distances=True)
        return rows, angular_to_cosine(np.asarray(distances, dtype=np.float32))

    def _vector(self, row: int) -> FloatArray:
        return np.asarray(self._annoy.get_item_vector(row), dtype=np.float32)

    def _save(self, path: Path) -> None:
        # Annoy's save writes the file, unloads the in-memory forest and mmaps the file.
        self._annoy.save(str(path))

    def _load(self, path: Path) -> None:
        from annoy import AnnoyIndex as Annoy

        self._annoy = Annoy(self.dim, "angular")
        self._annoy.load(str(path))


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


STRATEGIES: dict[str, type[VectorIndex]] = {
    cls.strategy: cls for cls in (AnnoyIndex, ExactIndex, HnswIndex)
}


AUTO = "auto"
AUTO_HNSW_FROM = 200_000
"""`auto` picks, per index and per build, an exact scan below this many items (k=500 in
about 1 ms per 100k items, recall 1, no graph to build) and hnsw from it (sub-linear, takes
updates); see the serving README for the measurements."""


def resolve(strategy: str, items: int) -> str:
    """The concrete strategy for an index of `items` items (only `auto` depends on it)."""
    if strategy != AUTO:
        return strategy
    return HnswIndex.strategy if items >= AUTO_HNSW_FROM else ExactIndex.strategy


def check(strategy: str) -> str:
    """`strategy` if it names a strategy (or `auto`), else ConfigError."""
    if strategy != AUTO and strategy not in STRATEGIES:
        raise ConfigError(f"unknown index strategy {strategy!r}, expected one of "
                          f"{sorted([*STRATEGIES, AUTO])}")
    return strategy


def create(strategy: str, params: IndexParams | None = None) -> VectorIndex:
    """A new empty index of the named strategy, or ConfigError."""
    return STRATEGIES[check(resolve(strategy, 0))](params)


def _stack(units: Sequence[FloatArray], dim: int) -> FloatArray:
    """Rows as one float32 matrix, (0, dim) when there are none."""
    return np.stack(units).astype(np.float32, copy=False) if units else np.empty((0, dim), np.float32)
