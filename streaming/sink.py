"""The MongoDB writes of one partition's share of a micro-batch, run on the executor.

Order: tombstones (`playlists`, then every model's `playlist_vectors` where the deletion
applied), then the snapshots' conditional `playlists` replaces, then the applied snapshots'
vectors per model and their track metadata. Which writes were stale comes from their outcome
(DuplicateKey = `documents.STALE`), not from a pre-read. Every write is idempotent, so a
re-run batch ends in the same state. A write that fails for any other reason is retried by
`store.bulk_write`, then raised: the batch fails and is re-run from its offsets after a
restart, so nothing is skipped.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from pymongo import MongoClient
from pymongo.database import Database

from playlist2vec import documents, store
from streaming import fold, partition
from streaming.partition import Latest, Model

STALE_OK = frozenset({documents.STALE})

_CLIENTS: dict[str, MongoClient[dict[str, Any]]] = {}


def client(uri: str) -> MongoClient[dict[str, Any]]:
    """One client per executor process and URI, reused by every task and batch it runs (a Python
    worker outlives its tasks); each executor of a cluster opens its own."""
    if uri not in _CLIENTS:
        _CLIENTS[uri] = store.connect(uri, appname="playlist2vec-stream")
    return _CLIENTS[uri]


def _stale_pids(db: Database[dict[str, Any]], states: Sequence[Latest], ops: Sequence[Any]) -> set[int]:
    """Run `ops` (one per state) on `playlists`; the pids whose write was stale."""
    rejected: list[int] = []
    store.bulk_write(db[store.PLAYLISTS], ops, tolerate=STALE_OK, rejected=rejected)
    return {states[i].pid for i in rejected}


def write(db: Database[dict[str, Any]], latest: Mapping[int, Latest], models: Sequence[Model],
          topic: str, subtype: int, n_invalid: int, min_support: int) -> dict[str, int]:
    """Write what the partition's events leave per pid; the event counts by result, plus
    `unknown` (track occurrences the active model has no vector for, trained or provisional)
    and `provisional` (provisional vectors the active model's fold-in wrote)."""
    now = datetime.now(UTC)
    deletions = partition.tombstones(latest.values())
    stale_deletions = _stale_pids(db, deletions, partition.tombstone_writes(deletions, topic, now))
    deleted = [s for s in deletions if s.pid not in stale_deletions]
    store.bulk_write(db[store.PLAYLIST_VECTORS], partition.tombstone_vector_writes(
        deleted, models, topic, now), tolerate=STALE_OK)
    states = partition.snapshots(latest.values())
    stale = _stale_pids(db, states, partition.snapshot_writes(states, topic, now))
    won = [s for s in states if s.pid not in stale]
    # fold-in after `playlists` (it follows what won there), before the means that use it
    provisional: dict[str, dict[str, Any]] = {}
    written = 0
    if min_support > 0:  # 0: fold-in is off, nothing of it is computed, read or written
        targets = partition.fold_targets(deleted, won, topic)
        for i, model in enumerate(models):
            provisional[model.version], n = fold.fold(db, model.version, model.index, targets,
                                                      min_support, subtype)
            written += n if i == 0 else 0
    applied = partition.applied_writes(won, models, topic, now, subtype, provisional)
    store.bulk_write(db[store.TRACKS], applied.tracks)
    # a model's vector can be newer than the playlist (e.g. written by a derive pass): stale too
    store.bulk_write(db[store.PLAYLIST_VECTORS], applied.playlist_vectors, tolerate=STALE_OK)
    counts = partition.outcomes(latest.values(), stale_deletions, stale, n_invalid)
    return counts | {"unknown": applied.unknown_tracks, "provisional": written}
