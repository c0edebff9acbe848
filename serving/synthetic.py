"""Synthetic vectors for benchmarks and tests: embedding-like clusters or plain Gaussian noise."""

from __future__ import annotations

import numpy as np

DISTRIBUTIONS = ("clustered", "gaussian")


def vectors(n: int, dim: int = 32, distribution: str = "clustered", seed: int = 0) -> np.ndarray:
    """An (n, dim) float32 matrix.

    `clustered` is a Gaussian mixture shaped like Word2Vec output: many clusters of uneven
    (Zipf) sizes, centres spread wider than the clusters themselves, per-point norms that
    vary. `gaussian` is isotropic noise, the worst case for tree and graph indexes.
    """
    rng = np.random.default_rng(seed)
    if distribution == "gaussian":
        return rng.standard_normal((n, dim), dtype=np.float32)
    if distribution != "clustered":
        raise ValueError(f"unknown distribution {distribution!r}, expected one of {DISTRIBUTIONS}")
    n_clusters = max(1, int(np.sqrt(n)))
    weights = 1.0 / np.arange(1, n_clusters + 1)
    labels = rng.choice(n_clusters, size=n, p=weights / weights.sum())
    # trained embeddings have a decaying spectrum: a few directions carry most variance
    spectrum = (1.0 / np.sqrt(np.arange(1, dim + 1))).astype(np.float32)
    centres = rng.standard_normal((n_clusters, dim), dtype=np.float32) * spectrum
    spread = rng.uniform(0.2, 0.4, size=(n_clusters, 1)).astype(np.float32)
    noise = rng.standard_normal((n, dim), dtype=np.float32) * spectrum
    points: np.ndarray = centres[labels] + spread[labels] * noise
    points *= rng.lognormal(0.0, 0.3, size=(n, 1)).astype(np.float32)
    return points.astype(np.float32)
