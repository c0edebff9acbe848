"""Fold-in maths: contributions, deltas that follow edits exactly, the minimum support, and the
means over trained and provisional vectors."""

from __future__ import annotations

import random

import numpy as np
import pytest

from playlist2vec import foldin, vectors
from playlist2vec.foldin import NONE, FoldIn
from playlist2vec.vectors import TrackIndex

KNOWN = ["k0", "k1", "k2", "k3"]


@pytest.fixture
def index() -> TrackIndex:
    return TrackIndex.of(KNOWN, np.arange(8, dtype=np.float32).reshape(4, 2))


def test_a_contribution_is_the_known_tracks_sum_and_count(index: TrackIndex) -> None:
    c = foldin.contribution(["k0", "new", "k1", "k1", "new", "other"], index)
    assert c.tracks == ("new", "other") and c.n == 3  # k1 twice counts twice, new once
    np.testing.assert_array_equal(c.sum, [0 + 2 + 2, 1 + 3 + 3])
    assert foldin.contribution(["new", "other"], index) is NONE  # nothing known to average
    assert foldin.contribution(["k0", "k1"], index) is NONE  # nothing unseen
    assert foldin.contribution([], index) is NONE


def test_deltas_subtract_the_old_and_add_the_new(index: TrackIndex) -> None:
    old = foldin.contribution(["k0", "a", "b"], index)
    new = foldin.contribution(["k1", "b", "c"], index)
    d = foldin.deltas(old, new)
    assert d["a"].support == -1 and d["c"].support == 1 and d["b"].support == 0
    np.testing.assert_array_equal(d["b"].sum, new.sum - old.sum)
    assert d["b"].n == 0
    assert foldin.deltas(old, old) == {}  # an edit that changes nothing folded in
    assert set(foldin.deltas(NONE, new)) == {"b", "c"}


def test_a_batch_of_deltas_sums_per_track_and_drops_what_cancels(index: TrackIndex) -> None:
    a = foldin.contribution(["k0", "a", "b"], index)
    b = foldin.contribution(["k1", "b"], index)
    total = foldin.aggregate([foldin.deltas(NONE, a), foldin.deltas(NONE, b), foldin.deltas(a, NONE)])
    assert set(total) == {"b"}  # a was added and removed again: nothing left to write
    assert (total["b"].support, total["b"].n) == (1, 1)
    np.testing.assert_array_equal(total["b"].sum, b.sum)
    state = foldin.State(np.zeros(2)).plus(total["b"]).plus(foldin.deltas(NONE, a)["b"])
    assert (state.support, state.n) == (2, 2)
    np.testing.assert_array_equal(state.vector(2), (a.sum + b.sum) / 2)
    assert state.vector(3) is None


def test_the_vector_needs_the_minimum_support() -> None:
    assert foldin.provisional_vector(np.array([2.0, 4.0]), 2, 1, 2) is None
    np.testing.assert_array_equal(foldin.provisional_vector(np.array([2.0, 4.0]), 2, 2, 2), [1, 2])
    assert foldin.provisional_vector(np.zeros(2), 0, 3, 2) is None


def test_state_after_random_edits_equals_a_recomputation(index: TrackIndex) -> None:
    """Whatever the order of creations, edits and deletions, the running state is the one a
    recomputation from the live playlists gives."""
    rng = random.Random(4)
    pool = [*KNOWN, "a", "b", "c"]
    fold = FoldIn(index, min_support=2)
    live: dict[int, list[str]] = {}
    for _ in range(300):
        pid = rng.randrange(12)
        if rng.random() < 0.2:
            live.pop(pid, None)
            fold.update(pid, None)
        else:
            live[pid] = [rng.choice(pool) for _ in range(rng.randint(0, 6))]
            fold.update(pid, live[pid])
    expected: dict[str, tuple[np.ndarray, int, int]] = {}
    for tracks in live.values():
        c = foldin.contribution(tracks, index)
        for t in c.tracks:
            total, n, support = expected.get(t, (np.zeros(2), 0, 0))
            expected[t] = (total + c.sum, n + c.n, support + 1)
    assert {t: fold.support(t) for t in "abc"} == {t: expected.get(t, (0, 0, 0))[2] for t in "abc"}
    want = {t: (s / n).astype(np.float32) for t, (s, n, support) in expected.items() if support >= 2}
    got = fold.vectors()
    assert set(got) == set(want)
    for t in want:
        np.testing.assert_allclose(got[t], want[t], rtol=1e-6)


def test_a_mean_counts_provisional_tracks_only_without_trained_ones() -> None:
    trained = {"k0", "k1"}.__contains__
    assert foldin.counted(["new", "k0", "k1", "k0"], trained) == ["k0", "k1", "k0"]
    assert foldin.counted(["new", "gone", "new"], trained) == ["new", "gone", "new"]
    assert foldin.counted([], trained) == []


def test_patched_means_average_provisional_vectors_where_nothing_is_trained(index: TrackIndex) -> None:
    playlists = [["k0", "new", "gone"], ["k1", "k2"], ["new", "gone", "new"], ["gone"], []]
    provisional = {"new": np.array([10.0, 10.0], np.float32)}
    means, known = index.means(playlists)
    foldin.patch_means(playlists, means, known, index, provisional)
    table = {**{u: index.matrix[i] for u, i in index.rows.items()}, **provisional}
    for tracks, mean, n in zip(playlists, means, known, strict=True):
        expected, n_expected = vectors.mean_vector(foldin.counted(tracks, index.rows.__contains__), table)
        assert n == n_expected
        if expected is None:
            assert mean is None
        else:
            np.testing.assert_array_equal(mean, expected)
    np.testing.assert_array_equal(means[0], index.matrix[0])  # "new" beside k0 is left out
    assert known[2] == 2 and known[3] == 0
