"""Pair sampling, pair distances and the hexbin plot file."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from batch.lyrics.correlate import pair_distances, sample_pairs
from batch.lyrics.plot import hexbin
from batch.lyrics.stats import correlation


def test_pairs_are_of_two_different_items_and_cover_all_items() -> None:
    pairs = sample_pairs(4, 10_000, np.random.default_rng(0))
    assert pairs.shape == (10_000, 2) and (pairs[:, 0] != pairs[:, 1]).all()
    assert pairs.min() == 0 and pairs.max() == 3
    counts = np.bincount(pairs[:, 1], minlength=4) / 10_000
    assert np.allclose(counts, 0.25, atol=0.03)  # uniform second element despite the skip


def test_cosine_distances() -> None:
    matrix = np.array([[1.0, 0.0], [0.0, 3.0], [-2.0, 0.0], [1.0, 1.0]], dtype=np.float32)
    pairs = np.array([[0, 1], [0, 2], [0, 3], [3, 3]])
    np.testing.assert_allclose(pair_distances(matrix, pairs), [1.0, 2.0, 1 - np.sqrt(0.5), 0.0], atol=1e-6)


def test_hexbin_writes_a_small_png(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    x, y = rng.uniform(0, 2, 2_000), rng.uniform(0, 2, 2_000)
    out = hexbin(x, y, correlation(x, y), tmp_path / "sub" / "plot.png")
    data = out.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and 5_000 < len(data) < 200_000
