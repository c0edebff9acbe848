"""Snapshot + delta merging, tombstones and pruning on swap, with the exact strategy as snapshot."""

from __future__ import annotations

import numpy as np
import pytest

from playlist2vec.vectors import normalize
from serving import indexes
from serving.live import LiveIndex
from serving.snapshot import Snapshot


def axis(i: int, dim: int = 4, scale: float = 1.0) -> np.ndarray:
    vector = np.full(dim, 0.01, dtype=np.float32)
    vector[i] = scale
    return vector


def live_over(items: dict[str, np.ndarray], strategy: str = "exact") -> LiveIndex:
    index = indexes.create(strategy)
    index.build(list(items), np.stack(list(items.values())))
    live = LiveIndex("test")
    live.swap(Snapshot(index), live.mark())
    return live


def ids(found: list[tuple[str, float]]) -> list[str]:
    return [item for item, _ in found]


def test_answers_merge_snapshot_and_delta_sorted_by_score() -> None:
    live = live_over({"a": axis(0), "b": axis(1), "c": axis(0) + axis(1)})
    live.apply({"new": axis(0) + 0.1 * axis(1)})
    found = live.search(axis(0), 3)
    assert ids(found) == ["a", "new", "c"]
    scores = [s for _, s in found]
    assert scores == sorted(scores, reverse=True)


def test_a_changed_item_is_answered_from_its_new_vector_only() -> None:
    live = live_over({"a": axis(0), "b": axis(1)})
    live.apply({"a": axis(2)})
    found = live.search(axis(0), 2)
    assert ids(found).count("a") == 1
    assert dict(found)["a"] < 0.1
    assert ids(live.search(axis(2), 1)) == ["a"]


def test_tombstones_remove_items_even_when_they_rank_first() -> None:
    many = {f"x{i}": axis(1) + i * 0.001 * axis(2) for i in range(20)}
    live = live_over({"a": axis(0), **many})
    live.apply({"a": None})
    assert "a" not in ids(live.search(axis(0), 5))
    assert len(live.search(axis(0), 5)) == 5


def test_many_changed_items_ranking_first_still_yield_n_answers() -> None:
    items = {f"x{i}": axis(0) + i * 0.01 * axis(1) for i in range(30)}
    live = live_over(items)
    live.apply({f"x{i}": None for i in range(25)})
    assert sorted(ids(live.search(axis(0), 10))) == sorted(f"x{i}" for i in range(25, 30))


def test_swap_prunes_only_changes_the_new_snapshot_reflects() -> None:
    live = live_over({"a": axis(0)})
    live.apply({"b": axis(1)})
    through = live.mark()
    live.apply({"c": axis(2)})  # arrives while the rebuild reads the database
    rebuilt = indexes.create("exact")
    rebuilt.build(["a", "b"], np.stack([axis(0), axis(1)]))
    live.swap(Snapshot(rebuilt), through)
    assert live.delta_size() == 1
    assert ids(live.search(axis(2), 1)) == ["c"]


def test_no_snapshot_yet_answers_from_the_delta() -> None:
    live = LiveIndex("test")
    assert live.search(axis(0), 3) == []
    live.apply({"a": axis(0), "b": axis(1)})
    assert ids(live.search(axis(0), 1)) == ["a"]


def hnsw_live(items: dict[str, np.ndarray]) -> LiveIndex:
    return live_over(items, "hnsw")


def test_an_updatable_snapshot_takes_changes_itself_and_keeps_no_delta() -> None:
    live = hnsw_live({"a": axis(0), "b": axis(1), "c": axis(2)})
    snapshot = live.snapshot
    live.apply({"new": axis(0) + 0.1 * axis(1), "b": None, "c": axis(3)})
    assert live.updatable and live.delta_size() == 0 and live.snapshot is snapshot
    assert ids(live.search(axis(0), 2)) == ["a", "new"]
    assert "b" not in ids(live.search(axis(1), 4))
    assert ids(live.search(axis(3), 1)) == ["c"]
    np.testing.assert_allclose(live.vector("c"), axis(3) / np.linalg.norm(axis(3)), atol=1e-5)
    assert live.vector("b") is None


def test_swap_to_an_updatable_snapshot_replays_changes_made_during_its_build() -> None:
    live = hnsw_live({"a": axis(0), "b": axis(1)})
    live.apply({"x": axis(2)})  # before the rebuild reads: in the new snapshot already
    through = live.mark()
    live.apply({"y": axis(3), "a": None})  # while the rebuild reads and builds
    assert ids(live.search(axis(3), 1)) == ["y"], "the old graph keeps answering fresh changes"
    rebuilt = indexes.create("hnsw")
    rebuilt.build(["a", "b", "x"], np.stack([axis(0), axis(1), axis(2)]))
    live.swap(Snapshot(rebuilt), through)
    assert live.snapshot is not None and live.snapshot.index is rebuilt
    assert live.delta_size() == 0
    assert ids(live.search(axis(3), 1)) == ["y"]
    assert "a" not in ids(live.search(axis(0), 3))
    live.apply({"z": axis(0)})  # after the swap: straight into the new graph
    assert live.delta_size() == 0 and ids(live.search(axis(0), 1)) == ["z"]


def test_changes_before_the_first_updatable_snapshot_are_replayed_into_it() -> None:
    live = LiveIndex("test")
    through = live.mark()
    live.apply({"a": axis(0)})
    built = indexes.create("hnsw")
    built.build(["b"], np.stack([axis(1)]))
    live.swap(Snapshot(built), through)
    assert sorted(ids(live.search(axis(0), 5))) == ["a", "b"] and live.delta_size() == 0


def test_vector_prefers_the_delta_over_the_snapshot() -> None:
    live = live_over({"a": axis(0), "b": axis(1)})
    live.apply({"a": axis(2), "b": None})
    np.testing.assert_allclose(live.vector("a"), axis(2) / np.linalg.norm(axis(2)), atol=1e-6)
    assert live.vector("b") is None and live.vector("zzz") is None


@pytest.mark.parametrize("strategy", ["exact", "annoy"])
def test_freeze_is_the_snapshot_with_every_change_applied(strategy: str) -> None:
    live = live_over({"a": axis(0), "b": axis(1), "c": axis(2)}, strategy)
    live.apply({"b": axis(3), "c": None, "d": axis(0) + axis(1)})
    through, found, matrix = live.freeze()
    frozen = dict(zip(found, matrix, strict=True))
    assert sorted(frozen) == ["a", "b", "d"]
    for item, vector in {"a": axis(0), "b": axis(3), "d": axis(0) + axis(1)}.items():
        np.testing.assert_allclose(frozen[item], normalize(vector), atol=1e-6)

    live.apply({"a": None})  # after the freeze: kept for the swap to leave in the delta
    rebuilt = indexes.create(strategy)
    rebuilt.build(found, matrix)
    live.swap(Snapshot(rebuilt), through)
    assert live.delta_size() == 1 and live.vector("a") is None
    assert ids(live.search(axis(3), 1)) == ["b"]


def test_freeze_of_an_empty_index_is_empty() -> None:
    through, found, matrix = LiveIndex("empty").freeze()
    assert (through, found, matrix.shape[0]) == (0, [], 0)
