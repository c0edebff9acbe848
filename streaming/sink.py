"""The MongoDB writes of one partition's share of a micro-batch, run on the executor.

Order: the `playlists` writes (tombstones, then the snapshots' conditional replaces), then
every model's `playlist_vectors` deletions where a tombstone applied, the applied snapshots'
track metadata (what this worker has not written yet: `streaming.written_meta`) and their
vectors per model; each phase's time is added to the task's
`Phases`. Which writes were stale comes from their outcome (DuplicateKey =
`documents.STALE`), not from a pre-read. Every write is idempotent, so a
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
from streaming.phases import Phases
from streaming.written_meta import WrittenMeta

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
          topic: str, subtype: int, n_invalid: int, min_support: int, phases: Phases,
          written_meta: WrittenMeta) -> dict[str, int]:
    """Write what the partition's events leave per pid; track metadata only where
    `written_meta` has not seen it written with the same fields; the event counts by result, plus
    `unknown` (track occurrences the active model has no vector for, trained or provisional)
    and `provisional` (provisional vectors the active model's fold-in wrote)."""
    now = datetime.now(UTC)
    with phases.timed("playlists"):
        deletions = partition.tombstones(latest.values())
        states = partition.snapshots(latest.values())
        deletion_ops = partition.tombstone_writes(deletions, topic, now)
        snapshot_ops = partition.snapshot_writes(states, topic, now)
    with phases.timed("playlist_writes"):
        stale_deletions = _stale_pids(db, deletions, deletion_ops)
        stale = _stale_pids(db, states, snapshot_ops)
    deleted = [s for s in deletions if s.pid not in stale_deletions]
    won = [s for s in states if s.pid not in stale]
    # fold-in after `playlists` (it follows what won there), before the means that use it
    provisional: dict[str, dict[str, Any]] = {}
    written = 0
    if min_support > 0:  # 0: fold-in is off, nothing of it is computed, read or written
        with phases.timed("fold_in"):
            targets = partition.fold_targets(deleted, won, topic)
            for i, model in enumerate(models):
                provisional[model.version], n = fold.fold(db, model.version, model.index, targets,
                                                          min_support, subtype)
                written += n if i == 0 else 0
    with phases.timed("vectors"):
        removed = partition.tombstone_vector_writes(deleted, models, topic, now)
        applied = partition.applied_writes(won, models, topic, now, subtype, provisional)
    with phases.timed("vector_writes"):
        store.bulk_write(db[store.PLAYLIST_VECTORS], removed, tolerate=STALE_OK)
        meta = written_meta.unwritten(applied.track_meta)
        store.bulk_write(db[store.TRACKS], [documents.track_write(uri, f) for uri, f in meta.items()])
        written_meta.remember(meta)
        # a model's vector can be newer than the playlist (e.g. written by a derive pass): stale too
        store.bulk_write(db[store.PLAYLIST_VECTORS], applied.playlist_vectors, tolerate=STALE_OK)
    counts = partition.outcomes(latest.values(), stale_deletions, stale, n_invalid)
    return counts | {"unknown": applied.unknown_tracks, "provisional": written}
