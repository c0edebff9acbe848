"""The shared contract (`serving/indexes/contract.py`), every strategy: synthetic data with a
known nearest neighbour."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from playlist2vec.errors import ConfigError
from playlist2vec.vectors import normalize
from serving import indexes
from tests.unit.serving.indexes.conftest import Planted

STRATEGIES = sorted(indexes.STRATEGIES)


@pytest.fixture(params=STRATEGIES)
def strategy(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def test_finds_the_planted_neighbour_first_with_cosine_scores(planted: Planted, strategy: str) -> None:
    ids, matrix, queries = planted()
    index = indexes.create(strategy)
    index.build(ids, matrix)
    for i, query in enumerate(queries):
        found, scores = index.search(query, 10)
        assert found[0] == f"item{i}"
        assert scores[0] == pytest.approx(1.0, abs=1e-3)
        assert list(scores) == sorted(scores, reverse=True)
        exact = float(normalize(query) @ normalize(matrix[ids.index(found[3])]))
        assert scores[3] == pytest.approx(exact, abs=1e-3)


def test_save_and_load_round_trip_without_pickle(planted: Planted, strategy: str, tmp_path: Path) -> None:
    ids, matrix, queries = planted(500)
    index = indexes.create(strategy)
    index.build(ids, matrix)
    before = index.search(queries[0], 5)
    files = index.save(tmp_path / "idx")
    assert all(f.exists() for f in files) and any(f.name.endswith(".meta.json") for f in files)

    loaded = indexes.create(strategy)
    loaded.load(tmp_path / "idx")
    after = loaded.search(queries[0], 5)
    assert after[0] == before[0]
    np.testing.assert_allclose(after[1], before[1], atol=1e-5)
    assert len(loaded) == 500


def test_empty_index_and_n_larger_than_the_index(planted: Planted, strategy: str, tmp_path: Path) -> None:
    empty = indexes.create(strategy)
    empty.build([], np.empty((0, 4), dtype=np.float32))
    assert empty.search(np.ones(4, dtype=np.float32), 3)[0] == []
    empty.save(tmp_path / "empty")

    ids, matrix, queries = planted(20, 4)
    small = indexes.create(strategy)
    small.build(ids, matrix)
    assert sorted(small.search(queries[0], 50)[0]) == sorted(ids)


def test_loading_another_strategys_files_is_a_config_error(planted: Planted, tmp_path: Path) -> None:
    ids, matrix, _ = planted(50, 4)
    index = indexes.create("exact")
    index.build(ids, matrix)
    index.save(tmp_path / "x")
    with pytest.raises(ConfigError, match="exact"):
        indexes.create("annoy").load(tmp_path / "x")


def test_vector_returns_the_indexed_unit_vector(planted: Planted, strategy: str) -> None:
    ids, matrix, _ = planted(200, 8)
    index = indexes.create(strategy)
    index.build(ids, matrix)
    np.testing.assert_allclose(index.vector("item7"), normalize(matrix[7]), atol=1e-5)
    assert index.vector("nope") is None


def test_items_are_every_indexed_unit_vector_whether_built_or_loaded(
        planted: Planted, strategy: str, tmp_path: Path) -> None:
    ids, matrix, _ = planted(300, 8)
    built = indexes.create(strategy)
    built.build(ids, matrix)
    built.save(tmp_path / "idx")
    loaded = indexes.create(strategy)
    loaded.load(tmp_path / "idx")
    for index in (built, loaded):
        items, units = index.items()
        assert items == ids
        np.testing.assert_allclose(units, normalize(matrix), atol=1e-5)


UPDATABLE = [name for name, cls in sorted(indexes.STRATEGIES.items()) if cls.accepts_updates]


@pytest.mark.parametrize("name", UPDATABLE)
def test_updates_change_add_and_remove_items_in_place(planted: Planted, name: str, tmp_path: Path) -> None:
    ids, matrix, queries = planted(300, 8)
    index = indexes.create(name)
    index.build(ids, matrix)
    index.update({"item0": matrix[1], "item2": None, "fresh": matrix[3] * 2})
    assert len(index) == 300
    found, scores = index.search(queries[3], 3)
    assert set(found[:2]) == {"item3", "fresh"} and scores[1] == pytest.approx(1.0, abs=1e-2)
    assert "item2" not in index.search(queries[2], 300)[0]
    assert set(index.search(queries[1], 2)[0]) == {"item1", "item0"}  # item0 now = item1
    assert index.vector("item2") is None
    np.testing.assert_allclose(index.vector("item0"), normalize(matrix[1]), atol=1e-5)

    index.update({"item2": matrix[2]})  # a removed item comes back
    assert index.search(queries[2], 1)[0] == ["item2"]
    index.save(tmp_path / "idx")
    loaded = indexes.create(name)
    loaded.load(tmp_path / "idx")
    assert len(loaded) == 301
    assert loaded.search(queries[2], 1)[0] == ["item2"]
    assert loaded.search(queries[0], 301)[0].count("item2") == 1


@pytest.mark.parametrize("name", UPDATABLE)
def test_updates_grow_past_the_built_capacity_and_reuse_removed_slots(planted: Planted, name: str) -> None:
    ids, matrix, queries = planted(100, 8)
    index = indexes.create(name)
    index.build(ids, matrix)
    index.update({item: None for item in ids[50:]})
    rng = np.random.default_rng(3)
    index.update({f"new{i}": rng.standard_normal(8).astype(np.float32) for i in range(200)})
    index.update({"last": matrix[60]})
    assert len(index) == 50 + 200 + 1
    assert index.search(matrix[60], 1)[0] == ["last"]
    assert index.search(queries[4], 1)[0] == ["item4"]


@pytest.mark.parametrize("name", UPDATABLE)
def test_an_empty_updatable_index_takes_its_first_items(name: str) -> None:
    index = indexes.create(name)
    index.build([], np.empty((0, 4), dtype=np.float32))
    index.update({"a": np.array([1, 0, 0, 0], dtype=np.float32),
                  "b": np.array([0, 1, 0, 0], dtype=np.float32)})
    assert index.search(np.array([0.1, 1, 0, 0], dtype=np.float32), 5)[0] == ["b", "a"]


def test_snapshot_strategies_refuse_updates(planted: Planted) -> None:
    ids, matrix, _ = planted(10, 4)
    for name, cls in indexes.STRATEGIES.items():
        if not cls.accepts_updates:
            index = indexes.create(name)
            index.build(ids, matrix)
            with pytest.raises(NotImplementedError):
                index.update({"x": matrix[0]})
