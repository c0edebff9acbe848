"""Fold-in in MongoDB: the stream's provisional vectors for tracks a model never saw.

Per written model `m`: a ledger document per contributing playlist in `fold_in`
(`_id: {m, p}`: the op that wrote it, its contribution `tracks`/`sum`/`n`, and `undo`, the
contribution it replaced, while that op's increments may be incomplete), and per unseen track
a provisional `track_vectors` document (`_id: {m, t}`: `provisional: true`, running `sum` by
dimension, `known`, `support`, a version `v`, the `ops` applied and not yet released, and
`vector` once `support` reaches the minimum). The maths is `playlist2vec.foldin`.

Order of one transition (a playlist's contribution old -> new, named by its Kafka record,
`op`), each step idempotent: (1) the ledger takes new and `undo: old`; (2) each track's
`$inc` is conditioned on `op` not being in its `ops` and pushes it, so no increment applies
twice; (3) the touched tracks are read back and their `vector` set (or unset below the
minimum) conditioned on the version read, so the last incrementer's view wins; (4) the ledger
drops `undo` (or the document, when nothing is contributed any more); (5) `op` is pulled from
the tracks' `ops`. A replay finds either no `undo` and its own `op` (done: nothing to do) or
`undo` (the op is rolled forward first: steps 2-5 again, the increments already applied being
refused by their guard). A replay can therefore never count a playlist twice.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from pymongo import DeleteOne, ReplaceOne, UpdateOne
from pymongo.database import Database

from playlist2vec import documents, foldin, store, vectors
from playlist2vec.foldin import NONE, Contribution
from playlist2vec.vectors import FloatArray, TrackIndex

STALE_OK = frozenset({documents.STALE})


def ledger_key(version: str, pid: int) -> dict[str, Any]:
    return {"m": version, "p": pid}


def track_key(version: str, uri: str) -> dict[str, Any]:
    return {"m": version, "t": uri}


@dataclass(frozen=True)
class Target:
    """What a playlist's last applied record of the batch leaves it contributing: its op id
    (the record's position) and its tracks (None: deleted)."""

    pid: int
    op: str
    tracks: Sequence[str] | None


@dataclass(frozen=True)
class Transition:
    pid: int
    op: str
    old: Contribution
    new: Contribution


@dataclass
class Outcome:
    """Per model, the provisional vectors in use for the batch's unseen tracks; and how many
    provisional vectors were written (set or changed) for the first (active) model."""

    vectors: dict[str, dict[str, FloatArray]] = field(default_factory=dict)
    written: int = 0


def op_id(pid: int, log: Mapping[str, Any]) -> str:
    """The id of the transition a Kafka record causes: its position, so a replay has the same."""
    return f"{pid}@{log['topic']}/{log['partition']}/{log['offset']}"


def has_unseen(tracks: Sequence[str], index: TrackIndex) -> bool:
    """Whether a playlist holds a track the model never saw (a C-level set comparison: the
    common path of a playlist of known tracks costs next to nothing)."""
    return not index.rows.keys() >= set(tracks)


def contribution_of(doc: Mapping[str, Any] | None) -> Contribution:
    if not doc or not doc.get("tracks"):
        return NONE
    return Contribution(tuple(doc["tracks"]), np.asarray(doc["sum"], np.float64), int(doc["n"]))


def _contribution_fields(c: Contribution) -> dict[str, Any]:
    return {"tracks": list(c.tracks), "sum": [float(x) for x in c.sum], "n": c.n}


def plan(targets: Iterable[Target], ledger: Mapping[int, Mapping[str, Any]], index: TrackIndex
         ) -> tuple[list[Transition], list[Transition]]:
    """(ops to roll forward, new transitions) of the batch's applied playlists against their
    ledger documents. A playlist whose ledger already shows its op is done (a replay); one
    that neither contributed nor contributes needs nothing (the common path)."""
    pending: list[Transition] = []
    fresh: list[Transition] = []
    for target in targets:
        doc = ledger.get(target.pid)
        current = contribution_of(doc)
        if doc is not None and "undo" in doc:
            pending.append(Transition(target.pid, doc["op"], contribution_of(doc["undo"]), current))
        if doc is not None and doc["op"] == target.op:
            continue
        new = NONE if target.tracks is None else foldin.contribution(target.tracks, index)
        if not current.empty or not new.empty:
            fresh.append(Transition(target.pid, target.op, current, new))
    return pending, fresh


def ledger_writes(version: str, transitions: Sequence[Transition]) -> list[ReplaceOne[dict[str, Any]]]:
    """Step 1: each playlist's ledger holds its new contribution and, as `undo`, the old one."""
    return [ReplaceOne({"_id": ledger_key(version, t.pid)},
                       {"op": t.op, **_contribution_fields(t.new),
                        "undo": _contribution_fields(t.old)}, upsert=True)
            for t in transitions]


def increment_writes(version: str, transitions: Sequence[Transition]) -> tuple[list[UpdateOne], set[str]]:
    """Step 2: each track's guarded `$inc` per transition; and the tracks touched."""
    ops: list[UpdateOne] = []
    touched: set[str] = set()
    for t in transitions:
        for track, delta in foldin.deltas(t.old, t.new).items():
            inc: dict[str, Any] = {f"sum.{i}": float(x) for i, x in enumerate(delta.sum)}
            inc |= {"known": delta.n, "support": delta.support, "v": 1}
            ops.append(UpdateOne({"_id": track_key(version, track), "ops": {"$ne": t.op}},
                                 {"$inc": inc, "$push": {"ops": t.op},
                                  "$setOnInsert": {"provisional": True}}, upsert=True))
            touched.add(track)
    return ops, touched


def state_vector(doc: Mapping[str, Any], dim: int, min_support: int) -> FloatArray | None:
    """The provisional vector a track's stored state gives (None below the minimum)."""
    parts = doc.get("sum") or {}
    total = np.asarray([parts.get(str(i), 0.0) for i in range(dim)], np.float64)
    return foldin.provisional_vector(total, int(doc.get("known", 0)), int(doc.get("support", 0)),
                                     min_support)


def vector_writes(version: str, docs: Iterable[Mapping[str, Any]], touched: set[str], dim: int,
                  min_support: int, subtype: int
                  ) -> tuple[list[UpdateOne], dict[str, FloatArray], int]:
    """Step 3: the `vector` of each touched track as its state now gives it (conditioned on the
    version read); the provisional vectors in use among `docs`; how many vectors are set."""
    ops: list[UpdateOne] = []
    n_set = 0
    usable: dict[str, FloatArray] = {}
    for doc in docs:
        uri = doc["_id"]["t"]
        vector = state_vector(doc, dim, min_support)
        if vector is not None:
            usable[uri] = vector
        if uri not in touched or (vector is None and "vector" not in doc):
            continue
        n_set += vector is not None
        change = ({"$set": {"vector": vectors.encode(vector, subtype)}} if vector is not None
                  else {"$unset": {"vector": ""}})
        ops.append(UpdateOne({"_id": track_key(version, uri), "v": doc.get("v")}, change))
    return ops, usable, n_set


def commit_writes(version: str, transitions: Sequence[Transition]) -> list[UpdateOne | DeleteOne]:
    """Step 4: the ledger forgets `undo` (or the playlist, when it contributes nothing now)."""
    return [DeleteOne({"_id": ledger_key(version, t.pid), "op": t.op}) if t.new.empty
            else UpdateOne({"_id": ledger_key(version, t.pid), "op": t.op}, {"$unset": {"undo": ""}})
            for t in transitions]


def release_writes(version: str, transitions: Sequence[Transition]) -> list[UpdateOne]:
    """Step 5: the ops are pulled from the tracks' `ops`."""
    return [UpdateOne({"_id": track_key(version, track)}, {"$pull": {"ops": t.op}})
            for t in transitions for track in foldin.deltas(t.old, t.new)]


def _read_tracks(db: Database[dict[str, Any]], version: str, uris: Iterable[str]
                 ) -> list[dict[str, Any]]:
    keys = [track_key(version, uri) for uri in uris]
    if not keys:
        return []
    return list(db[store.TRACK_VECTORS].find({"_id": {"$in": keys}, "provisional": True},
                                             {"ops": 0}))


def _run(db: Database[dict[str, Any]], version: str, transitions: Sequence[Transition],
         unseen: set[str], dim: int, min_support: int, subtype: int, ledger_written: bool
         ) -> tuple[dict[str, FloatArray], int]:
    """Steps 1-5 for `transitions`; the provisional vectors in use among `unseen` and the
    touched tracks, and the number of vectors written."""
    if transitions and not ledger_written:
        store.bulk_write(db[store.FOLD_IN], ledger_writes(version, transitions))
    increments, touched = increment_writes(version, transitions)
    store.bulk_write(db[store.TRACK_VECTORS], increments, tolerate=STALE_OK)
    docs = _read_tracks(db, version, unseen | touched)
    writes, usable, n_set = vector_writes(version, docs, touched, dim, min_support, subtype)
    store.bulk_write(db[store.TRACK_VECTORS], writes)
    if transitions:
        store.bulk_write(db[store.FOLD_IN], commit_writes(version, transitions))
        store.bulk_write(db[store.TRACK_VECTORS], release_writes(version, transitions))
        db[store.TRACK_VECTORS].delete_many({"_id": {"$in": [track_key(version, u) for u in touched]},
                                             "provisional": True, "support": {"$lte": 0},
                                             "ops": {"$size": 0}})
    return usable, n_set


def fold(db: Database[dict[str, Any]], version: str, index: TrackIndex, targets: Sequence[Target],
         min_support: int, subtype: int) -> tuple[dict[str, FloatArray], int]:
    """Bring model `version`'s fold-in state up to the batch's applied playlists; the
    provisional vectors in use for their unseen tracks, and the number written."""
    if not targets:
        return {}, 0
    dim = int(index.matrix.shape[1])
    keys = [ledger_key(version, t.pid) for t in targets]
    ledger = {d["_id"]["p"]: d for d in db[store.FOLD_IN].find({"_id": {"$in": keys}})}
    unseen = {track for t in targets if t.tracks and has_unseen(t.tracks, index)
              for track in t.tracks if track not in index.rows}
    pending, fresh = plan(targets, ledger, index)
    written = 0
    if pending:  # a batch that failed half-way: finish what it started first
        _, written = _run(db, version, pending, set(), dim, min_support, subtype, ledger_written=True)
    if not fresh and not unseen:
        return {}, written
    usable, more = _run(db, version, fresh, unseen, dim, min_support, subtype, ledger_written=False)
    return {t: v for t, v in usable.items() if t in unseen}, written + more
