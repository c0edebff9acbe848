"""The index strategies' default parameters at a realistic size: recall@10 and @500 against an
exact scan on 100k embedding-like (clustered) items. No service, but ~30 s of index builds and
scans, so not in the unit tier; 100k is the size the defaults were chosen at (Annoy's search_k
floor decides recall@10 there, and a smaller index is searched almost whole)."""

from __future__ import annotations

import numpy as np
import pytest

from playlist2vec.vectors import cosine_top_k, normalize
from serving import indexes, synthetic
from serving.indexes import IndexParams

pytestmark = pytest.mark.slow
ITEMS, QUERIES = 100_000, 30


def default_recall(name: str) -> dict[int, float]:
    """Mean recall@10 and @500 of strategy `name` with default parameters."""
    data = synthetic.vectors(ITEMS + QUERIES, 32, "clustered")
    matrix, queries = data[:ITEMS], data[ITEMS:]
    index = indexes.create(name, IndexParams())
    index.build(list(range(ITEMS)), matrix)
    unit = normalize(matrix)
    recalls: dict[int, list[float]] = {10: [], 500: []}
    for query in queries:
        truth = cosine_top_k(query, unit, 500)[0].tolist()
        for k, found in recalls.items():
            found.append(len(set(truth[:k]) & set(index.search(query, k)[0])) / k)
    return {k: float(np.mean(found)) for k, found in recalls.items()}


def test_annoy_default_recall_at_10_and_500_on_100k_embedding_like_items() -> None:
    recall = default_recall("annoy")
    assert recall[500] >= 0.95
    assert recall[10] >= 0.85  # 0.7 without the search_k floor


def test_hnsw_default_recall_at_10_and_500_on_100k_embedding_like_items() -> None:
    recall = default_recall("hnsw")
    assert recall[500] >= 0.95
    assert recall[10] >= 0.85
