"""The contract every vector index strategy implements, and the tuning knobs they share.

Every strategy scores by cosine similarity, keeps its own item ids, and saves to files
without pickle: the index payload plus a JSON sidecar (`<prefix>.meta.json`) with the ids.
Strategies that `accepts_updates` also take changed, new and removed items in place; the
others are immutable snapshots that serving pairs with a delta and rebuilds.
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
from playlist2vec.vectors import FloatArray, normalize


@dataclass(frozen=True)
class IndexParams:
    """Tuning knobs; each strategy reads the ones it has. `-1` means "derived from n"."""

    trees: int = 10
    search_k: int = -1
    hnsw_m: int = 16
    hnsw_ef_construction: int = 64
    hnsw_ef: int = -1


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
        return [item for item, _ in kept], stack([unit for _, unit in kept], self.dim)

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


def stack(units: Sequence[FloatArray], dim: int) -> FloatArray:
    """Rows as one float32 matrix, (0, dim) when there are none."""
    return np.stack(units).astype(np.float32, copy=False) if units else np.empty((0, dim), np.float32)
