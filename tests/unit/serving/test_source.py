"""Which vector a playlist_vectors document contributes to a model's index."""

from __future__ import annotations

import numpy as np
import pytest

from playlist2vec import vectors
from serving.source import playlist_vector

VECTOR = vectors.encode([1.0, 2.0, 3.0], vectors.GENERIC_SUBTYPE)


def test_a_live_doc_of_the_model_gives_its_vector() -> None:
    doc = {"_id": {"m": "m1", "p": 1}, "vector": VECTOR}
    np.testing.assert_array_equal(playlist_vector(doc, "m1"), [1.0, 2.0, 3.0])


@pytest.mark.parametrize("doc", [
    None,
    {"_id": {"m": "m1", "p": 1}, "n_known": 0},
    {"_id": {"m": "m1", "p": 1}, "vector": VECTOR, "deleted": True},
])
def test_missing_vectorless_and_deleted_docs_remove_the_playlist(doc: dict | None) -> None:
    assert playlist_vector(doc, "m1") is None


def test_another_models_doc_is_not_ours_to_apply() -> None:
    with pytest.raises(LookupError):
        playlist_vector({"_id": {"m": "m2", "p": 1}, "vector": VECTOR}, "m1")
