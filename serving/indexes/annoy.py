"""The annoy strategy: an Annoy random-projection forest over memory-mapped files."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from playlist2vec.vectors import FloatArray, angular_to_cosine
from serving.indexes.contract import VectorIndex

ANNOY_SEARCH_K_PER_RESULT = 200
ANNOY_MIN_SEARCH_K = 10_000
"""Auto search_k = max(200 x n, 10,000) nodes. Annoy's own default (trees x n) gives recall
0.7-0.8 at k=10 and 0.6-0.9 at k=500 on embedding-like data; this gives 0.9-0.98 at k=10 and
>= 0.95 at k=500 on 100k items. With a fixed node budget fewer trees search deeper, so 10
trees beat 50 in recall as well as in build time and size (measured: docs/serving.md)."""


class AnnoyIndex(VectorIndex):
    """Annoy (angular) random-projection forest; saved files are memory-mapped, never rewritten.

    A replaced file is only unlinked (safe while mapped on POSIX); the mapping goes when the
    last query holding the old index drops it. An index it built keeps the unit matrix it was
    built from (4 bytes per dimension per item, as the exact index holds): a rebuild from
    memory takes it whole instead of reading every item back out of the forest (a Python call
    per item, ~0.3 s per 100k under the GIL the change follower needs).
    """

    strategy = "annoy"
    suffix = ".annoy"
    _unit: FloatArray | None = None

    def items(self) -> tuple[list[Any], FloatArray]:
        if self._unit is None:  # loaded from files
            return super().items()
        return list(self.ids), self._unit

    def _build(self, unit: FloatArray) -> None:
        from annoy import AnnoyIndex as Annoy

        self._unit = unit
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
        if self._unit is not None:
            vector: FloatArray = self._unit[row]
            return vector
        return np.asarray(self._annoy.get_item_vector(row), dtype=np.float32)

    def _save(self, path: Path) -> None:
        # Annoy's save writes the file, unloads the in-memory forest and mmaps the file.
        self._annoy.save(str(path))

    def _load(self, path: Path) -> None:
        from annoy import AnnoyIndex as Annoy

        self._unit = None
        self._annoy = Annoy(self.dim, "angular")
        self._annoy.load(str(path))
