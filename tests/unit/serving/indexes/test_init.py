"""The strategy registry: names, `auto`, and unknown names."""

from __future__ import annotations

import pytest

from playlist2vec.errors import ConfigError
from serving import indexes


def test_unknown_strategy_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="unknown index strategy"):
        indexes.create("faiss")


def test_auto_is_exact_below_the_threshold_and_hnsw_from_it() -> None:
    assert indexes.resolve("auto", indexes.AUTO_HNSW_FROM - 1) == "exact"
    assert indexes.resolve("auto", indexes.AUTO_HNSW_FROM) == "hnsw"
    assert indexes.resolve("annoy", 10**9) == "annoy"
    assert indexes.check("auto") == "auto"
    with pytest.raises(ConfigError, match="'auto'"):
        indexes.check("faiss")
