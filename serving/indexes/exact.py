"""The exact strategy: a brute-force cosine scan in numpy."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from playlist2vec.vectors import FloatArray, cosine_top_k
from serving.indexes.contract import VectorIndex, stack


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
            return [], stack([], self.dim)
        return list(self.ids), np.asarray(self._unit, dtype=np.float32)

    def _save(self, path: Path) -> None:
        np.save(path, self._unit, allow_pickle=False)

    def _load(self, path: Path) -> None:
        self._unit = np.load(path, mmap_mode="r", allow_pickle=False)
