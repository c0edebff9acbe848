"""Vector index strategies behind one contract (`contract.py`), one module each: Annoy
(default), exact numpy scan, HNSW; and the registry that picks one by its settings name."""

from __future__ import annotations

from playlist2vec.errors import ConfigError
from serving.indexes.annoy import AnnoyIndex
from serving.indexes.contract import IndexParams, VectorIndex
from serving.indexes.exact import ExactIndex
from serving.indexes.hnsw import HnswIndex

__all__ = ["AUTO", "AUTO_HNSW_FROM", "STRATEGIES", "AnnoyIndex", "ExactIndex", "HnswIndex",
           "IndexParams", "VectorIndex", "check", "create", "resolve"]

STRATEGIES: dict[str, type[VectorIndex]] = {
    cls.strategy: cls for cls in (AnnoyIndex, ExactIndex, HnswIndex)
}


AUTO = "auto"
AUTO_HNSW_FROM = 200_000
"""`auto` picks, per index and per build, an exact scan below this many items (k=500 in
about 1 ms per 100k items, recall 1, no graph to build) and hnsw from it (sub-linear, takes
updates); docs/serving.md, "Index strategies", has the measurements."""


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
