from __future__ import annotations

import numpy as np
import pytest
from bson import BSON
from hypothesis import given
from hypothesis import strategies as st

from playlist2vec import vectors
from playlist2vec.errors import InvalidInput

finite = st.floats(allow_nan=False, allow_infinity=False, width=32)


@given(st.lists(finite, min_size=1, max_size=64), st.sampled_from([0, 9]))
def test_codec_round_trips_through_bson(values: list[float], subtype: int) -> None:
    encoded = vectors.encode(values, subtype)
    assert encoded.subtype == subtype
    raw = BSON.encode({"v": encoded})
    decoded = vectors.decode(BSON(raw).decode()["v"])
    np.testing.assert_array_equal(decoded, np.asarray(values, dtype=np.float32))


@given(st.lists(finite, min_size=1, max_size=64))
def test_encode_writes_pymongos_float32_vector_layout(values: list[float]) -> None:
    from bson.binary import Binary, BinaryVectorDtype

    assert vectors.encode(values) == Binary.from_vector(
        np.asarray(values, np.float32).tolist(), BinaryVectorDtype.FLOAT32)


@pytest.mark.parametrize("bad", [[], [[1.0, 2.0]], [1.0, float("nan")], [float("inf")]])
def test_encode_rejects_bad_vectors(bad: list) -> None:
    with pytest.raises(InvalidInput):
        vectors.encode(bad)


def test_validate_checks_dimension() -> None:
    with pytest.raises(InvalidInput, match="dimension 2, expected 3"):
        vectors.validate([1.0, 2.0], dim=3)


def test_decode_rejects_non_float32_payload() -> None:
    with pytest.raises(InvalidInput):
        vectors.decode(b"\x03\x00abcd")


def test_mean_vector_counts_known_occurrences() -> None:
    table = {"a": np.array([1.0, 0.0], np.float32), "b": np.array([0.0, 3.0], np.float32)}
    mean, known = vectors.mean_vector(["a", "b", "a", "zz"], table)
    assert known == 3
    np.testing.assert_allclose(mean, [2 / 3, 1.0], rtol=1e-6)
    assert vectors.mean_vector(["zz"], table) == (None, 0)


UNIVERSE = [f"t{i}" for i in range(12)]  # t10, t11 unknown to the index below


@given(playlists=st.lists(st.lists(st.sampled_from(UNIVERSE), max_size=8), max_size=40),
       chunk=st.integers(min_value=1, max_value=50))
def test_track_index_means_equal_mean_vector_exactly(playlists: list[list[str]], chunk: int) -> None:
    matrix = np.random.default_rng(1).normal(size=(10, 5)).astype(np.float32)
    index = vectors.TrackIndex.of(UNIVERSE[:10], matrix)
    lookup = dict(zip(UNIVERSE[:10], matrix, strict=True))
    means, known = index.means(playlists, chunk=chunk)
    for tracks, mean, n_known in zip(playlists, means, known, strict=True):
        expected, expected_known = vectors.mean_vector(tracks, lookup)
        assert n_known == expected_known
        if expected is None:
            assert mean is None
        else:
            assert mean is not None and mean.dtype == np.float32
            np.testing.assert_array_equal(mean, expected)


def test_cosine_top_k_orders_and_excludes() -> None:
    rng = np.random.default_rng(0)
    matrix = vectors.normalize(rng.normal(size=(200, 8)).astype(np.float32))
    query = matrix[17] + 0.01
    idx, scores = vectors.cosine_top_k(query, matrix, 5)
    assert idx[0] == 17
    assert np.all(np.diff(scores) <= 0)
    idx2, _ = vectors.cosine_top_k(query, matrix, 5, exclude=[17])
    assert 17 not in idx2 and len(idx2) == 5
    brute = np.argsort(-(matrix @ vectors.normalize(query)))
    assert list(idx2) == [i for i in brute if i != 17][:5]


def test_cosine_top_k_takes_an_index_array_as_exclude() -> None:
    matrix = vectors.normalize(np.eye(4, dtype=np.float32) + 0.1)
    idx, _ = vectors.cosine_top_k(matrix[0], matrix, 4, exclude=np.array([0, 2]))
    assert sorted(idx) == [1, 3]


def test_cosine_top_k_caps_k_at_available_rows() -> None:
    matrix = vectors.normalize(np.eye(3, dtype=np.float32))
    idx, _ = vectors.cosine_top_k(np.ones(3), matrix, 10, exclude=[0])
    assert sorted(idx) == [1, 2]


def test_normalize_keeps_zero_rows() -> None:
    out = vectors.normalize(np.array([[3.0, 4.0], [0.0, 0.0]]))
    np.testing.assert_allclose(out, [[0.6, 0.8], [0.0, 0.0]])


def test_angular_distance_maps_back_to_cosine() -> None:
    a, b = vectors.normalize(np.array([[1.0, 0.0], [1.0, 1.0]]))
    distance = np.sqrt(2 - 2 * float(a @ b))
    assert vectors.angular_to_cosine(distance) == pytest.approx(float(a @ b), abs=1e-6)
