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


def test_a_penalty_demotes_items_and_the_search_asks_for_more_to_stay_exact() -> None:
    rng = np.random.default_rng(2)
    items = [f"t{i}" for i in range(200)]
    matrix = vectors.normalize(rng.normal(size=(200, 8)).astype(np.float32))
    search = recommend.exact_search(items, matrix)
    penalised = set(items[::2])

    def penalty(item: str) -> float:
        return 0.3 if item in penalised else 0.0

    query = matrix[0] + matrix[1]
    out = recommend.recommend(query, [], search, k=20, penalty=penalty)
    scores = matrix @ vectors.normalize(query)
    expected = sorted(items, key=lambda t: -(scores[items.index(t)] - penalty(t)))[:20]
    assert [s.item for s in out] == expected
    assert all(abs(s.score - (scores[items.index(s.item)] - penalty(s.item))) < 1e-5 for s in out)


def test_seed_query_is_none_without_known_tracks() -> None:
    assert recommend.seed_query(["x"], {}) is None


def test_recommend_returns_fewer_when_catalogue_is_small() -> None:
    matrix = vectors.normalize(np.eye(2, dtype=np.float32))
    out = recommend.recommend(np.array([1.0, 0.0]), ["a"], recommend.exact_search(["a", "b"], matrix), k=10)
    assert [s.item for s in out] == ["b"]


def _cosine(a: np.ndarray, b: np.ndarray) -> float:
    return float(a @ b / np.linalg.norm(a) / np.linalg.norm(b))


def test_explanations_split_the_score_exactly_over_the_seeds() -> None:
    rng = np.random.default_rng(3)
    table = {f"t{i}": rng.normal(size=16).astype(np.float32) for i in range(40)}
    seeds = ["t0", "t1", "t2", "t1", "t3", "t4", "unknown"]  # t1 twice counts twice
    items = [f"t{i}" for i in range(5, 40)]
    query = recommend.seed_query(seeds, table)
    assert query is not None
    explained = recommend.explain(seeds, table, items, top=3)
    assert len(explained) == len(items)
    for item, explanation in zip(items, explained, strict=True):
        score = _cosine(query.astype(np.float64), table[item].astype(np.float64))
        parts = [part for _, part in explanation.parts]
        assert abs(sum(parts) + explanation.rest - score) < 1e-6
        assert parts == sorted(parts, reverse=True) and len(parts) == 3
        assert explanation.known == 5
        # each part is the seed's own share: its dot with the item over |sum of seed vectors|
        total = sum(table[s].astype(np.float64) for s in seeds if s in table)
        unit = table[item] / np.linalg.norm(table[item].astype(np.float64))
        expected = {s: (seeds.count(s) * table[s].astype(np.float64) @ unit) / np.linalg.norm(total)
                    for s in set(seeds) - {"unknown"}}
        for seed, part in explanation.parts:
            assert abs(part - expected[seed]) < 1e-9
        assert explanation.parts[0][0] == max(expected, key=expected.__getitem__)


def test_explanation_of_a_query_that_matches_the_score_the_search_gives() -> None:
    items = ["a", "b", "c", "d"]
    raw = np.array([[1, 0], [3, 0.5], [0, 2], [0.7, 0.7]], np.float32)
    table = dict(zip(items, raw, strict=True))
    query = recommend.seed_query(["a", "c", "c"], table)
    assert query is not None
    found = recommend.recommend(query, ["a", "c"], recommend.exact_search(items, vectors.normalize(raw)), 2)
    explained = recommend.explain(["a", "c", "c"], table, [s.item for s in found], top=5)
    for scored, explanation in zip(found, explained, strict=True):
        assert [seed for seed, _ in explanation.parts] in (["a", "c"], ["c", "a"])  # top capped at 2
        assert explanation.rest == 0.0
        assert abs(sum(p for _, p in explanation.parts) - scored.score) < 1e-5


def test_explanation_without_known_seeds_is_empty() -> None:
    (explanation,) = recommend.explain(["x"], {"a": np.ones(2, np.float32)}, ["a"], top=3)
    assert explanation == recommend.Explanation([], 0.0, 0)


def test_recommend_asks_for_more_until_k_items_are_kept() -> None:
    items = [f"i{n}" for n in range(50)]
    matrix = vectors.normalize(np.stack([np.array([1.0, n / 100], np.float32) for n in range(50)]))
    asked: list[int] = []
    search = recommend.exact_search(items, matrix)

    def counting(query: np.ndarray, n: int):  # type: ignore[no-untyped-def]
        asked.append(n)
        return search(query, n)

    odd = recommend.recommend(np.array([1.0, 0.0]), ["i0"], counting, k=10,
                              keep=lambda item: int(item[1:]) % 2 == 1)
    assert [s.item for s in odd] == [f"i{n}" for n in range(1, 20, 2)]
    assert asked == [11, 22]  # the best 11 held only 5 odd items: asked again, twice as many
    everything = recommend.recommend(np.array([1.0, 0.0]), [], search, k=100, keep=lambda _: True)
    assert len(everything) == 50  # the catalogue ran out: no endless asking
