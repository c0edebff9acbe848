"""Helpers of the model-switch tests: stream-like writes, stage hooks, snapshots of one model."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

import numpy as np

from batch.train import Stages
from playlist2vec import documents, store, vectors
from playlist2vec.settings import Settings


def stream_write(db: Any, settings: Settings, rows: Sequence[Mapping[str, Any]]) -> None:
    """Write playlist events as the stream does: `playlists`, then a vector for every model
    that writers keep current (`store.write_models`: the active one and any ready one)."""
    now = datetime.now(UTC)
    stale_ok = frozenset({documents.STALE})
    store.bulk_write(db[store.PLAYLISTS], [documents.playlist_write(r, now) for r in rows],
                     tolerate=stale_ok)
    for model in store.write_models(db):
        uris, matrix = store.load_track_vectors(db, model["_id"])
        lookup = dict(zip(uris, matrix, strict=True))
        ops = []
        for row in rows:
            tracks = [] if row.get("deleted") else list(row["tracks"])
            mean, known = vectors.mean_vector(tracks, lookup)
            ops.append(documents.playlist_vector_write(
                {**row, "vector": mean, "n_tracks": len(tracks), "n_known": known},
                model["_id"], now, "stream", settings.vector_subtype))
        store.bulk_write(db[store.PLAYLIST_VECTORS], ops, tolerate=stale_ok)


class Hooked(Stages):
    """Stages that run a callback when a named stage starts, and can fail a stage on purpose:
    after its work is done (so the failing model has written what it writes), or before it
    for `activate` (after it the switch has happened)."""

    def __init__(self, on_start: Mapping[str, Callable[[], None]] | None = None,
                 fail: str | None = None) -> None:
        super().__init__(lambda _: None)
        self.on_start = dict(on_start or {})
        self.fail = fail

    @contextmanager
    def __call__(self, name: str) -> Iterator[None]:
        with super().__call__(name):
            if name in self.on_start:
                self.on_start[name]()
            if name == self.fail == "activate":
                raise RuntimeError(f"injected failure before {name}")
            yield
            if name == self.fail:
                raise RuntimeError(f"injected failure after {name}")


def model_docs(db: Any, version: str) -> dict[str, dict[Any, Any]]:
    """Every track and playlist vector document of `version` (without `updated_at`), by key."""
    out: dict[str, dict[Any, Any]] = {}
    for collection, key in ((store.TRACK_VECTORS, "t"), (store.PLAYLIST_VECTORS, "p")):
        out[collection] = {d["_id"][key]: {k: v for k, v in d.items() if k != "updated_at"}
                           for d in db[collection].find({"_id.m": version})}
    return out


def assert_vectors_from_current_playlists(db: Any, version: str) -> int:
    """Every live playlist has a `version` vector: the mean of `version`'s track vectors of its
    current tracks, at its current `modified_at`; deleted ones have none. Returns how many."""
    uris, matrix = store.load_track_vectors(db, version)
    lookup = dict(zip(uris, matrix, strict=True))
    docs = {d["_id"]["p"]: d for d in db[store.PLAYLIST_VECTORS].find({"_id.m": version})}
    live = 0
    for playlist in db[store.PLAYLISTS].find():
        pid, doc = playlist["_id"], docs.get(playlist["_id"])
        if playlist.get("deleted"):
            assert doc is None or (doc.get("deleted") and "vector" not in doc), pid
            continue
        live += 1
        assert doc is not None, f"playlist {pid} has no {version} vector"
        assert doc["modified_at"] == playlist["modified_at"], pid
        mean, known = vectors.mean_vector(playlist["tracks"], lookup)
        assert doc["n_known"] == known, pid
        if mean is None:
            assert "vector" not in doc, pid
        else:
            np.testing.assert_allclose(vectors.decode(doc["vector"]), mean, atol=1e-5,
                                       err_msg=f"playlist {pid}")
    return live
