"""The hnsw strategy: recall with the default parameters, and hnswlib as an optional extra."""

from __future__ import annotations

import sys
from collections.abc import Callable

import pytest

from playlist2vec.errors import ConfigError
from serving import indexes
from tests.unit.serving.indexes.conftest import Planted


@pytest.mark.slow
def test_default_recall_at_10_and_500_on_100k_embedding_like_items(
        default_recall: Callable[[str], dict[int, float]]) -> None:
    recall = default_recall("hnsw")
    assert recall[500] >= 0.95
    assert recall[10] >= 0.85


def test_hnsw_without_hnswlib_is_a_clear_config_error(planted: Planted,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "hnswlib", None)  # makes `import hnswlib` fail
    ids, matrix, _ = planted(10, 4)
    with pytest.raises(ConfigError, match=r"playlist2vec\[hnsw\]"):
        indexes.create("hnsw").build(ids, matrix)
