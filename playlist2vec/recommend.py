"""Recommendation scoring shared by evaluation (batch) and serving: one code path.

A playlist (or ad-hoc track list) is turned into a query, the mean of its known tracks'
vectors; candidates come from any nearest-neighbour search (exact in evaluation, the index
in serving); seeds are removed and the best k kept, by cosine score.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from playlist2vec.vectors import FloatArray, mean_vector

Search = Callable[[FloatArray, int], Sequence[tuple[str, float]]]
"""A search: (query vector, n) -> up to n (item id, cosine score) pairs, best first."""


@dataclass(frozen=True)
class Scored:
    item: str
    score: float


def seed_query(seeds: Sequence[str], track_vectors: Mapping[str, FloatArray]) -> FloatArray | None:
    """The query vector of a seed list: the playlist mean over known tracks (None if none known)."""
    vector, _ = mean_vector(seeds, track_vectors)
    return vector


def recommend(query: FloatArray, seeds: Sequence[str], search: Search, k: int) -> list[Scored]:
    """The k best items for `query` that are not seeds, best first (ties by item id)."""
    exclude = set(seeds)
    found = search(query, k + len(exclude))
    kept = [Scored(item, float(score)) for item, score in found if item not in exclude]
    kept.sort(key=lambda s: (-s.score, s.item))
    return kept[:k]


def exact_search(items: Sequence[str], unit_matrix: FloatArray) -> Search:
    """Exact cosine search over row-normalised `unit_matrix` whose rows are `items`."""
    from playlist2vec.vectors import cosine_top_k

    def search(query: FloatArray, n: int) -> list[tuple[str, float]]:
        idx, scores = cosine_top_k(np.asarray(query), unit_matrix, n)
        return [(items[i], float(s)) for i, s in zip(idx, scores, strict=True)]

    return search
