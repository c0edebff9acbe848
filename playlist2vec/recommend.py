"""Recommendation scoring shared by evaluation (batch) and serving: one code path.

A playlist (or ad-hoc track list) is turned into a query, the mean of its known tracks'
vectors; candidates come from any nearest-neighbour search (exact in evaluation, the index
in serving); seeds are removed and the best k kept, by cosine score. `explain` splits each score exactly
into the parts its seed tracks contribute.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from playlist2vec.vectors import FloatArray, mean_vector

Search = Callable[[FloatArray, int], Sequence[tuple[str, float]]]
"""A search: (query vector, n) -> up to n (item id, cosine score) pairs, best first."""


@dataclass(frozen=True)
class Scored:
    item: str
    score: float


@dataclass(frozen=True)
class Explanation:
    """How one recommended item's score splits over the seed tracks: `parts` are the largest
    (seed, part) pairs, largest first, `rest` is the sum of every other seed's part, so
    sum(parts) + rest is the item's cosine score. `known` counts the distinct known seeds."""

    parts: list[tuple[str, float]]
    rest: float
    known: int


def seed_query(seeds: Sequence[str], track_vectors: Mapping[str, FloatArray]) -> FloatArray | None:
    """The query vector of a seed list: the playlist mean over known tracks (None if none known)."""
    vector, _ = mean_vector(seeds, track_vectors)
    return vector


def recommend(query: FloatArray, seeds: Sequence[str], search: Search, k: int,
              keep: Callable[[Any], bool] | None = None,
              penalty: Callable[[Any], float] | None = None) -> list[Scored]:
    """The k best items for `query` that are not seeds (and that `keep` keeps), best first
    (ties by item id). Items `keep` drops are rare: the search asks for more until k remain.
    `penalty(item)` (>= 0) is subtracted from an item's cosine before ranking (provisional
    tracks, see `foldin.PENALTY`); the search asks for more until no item it has not returned
    could still rank among the k."""
    exclude = set(seeds)
    want = k + len(exclude)
    while True:
        found = search(query, want)
        kept = [Scored(item, float(score) - (penalty(item) if penalty else 0.0)) for item, score in found
                if item not in exclude and (keep is None or keep(item))]
        if len(found) < want:
            break
        # an item not returned scores at most the last one returned, penalty or not
        floor = float(found[-1][1]) if penalty is not None and found else float("-inf")
        if (keep is None or len(kept) >= k) and sum(s.score >= floor for s in kept) >= k:
            break
        want *= 2
    kept.sort(key=lambda s: (-s.score, s.item))
    return kept[:k]


def exact_search(items: Sequence[str], unit_matrix: FloatArray) -> Search:
    """Exact cosine search over row-normalised `unit_matrix` whose rows are `items`."""
    from playlist2vec.vectors import cosine_top_k

    def search(query: FloatArray, n: int) -> list[tuple[str, float]]:
        idx, scores = cosine_top_k(np.asarray(query), unit_matrix, n)
        return [(items[i], float(s)) for i, s in zip(idx, scores, strict=True)]

    return search


EXPLAIN_CHUNK = 128
"""Items explained per matrix product: bounds memory at 10,000 seeds x 128 items of float64."""


def explain(seeds: Sequence[str], track_vectors: Mapping[str, FloatArray], items: Sequence[str],
            top: int) -> list[Explanation]:
    """The exact split of each item's cosine score over the seeds (`top` named parts each).

    The query is the mean q = (1/n) sum_i v_i of the n known seed occurrences, so for an item
    of unit vector u, cos(q, u) = q.u / |q| = sum_i (v_i . u) / |sum_j v_j|: the 1/n and the
    query's normalisation are one factor common to every seed, and seed i's part is
    (v_i . u) / |sum_j v_j|. A seed listed twice counts twice (its parts add up), unknown seeds
    contribute nothing, and a part is negative when the seed points away from the item.
    Computed in float64 from the same raw vectors the query averages; the parts sum to the
    exact cosine, which an index's float32 score matches to about 1e-6.
    """
    counts: dict[str, int] = {}
    for seed in seeds:
        if seed in track_vectors:
            counts[seed] = counts.get(seed, 0) + 1
    if not counts:
        return [Explanation([], 0.0, 0) for _ in items]
    names = list(counts)
    weighted = np.asarray([track_vectors[s] for s in names], dtype=np.float64)
    weighted *= np.fromiter(counts.values(), np.float64, len(names))[:, None]
    norm = float(np.linalg.norm(weighted.sum(axis=0)))
    if norm == 0.0:  # the seeds cancel out: the query has no direction, every cosine is 0
        return [Explanation([], 0.0, len(names)) for _ in items]
    top = min(top, len(names))
    out: list[Explanation] = []
    for start in range(0, len(items), EXPLAIN_CHUNK):
        chunk = np.asarray([track_vectors[i] for i in items[start:start + EXPLAIN_CHUNK]],
                           dtype=np.float64)
        lengths = np.linalg.norm(chunk, axis=1, keepdims=True)
        units = np.divide(chunk, lengths, out=np.zeros_like(chunk), where=lengths > 0)
        parts = (units @ weighted.T) / norm  # items x seeds
        totals = parts.sum(axis=1)
        # the `top` largest parts of each item, unordered, then ordered: no full sort per item
        best = np.argpartition(-parts, top - 1, axis=1)[:, :top] if top else np.empty((len(parts), 0), int)
        for row, picks, total in zip(parts, best, totals, strict=True):
            picks = picks[np.argsort(-row[picks], kind="stable")]
            named = [(names[j], float(row[j])) for j in picks]
            out.append(Explanation(named, float(total - row[picks].sum()), len(names)))
    return out
