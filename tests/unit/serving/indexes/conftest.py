"""Synthetic data with known answers, shared by the index strategy tests."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest

from playlist2vec.vectors import cosine_top_k, normalize
from serving import indexes, synthetic
from serving.indexes import IndexParams

Planted = Callable[..., tuple[list[str], np.ndarray, np.ndarray]]


def _planted(n: int = 2000, dim: int = 16, seed: int = 0) -> tuple[list[str], np.ndarray, np.ndarray]:
    """Random items plus queries that are tiny perturbations of items 0..9 (their known answers)."""
    rng = np.random.default_rng(seed)
    matrix = rng.standard_normal((n, dim)).astype(np.float32)
    queries = matrix[:10] + rng.normal(0, 1e-3, (10, dim)).astype(np.float32)
    return [f"item{i}" for i in range(n)], matrix, queries


@pytest.fixture
def planted() -> Planted:
    return _planted


def _default_recall(name: str) -> dict[int, float]:
    """Mean recall@10 and @500 of `name` with default parameters against an exact scan, on
    100k embedding-like (clustered) items."""
    data = synthetic.vectors(100_000 + 30, 32, "clustered")
    matrix, queries = data[:100_000], data[100_000:]
    index = indexes.create(name, IndexParams())
    index.build(list(range(100_000)), matrix)
    unit = normalize(matrix)
    recalls: dict[int, list[float]] = {10: [], 500: []}
    for query in queries:
        truth = cosine_top_k(query, unit, 500)[0].tolist()
        for k, found in recalls.items():
            found.append(len(set(truth[:k]) & set(index.search(query, k)[0])) / k)
    return {k: float(np.mean(found)) for k, found in recalls.items()}


@pytest.fixture
def default_recall() -> Callable[[str], dict[int, float]]:
    return _default_recall
