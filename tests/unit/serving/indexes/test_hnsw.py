"""The hnsw strategy: hnswlib as an optional extra (its default recall at 100k items:
tests/integration/serving/test_index_recall.py)."""

from __future__ import annotations

import sys

import pytest

from playlist2vec.errors import ConfigError
from serving import indexes
from tests.unit.serving.indexes.conftest import Planted


def test_hnsw_without_hnswlib_is_a_clear_config_error(planted: Planted,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "hnswlib", None)  # makes `import hnswlib` fail
    ids, matrix, _ = planted(10, 4)
    with pytest.raises(ConfigError, match=r"playlist2vec\[hnsw\]"):
        indexes.create("hnsw").build(ids, matrix)
