"""Synthetic data with known answers, shared by the index strategy tests."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest

Planted = Callable[..., tuple[list[str], np.ndarray, np.ndarray]]


def _planted(n: int = 2000, dim: int = 16, seed: int = 0) -> tuple[list[str], np.ndarray, np.ndarray]:
    """Random items plus queries that are tiny perturbations of items 0..9 (their known answers)."""
    rng = np.random.default_rng(seed)
    matrix = rng.standard_normal((n, dim)).astype(np.float32)
    queries = matrix[:10] + rng.normal(0, 1e-3, (10, dim)).astype(np.float32)
    return [f"item{i}" for i in range(n)], matrix, queries


@pytest.fixture
def planted() -> Planted:
    return _planted

