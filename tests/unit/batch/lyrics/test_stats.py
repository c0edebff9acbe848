"""Correlation statistics on planted data: found where planted, not found where not, honest intervals."""

from __future__ import annotations

import numpy as np
import pytest

from batch.lyrics.stats import conclusion, correlation, fmt, strength
from playlist2vec.errors import InvalidInput


def _planted(rho: float, n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Bivariate normal pairs with correlation `rho`, squashed monotonically into (0, 2) like distances."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(n)
    y = rho * x + np.sqrt(1 - rho**2) * rng.standard_normal(n)
    return 2 / (1 + np.exp(-x)), 2 / (1 + np.exp(-y))


def test_planted_correlation_is_found() -> None:
    c = correlation(*_planted(0.6, 5_000, seed=1))
    assert c.meaningful
    assert c.spearman_ci[0] <= c.spearman <= c.spearman_ci[1]
    assert c.pearson_ci[0] <= c.pearson <= c.pearson_ci[1]
    assert c.spearman_ci[0] > 0.5 and c.spearman_ci[1] < 0.7
    assert 0.5 < c.pearson < 0.7
    sentence = conclusion(c)
    assert sentence.startswith("A strong positive correlation") and "5000 song pairs" in sentence


def test_planted_negative_correlation_is_found() -> None:
    c = correlation(*_planted(-0.25, 5_000, seed=2))
    assert c.meaningful and c.spearman_ci[1] < -0.1
    assert conclusion(c).startswith("A weak negative correlation")


@pytest.mark.parametrize("seed", range(5))
def test_no_correlation_where_none_was_planted(seed: int) -> None:
    c = correlation(*_planted(0.0, 5_000, seed=seed))
    assert not c.meaningful and abs(c.spearman) < 0.05
    assert conclusion(c).startswith("No meaningful correlation")


def test_interval_covers_the_planted_value_at_about_its_level() -> None:
    intervals = [correlation(*_planted(0.3, 300, seed)).pearson_ci for seed in range(200)]
    covered = [low <= 0.3 <= high for low, high in intervals]
    # the logistic squash lowers Pearson a little, so allow for some under-coverage
    assert 0.85 <= np.mean(covered) <= 1.0


def test_significant_but_tiny_correlation_is_not_meaningful() -> None:
    c = correlation(*_planted(0.05, 200_000, seed=3))
    assert c.spearman_ci[0] > 0 and not c.meaningful


def test_no_negative_zero_in_print() -> None:
    assert fmt(-0.001) == "0.00" and fmt(-0.006) == "-0.01" and fmt(0.125) in ("0.12", "0.13")


def test_strength_words() -> None:
    assert [strength(r) for r in (0.05, -0.2, 0.4, -0.8)] == ["negligible", "weak", "moderate", "strong"]


@pytest.mark.parametrize("x, y", [(np.ones(20), np.arange(20.0)), (np.arange(5.0), np.arange(5.0)),
                                  (np.arange(20.0), np.arange(19.0))])
def test_undefined_inputs_are_refused(x: np.ndarray, y: np.ndarray) -> None:
    with pytest.raises(InvalidInput):
        correlation(x, y)
