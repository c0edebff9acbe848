"""Pure parts of the playlist map: PCA, k-means, keyword groups (no database, no drawing)."""

from __future__ import annotations

import numpy as np
import pytest

from batch.plot import OTHER, keyword_groups, kmeans, pca_2d
from playlist2vec.errors import InvalidInput


def test_pca_recovers_the_two_planted_axes_in_order_of_variance() -> None:
    rng = np.random.default_rng(1)
    axes, _ = np.linalg.qr(rng.normal(size=(32, 2)))  # two orthonormal directions in 32-D
    wide, narrow = rng.normal(0, 5.0, 500), rng.normal(0, 1.0, 500)
    matrix = 3.0 + np.outer(wide, axes[:, 0]) + np.outer(narrow, axes[:, 1])
    matrix += rng.normal(0, 0.01, matrix.shape)

    coords, explained = pca_2d(matrix)

    assert coords.shape == (500, 2)
    assert abs(np.corrcoef(coords[:, 0], wide)[0, 1]) > 0.999
    assert abs(np.corrcoef(coords[:, 1], narrow)[0, 1]) > 0.99
    assert explained[0] == pytest.approx(25 / 26, abs=0.02)
    assert explained[1] == pytest.approx(1 / 26, abs=0.02)


def test_pca_of_one_dimensional_vectors_draws_them_on_a_line() -> None:
    coords, explained = pca_2d(np.array([[1.0], [2.0], [4.0]]))
    assert coords.shape == (3, 2)
    assert np.all(coords[:, 1] == 0)
    assert explained == (pytest.approx(1.0), 0.0)


def test_kmeans_finds_planted_blobs_and_numbers_them_by_size() -> None:
    rng = np.random.default_rng(2)
    centers = rng.normal(0, 10, size=(3, 16))
    sizes = [50, 30, 10]
    truth = np.repeat([0, 1, 2], sizes)
    matrix = centers[truth] + rng.normal(0, 0.5, size=(sum(sizes), 16))

    labels = kmeans(matrix, 3, seed=0)

    # each planted blob is exactly one cluster, and the largest blob is cluster 0
    for blob in range(3):
        assert len(set(labels[truth == blob].tolist())) == 1
    assert labels[truth == 0][0] == 0 and labels[truth == 2][0] == 2


def test_kmeans_never_asks_for_more_clusters_than_points() -> None:
    labels = kmeans(np.eye(3), 8)
    assert sorted(set(labels.tolist())) == [0, 1, 2]


def test_keyword_groups_take_the_first_matching_word_case_insensitively() -> None:
    names = ["Chill Rock", "rock on", "JAZZ nights", "workout", "", "rocky road", "road trip!"]
    groups, legend = keyword_groups(names, ["chill", " Rock ", "jazz", "road trip"])
    assert legend == ["chill", "rock", "jazz", "road trip", OTHER]
    assert [legend[g] for g in groups] == ["chill", "rock", "jazz", OTHER, OTHER, OTHER, "road trip"]


def test_keyword_colouring_without_a_keyword_is_bad_input() -> None:
    with pytest.raises(InvalidInput, match="--keyword"):
        keyword_groups(["a"], [" "])
