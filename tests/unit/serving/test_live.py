"""Snapshot + delta merging, tombstones and pruning on swap, with the exact strategy as snapshot."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

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


def test_an_item_changed_many_times_answers_only_its_latest_vector() -> None:
    live = live_over({"a": axis(0), "b": axis(1)})
    for i in (2, 3, 0, 2):
        live.apply({"a": axis(i)})
    assert live.delta_size() == 1
    assert ids(live.search(axis(2), 3)).count("a") == 1 and ids(live.search(axis(2), 1)) == ["a"]
    assert "a" not in ids(live.search(axis(0), 1)) and "a" not in ids(live.search(axis(3), 1))
    np.testing.assert_allclose(live.vector("a"), normalize(axis(2)), atol=1e-6)


def test_a_removal_hides_the_snapshot_item_until_it_changes_again() -> None:
    live = live_over({"a": axis(0), "b": axis(1)})
    live.apply({"a": axis(2)})
    live.apply({"a": None})
    assert "a" not in ids(live.search(axis(0), 2)) + ids(live.search(axis(2), 2))
    assert live.vector("a") is None and live.delta_size() == 1
    live.apply({"a": axis(3)})
    assert ids(live.search(axis(3), 1)) == ["a"]


def test_removals_before_any_vector_then_vectors() -> None:
    live = LiveIndex("test")
    live.apply({"a": None})
    assert live.search(axis(0), 3) == [] and live.vector("a") is None
    live.apply({"b": axis(1), "a": axis(0)})
    assert ids(live.search(axis(0), 2)) == ["a", "b"]


class ChangingMidQuery(indexes.ExactIndex):
    """An exact index that runs `during` once, inside its next search: as if the follower
    applied changes after a query took its view of the delta but before it scanned it."""

    during: Callable[[], None] | None = None

    def search(self, query: np.ndarray, n: int) -> tuple[list[Any], np.ndarray]:
        during, self.during = self.during, None
        if during is not None:
            during()
        return super().search(query, n)


def test_a_query_answers_as_of_its_view_while_changes_and_growth_follow() -> None:
    index = ChangingMidQuery()
    index.build(["a", "b", "c"], np.stack([axis(0), axis(1), axis(2)]))
    live = LiveIndex("test")
    live.swap(Snapshot(index), live.mark())
    live.apply({"d": axis(0) + axis(1), "c": axis(0, scale=0.5) + axis(2), "e": axis(0)})
    live.apply({"e": None})
    before = live.search(axis(0), 6)
    assert ids(before) == ["a", "d", "c", "b"]

    def follower() -> None:  # replaces, removes, adds, brings back; grows the rows
        live.apply({"d": None, "b": axis(0), "new": axis(0), "e": axis(0)})
        for start in range(0, 3000, 500):
            live.apply({f"far{i}": axis(3) for i in range(start, start + 500)})
        live.apply({"c": axis(0)})

    index.during = follower
    assert live.search(axis(0), 6) == before
    assert sorted(ids(live.search(axis(0), 5))) == ["a", "b", "c", "e", "new"]
    assert live.delta_size() == 3005


def test_swap_keeps_the_latest_of_later_changes_and_prunes_reflected_ones() -> None:
    live = live_over({"a": axis(0), "b": axis(1)})
    live.apply({"a": axis(2), "b": None, "c": axis(3)})
    through = live.mark()
    live.apply({"a": axis(3), "d": axis(1)})  # after the rebuild read: must survive the swap
    live.apply({"d": None})
    rebuilt = indexes.create("exact")
    rebuilt.build(["a", "c"], np.stack([axis(2), axis(3)]))
    live.swap(Snapshot(rebuilt), through)
    assert live.delta_size() == 2  # a and d; b and c are in the new snapshot
    np.testing.assert_allclose(live.vector("a"), normalize(axis(3)), atol=1e-6)
    assert live.vector("d") is None and live.vector("b") is None
    assert sorted(ids(live.search(axis(3), 3))) == ["a", "c"]
    assert ids(live.search(axis(2), 1)) != ["a"]


def test_random_changes_and_swaps_answer_as_a_dict_of_current_vectors() -> None:
    """Applies, freezes, marks and swaps in a seeded random order, each answer checked against
    the plain model: one dict of every item's current vector."""
    rng = np.random.default_rng(7)
    dim, universe = 8, [f"i{i}" for i in range(300)]
    truth: dict[str, np.ndarray] = {item: rng.normal(size=dim).astype(np.float32) for item in universe[:100]}
    changed_at: dict[str, int] = {}  # the step of each item's last change
    live = LiveIndex("test")
    index = indexes.create("exact")
    index.build(list(truth), np.stack(list(truth.values())))
    live.swap(Snapshot(index), live.mark())
    pending: tuple[int, int, list[str], np.ndarray] | None = None  # a rebuild under way
    for step in range(1, 120):
        action = rng.random()
        if action < 0.75:
            batch = rng.choice(universe, size=int(rng.integers(1, 300)), replace=False)
            changes = {str(item): None if rng.random() < 0.2 else rng.normal(size=dim).astype(np.float32)
                       for item in batch}
            live.apply(changes)
            for item, vector in changes.items():
                if vector is None:
                    truth.pop(item, None)
                else:
                    truth[item] = vector
                changed_at[item] = step
        elif pending is None:
            if rng.random() < 0.5:
                through, found, matrix = live.freeze()
            else:
                through = live.mark()
                found = list(truth)
                matrix = np.stack(list(truth.values())) if truth else np.empty((0, dim), np.float32)
            pending = (step, through, found, matrix)
        else:
            marked, through, found, matrix = pending
            rebuilt = indexes.create("exact")
            rebuilt.build(found, matrix)
            live.swap(Snapshot(rebuilt), through)
            changed_at = {item: at for item, at in changed_at.items() if at > marked}
            pending = None
        assert live.delta_size() == len(changed_at)
        for item in rng.choice(universe, size=20, replace=False):
            expected = truth.get(str(item))
            got = live.vector(str(item))
            assert (got is None) == (expected is None)
            if expected is not None:
                np.testing.assert_allclose(got, normalize(expected), atol=1e-5)
        query = rng.normal(size=dim).astype(np.float32)
        scores = {item: float(normalize(vector) @ normalize(query)) for item, vector in truth.items()}
        best = sorted(scores, key=scores.__getitem__, reverse=True)[:10]
        found_now = live.search(query, 10)
        assert ids(found_now) == best
        np.testing.assert_allclose([s for _, s in found_now], [scores[i] for i in best], atol=1e-5)
