"""Lyric vector documents: one per song with a vector, the model recorded, vectors encoded as stored."""

from __future__ import annotations

import numpy as np

from batch.lyrics.train import build_writes
from playlist2vec import vectors
from tests.support.operations import spec


def test_songs_without_known_words_get_no_document() -> None:
    rows = [{"track_uri": "t:1", "vector": [0.5, -1.0], "n_words": 7, "n_known": 5},
            {"track_uri": "t:2", "vector": None, "n_words": 3, "n_known": 0}]
    model = {"version": "lyrics-x", "vector_size": 2}
    ops = list(build_writes(rows, model, subtype=0))
    assert len(ops) == 1 and spec(ops[0]).filter == {"_id": "t:1"} and spec(ops[0]).upsert
    doc = spec(ops[0]).document
    assert doc["model"] == model and (doc["n_words"], doc["n_known"]) == (7, 5)
    np.testing.assert_array_equal(vectors.decode(doc["vector"]), np.array([0.5, -1.0], dtype=np.float32))
    assert doc["vector"].subtype == 0
