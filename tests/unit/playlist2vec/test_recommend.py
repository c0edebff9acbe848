from __future__ import annotations

import numpy as np

from playlist2vec import recommend, vectors


def test_recommend_excludes_seeds_and_sorts() -> None:
    items = ["a", "b", "c", "d"]
    matrix = vectors.normalize(np.array([[1, 0], [0.9, 0.1], [0, 1], [0.7, 0.7]], np.float32))
    table = dict(zip(items, matrix, strict=True))
    query = recommend.seed_query(["a", "unknown"], table)
    assert query is not None
    out = recommend.recommend(query, ["a"], recommend.exact_search(items, matrix), k=2)
    assert [s.item for s in out] == ["b", "d"]
    assert out[0].score >= out[1].score


def test_seed_query_is_none_without_known_tracks() -> None:
    assert recommend.seed_query(["x"], {}) is None


def test_recommend_returns_fewer_when_catalogue_is_small() -> None:
    matrix = vectors.normalize(np.eye(2, dtype=np.float32))
    out = recommend.recommend(np.array([1.0, 0.0]), ["a"], recommend.exact_search(["a", "b"], matrix), k=10)
    assert [s.item for s in out] == ["b"]
