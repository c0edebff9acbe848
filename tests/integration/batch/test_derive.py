"""The derive pass on real Spark and the real MongoDB-wire server: `playlists` in, means out."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from batch import derive
from playlist2vec import spark_vectors, store
from playlist2vec.settings import Settings

pytestmark = [pytest.mark.integration, pytest.mark.spark]


def test_every_live_playlist_is_averaged_and_one_without_known_tracks_has_no_vector(
        spark: Any, settings: Settings, db: Any) -> None:
    db[store.PLAYLISTS].insert_many([
        {"_id": 1, "tracks": ["a", "b", "a"], "modified_at": 10, "deleted": False},
        {"_id": 2, "tracks": ["x", "y"], "modified_at": 20, "deleted": False},  # no known track
        {"_id": 3, "tracks": [], "modified_at": 30, "deleted": False},
        {"_id": 4, "tracks": [], "modified_at": 40, "deleted": True},
        {"_id": 7, "tracks": ["b"], "modified_at": 70, "deleted": False},
    ])
    table = spark_vectors.TrackTable(spark, ["a", "b"], np.array([[1.0, 0.0], [0.0, 2.0]]))
    source = derive.PlaylistSource(settings.mongo_uri.get_secret_value(), settings.mongo_db,
                                   parts=3, batch_size=2)
    try:
        rows = {row["pid"]: row for row in derive.derived_vectors(spark, source, table).collect()}
    finally:
        table.destroy()

    assert sorted(rows) == [1, 2, 3, 7], "deleted playlists are not read"
    assert rows[1]["vector"] == pytest.approx([2 / 3, 2 / 3]), "a track listed twice counts twice"
    assert (rows[1]["n_tracks"], rows[1]["n_known"], rows[1]["modified_at"]) == (3, 3, 10)
    assert rows[2]["vector"] is None and (rows[2]["n_tracks"], rows[2]["n_known"]) == (2, 0)
    assert rows[3]["vector"] is None and rows[3]["n_tracks"] == 0
    assert rows[7]["vector"] == pytest.approx([0.0, 2.0]) and not rows[7]["deleted"]
