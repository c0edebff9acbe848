"""Correlation of two distance samples: Pearson and Spearman with confidence intervals, in one sentence."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy import stats

from playlist2vec.errors import InvalidInput

NEGLIGIBLE = 0.1  # |rho| below this is not a meaningful association, however many pairs support it


@dataclass(frozen=True)
class Correlation:
    n: int
    confidence: float
    pearson: float
    pearson_ci: tuple[float, float]
    spearman: float
    spearman_ci: tuple[float, float]

    @property
    def meaningful(self) -> bool:
        low, high = self.spearman_ci
        return abs(self.spearman) >= NEGLIGIBLE and not low <= 0.0 <= high


def _fisher_ci(r: float, se: float, confidence: float) -> tuple[float, float]:
    z = math.atanh(min(max(r, -0.999999), 0.999999))
    q = stats.norm.ppf(0.5 + confidence / 2)
    return math.tanh(z - q * se), math.tanh(z + q * se)


def correlation(x: np.ndarray, y: np.ndarray, confidence: float = 0.95) -> Correlation:
    """Pearson (Fisher z interval) and Spearman (Fisher z with the Bonett-Wright standard error)."""
    x, y = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    if x.shape != y.shape or x.ndim != 1 or x.size < 10:
        raise InvalidInput(f"need two equally long samples of at least 10 values, "
                           f"got shapes {x.shape} and {y.shape}")
    if np.ptp(x) == 0 or np.ptp(y) == 0:
        raise InvalidInput("a sample is constant: correlation is undefined")
    n = x.size
    pearson = float(stats.pearsonr(x, y).statistic)
    spearman = float(stats.spearmanr(x, y).statistic)
    return Correlation(
        n=n, confidence=confidence,
        pearson=pearson, pearson_ci=_fisher_ci(pearson, 1 / math.sqrt(n - 3), confidence),
        spearman=spearman,
        spearman_ci=_fisher_ci(spearman, math.sqrt((1 + spearman**2 / 2) / (n - 3)), confidence),
    )


def strength(r: float) -> str:
    size = abs(r)
    if size < NEGLIGIBLE:
        return "negligible"
    return "weak" if size < 0.3 else "moderate" if size < 0.5 else "strong"


def fmt(r: float) -> str:
    """Two decimals, without the "-0.00" that a tiny negative value would print."""
    return f"{round(r, 2) + 0.0:.2f}"


def conclusion(c: Correlation) -> str:
    """One sentence: is there a meaningful correlation, with the numbers that say so."""
    numbers = (f"Spearman {fmt(c.spearman)}, {c.confidence:.0%} CI [{fmt(c.spearman_ci[0])}, "
               f"{fmt(c.spearman_ci[1])}]; Pearson {fmt(c.pearson)}, CI [{fmt(c.pearson_ci[0])}, "
               f"{fmt(c.pearson_ci[1])}]; {c.n} song pairs")
    if not c.meaningful:
        return (f"No meaningful correlation between song-embedding and lyric-embedding distances "
                f"({numbers}): playlists do not group songs by lyrical theme.")
    direction = "positive" if c.spearman > 0 else "negative"
    reading = ("songs that share playlists tend to have similar lyrics" if c.spearman > 0
               else "songs that share playlists tend to have dissimilar lyrics")
    return f"A {strength(c.spearman)} {direction} correlation ({numbers}): {reading}."
