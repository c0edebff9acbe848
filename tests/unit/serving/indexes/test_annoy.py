"""The annoy strategy: recall with the default parameters (the search_k floor)."""

from __future__ import annotations

from collections.abc import Callable

import pytest


@pytest.mark.slow
def test_default_recall_at_10_and_500_on_100k_embedding_like_items(
        default_recall: Callable[[str], dict[int, float]]) -> None:
    recall = default_recall("annoy")
    assert recall[500] >= 0.95
    assert recall[10] >= 0.85  # 0.7 without the search_k floor
