"""Fold-in in MongoDB: the stream's provisional vectors for tracks a model never saw.

Per written model `m`: a ledger document per contributing playlist in `fold_in` (`_id: {m, p}`:
the op (Kafka record) that wrote it, its contribution `tracks`/`sum`/`n`, `prev`, the
contribution it replaced, and `batch`, the fold-in batch that wrote it); per unseen track a
provisional `track_vectors` document (`_id: {m, t}`: `provisional: true`, the running `sum`
(float64 binary), `known`, `support`, a version `v`, `applied` (per source partition, the last
batch applied to it), `updated_at`, `vector` once `support` reaches the minimum, and `served`
when the write set, changed or removed a vector); and per
source partition (a Kafka topic partition: one partition task) a journal document in
`fold_in_batches` (`_id: {m, s}`) naming its batch in progress. The maths is
`playlist2vec.foldin`.

One partition task's fold-in is one batch, every step a single round trip for all of its
playlists and tracks: (1) the journal names a new batch id and its pids; (2) the ledger takes
each changed playlist's new contribution, `prev` and the batch id; (3) the batch's deltas are
summed per track (`foldin.aggregate`), the touched tracks read, and each written once: its whole
new state and vector, conditioned on the version read, marked with the batch in `applied`; a
write that lost to a concurrent partition is re-read and redone; (4) the journal forgets the
batch; ledger documents of playlists that contribute nothing now, and tracks left with no
support, are removed. A task first rolls forward its partition's batch in progress, if any (a
crash): the journal names it and its pids, the ledger documents it wrote give its transitions
(`prev` -> contribution), and step 3 skips the tracks already marked with it. A replayed
record finds its own op in the ledger and is done. So no playlist is ever counted twice.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import numpy as np
from pymongo import DeleteOne, InsertOne, ReplaceOne, UpdateOne
from pymongo.database import Database

from playlist2vec import documents, foldin, store, vectors
from playlist2vec.errors import PipelineError
from playlist2vec.foldin import NONE, Contribution, Delta, State
from playlist2vec.vectors import FloatArray, TrackIndex

STALE_OK = frozenset({documents.STALE})
Doc = dict[str, Any]
TrackWrite = InsertOne[Doc] | ReplaceOne[Doc]
MAX_ROUNDS = 20  # conflicting writes per batch before giving up (each round one writer wins)


def ledger_key(version: str, pid: int) -> dict[str, Any]:
    return {"m": version, "p": pid}


def track_key(version: str, uri: str) -> dict[str, Any]:
    return {"m": version, "t": uri}


def journal_key(version: str, source: str) -> dict[str, Any]:
    return {"m": version, "s": source}


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


def op_id(pid: int, log: Mapping[str, Any]) -> str:
    """The id of the transition a Kafka record causes: its position, so a replay has the same."""
    return f"{pid}@{log['topic']}/{log['partition']}/{log['offset']}"


def source_of(targets: Iterable[Target]) -> str:
    """The Kafka topic partition the targets' records come from (one per partition task): the
    unit whose fold-in batches run one after another."""
    return "+".join(sorted({t.op.split("@", 1)[1].rsplit("/", 1)[0] for t in targets}))


def has_unseen(tracks: Sequence[str], index: TrackIndex) -> bool:
    """Whether a playlist holds a track the model never saw (a C-level set comparison: the
    common path of a playlist of known tracks costs next to nothing)."""
    return not index.rows.keys() >= set(tracks)


def encode_sum(total: FloatArray) -> bytes:
    """Float64 little-endian bytes (BSON binary; plain bytes, as a `Binary` costs ~8 us each)."""
    return np.asarray(total, "<f8").tobytes()


def decode_sum(value: Any, dim: int) -> FloatArray:
    """A stored float64 sum: binary, a list, or (documents of an earlier layout) {"0": x, ...}."""
    if isinstance(value, bytes):
        return np.frombuffer(value, "<f8").astype(np.float64)
    if isinstance(value, Mapping):
        return np.asarray([value.get(str(i), 0.0) for i in range(dim)], np.float64)
    return np.asarray(value if value is not None else np.zeros(dim), np.float64)


def contribution_of(doc: Mapping[str, Any] | None) -> Contribution:
    if not doc or not doc.get("tracks"):
        return NONE
    return Contribution(tuple(doc["tracks"]), decode_sum(doc["sum"], 0), int(doc["n"]))


def _contribution_fields(c: Contribution) -> dict[str, Any]:
    return {"tracks": list(c.tracks), "sum": encode_sum(c.sum), "n": c.n}


def plan(targets: Iterable[Target], ledger: Mapping[int, Mapping[str, Any]], index: TrackIndex
         ) -> list[Transition]:
    """The batch's transitions: its applied playlists against their ledger documents. A
    playlist whose ledger already shows its op is done (a replay); one that neither contributed
    nor contributes needs nothing (the common path)."""
    fresh: list[Transition] = []
    for target in targets:
        doc = ledger.get(target.pid)
        if doc is not None and doc["op"] == target.op:
            continue
        current = contribution_of(doc)
        new = NONE if target.tracks is None else foldin.contribution(target.tracks, index)
        if not current.empty or not new.empty:
            fresh.append(Transition(target.pid, target.op, current, new))
    return fresh


def recorded(docs: Iterable[Mapping[str, Any]], batch: str) -> list[Transition]:
    """The transitions batch `batch` wrote into the ledger (`prev` -> contribution)."""
    return [Transition(d["_id"]["p"], d["op"], contribution_of(d.get("prev")), contribution_of(d))
            for d in docs if d.get("batch") == batch]


def total_deltas(transitions: Iterable[Transition]) -> dict[str, Delta]:
    """Per track, what the transitions change together: one write per track and batch."""
    return foldin.aggregate(foldin.deltas(t.old, t.new) for t in transitions)


def journal_write(version: str, source: str, batch: str, transitions: Sequence[Transition]
                  ) -> ReplaceOne[Doc]:
    """Step 1: the partition's batch in progress and the playlists it changes."""
    return ReplaceOne({"_id": journal_key(version, source)},
                      {"pending": batch, "pids": [t.pid for t in transitions]}, upsert=True)


def ledger_writes(version: str, batch: str, transitions: Sequence[Transition]) -> list[ReplaceOne[Doc]]:
    """Step 2: each playlist's ledger holds its new contribution, the old one (`prev`) and the
    batch, so a crash later in the batch can be rolled forward from it."""
    return [ReplaceOne({"_id": ledger_key(version, t.pid)},
                       {"op": t.op, **_contribution_fields(t.new), "batch": batch,
                        **({} if t.old.empty else {"prev": _contribution_fields(t.old)})},
                       upsert=True)
            for t in transitions]


def state_of(doc: Mapping[str, Any] | None, dim: int) -> State:
    if doc is None:
        return State(np.zeros(dim))
    return State(decode_sum(doc.get("sum"), dim), int(doc.get("known", 0)), int(doc.get("support", 0)))


def marked(doc: Mapping[str, Any] | None, source: str, batch: str) -> bool:
    """Whether batch `batch` of `source` was already applied to the track."""
    return doc is not None and [source, batch] in doc.get("applied", [])


def track_doc(version: str, uri: str, state: State, before: Mapping[str, Any] | None, source: str,
              batch: str, min_support: int, subtype: int, now: datetime) -> dict[str, Any]:
    """A track's whole provisional document after batch `batch` of `source` (vector from the
    minimum support on)."""
    applied = [a for a in (before or {}).get("applied", []) if a[0] != source] + [[source, batch]]
    doc: dict[str, Any] = {"_id": track_key(version, uri), "provisional": True,
                           "support": state.support, "known": state.n, "sum": encode_sum(state.sum),
                           "v": int((before or {}).get("v", 0)) + 1, "applied": sorted(applied),
                           "updated_at": now}
    vector = state.vector(min_support)
    if vector is not None:
        doc["vector"] = vectors.encode(vector, subtype)
    if vector is not None or "vector" in (before or {}):
        doc[store.SERVED] = True  # serving's change stream passes only these
    return doc


def track_writes(version: str, source: str, batch: str, deltas: Mapping[str, Delta],
                 docs: Mapping[str, Mapping[str, Any]], dim: int, min_support: int, subtype: int,
                 now: datetime) -> dict[str, tuple[TrackWrite, Doc]]:
    """Step 3, per track not yet marked with the batch: its write, conditioned on the version
    read (an insert when there was none), and its new document. A track absent with nothing
    left to count (its state pruned) is not recreated."""
    out: dict[str, tuple[TrackWrite, Doc]] = {}
    for uri, delta in deltas.items():
        before = docs.get(uri)
        if marked(before, source, batch):
            continue
        state = state_of(before, dim).plus(delta)
        if before is None and state.support <= 0:
            continue
        doc = track_doc(version, uri, state, before, source, batch, min_support, subtype, now)
        write = (InsertOne(doc) if before is None else
                 ReplaceOne({"_id": doc["_id"], "v": before.get("v")}, doc))
        out[uri] = (write, doc)
    return out


def _read_ledger(db: Database[dict[str, Any]], version: str, pids: Iterable[int]
                 ) -> dict[int, dict[str, Any]]:
    """Model `version`'s ledger documents of `pids`, by pid."""
    keys = [ledger_key(version, pid) for pid in pids]
    if not keys:
        return {}
    return {d["_id"]["p"]: d for d in db[store.FOLD_IN].find({"_id": {"$in": keys}})}


def _read_tracks(db: Database[dict[str, Any]], version: str, uris: Iterable[str],
                 provisional_only: bool = True) -> dict[str, dict[str, Any]]:
    keys = [track_key(version, uri) for uri in uris]
    if not keys:
        return {}
    query: dict[str, Any] = {"_id": {"$in": keys}}
    if provisional_only:
        query["provisional"] = True
    return {d["_id"]["t"]: d for d in db[store.TRACK_VECTORS].find(query)}


def write_tracks(db: Database[dict[str, Any]], version: str, source: str, batch: str,
                 deltas: Mapping[str, Delta], docs: dict[str, dict[str, Any]], dim: int,
                 min_support: int, subtype: int) -> tuple[set[str], int]:
    """One round of step 3 from the documents read, `docs`, which it updates in place (what was
    written; a lost track's document as it is now); the tracks whose write lost to a concurrent
    partition's, and the number of vectors written."""
    writes = track_writes(version, source, batch, deltas, docs, dim, min_support, subtype,
                          datetime.now(UTC))
    ops = [w for w, _ in writes.values()]
    refused: list[int] = []  # inserts of a track another partition inserted first
    matched: list[int] = []
    store.bulk_write(db[store.TRACK_VECTORS], ops, tolerate=STALE_OK, rejected=refused,
                     matched=matched)
    lost: set[str] = set()
    trained: set[str] = set()
    if refused or sum(matched) < sum(isinstance(op, ReplaceOne) for op in ops):
        # some lost to another partition's write: the marks say which
        current = _read_tracks(db, version, writes, provisional_only=False)
        trained = {uri for uri, doc in current.items() if not doc.get("provisional")}
        lost = {uri for uri in writes if uri not in trained and not marked(current.get(uri), source, batch)}
        for uri in lost | trained:  # a trained vector of the model wins: nothing to fold in
            docs.pop(uri, None)
            if uri in lost and uri in current:
                docs[uri] = current[uri]
    done = {uri: doc for uri, (_, doc) in writes.items() if uri not in lost and uri not in trained}
    docs |= done
    return lost, sum("vector" in doc for doc in done.values())


def apply(db: Database[dict[str, Any]], version: str, source: str, batch: str,
          deltas: Mapping[str, Delta], unseen: set[str], dim: int, min_support: int, subtype: int
          ) -> tuple[dict[str, dict[str, Any]], int]:
    """Step 3 until every track is written; the documents of the touched and `unseen` tracks
    as they are now, and the number of vectors written."""
    docs = _read_tracks(db, version, set(deltas) | unseen)
    todo = dict(deltas)
    written = 0
    for _ in range(MAX_ROUNDS):
        lost, n = write_tracks(db, version, source, batch, todo, docs, dim, min_support, subtype)
        written += n
        if not lost:
            return docs, written
        todo = {uri: todo[uri] for uri in lost}
    raise PipelineError(f"fold-in: {len(todo)} track writes of model {version} kept losing to "
                        f"concurrent ones ({MAX_ROUNDS} rounds)")


def finish(db: Database[dict[str, Any]], version: str, source: str, batch: str,
           transitions: Sequence[Transition], docs: Mapping[str, Mapping[str, Any]]) -> None:
    """Step 4: the journal forgets the batch; then the ledger documents of playlists that
    contribute nothing now, and the batch's tracks left with no support that no other
    partition's batch marks (their markers are settled), are removed."""
    store.bulk_write(db[store.FOLD_IN_BATCHES], [ReplaceOne(
        {"_id": journal_key(version, source)}, {"done": batch}, upsert=True)])
    store.bulk_write(db[store.FOLD_IN], [
        DeleteOne({"_id": ledger_key(version, t.pid), "batch": batch})
        for t in transitions if t.new.empty])
    store.bulk_write(db[store.TRACK_VECTORS], [
        DeleteOne({"_id": doc["_id"], "v": doc["v"], "support": {"$lte": 0}})
        for doc in docs.values()
        if doc.get("support", 0) <= 0 and doc.get("applied") == [[source, batch]]])


def roll_forward(db: Database[dict[str, Any]], version: str, source: str, journal: Mapping[str, Any],
                 dim: int, min_support: int, subtype: int) -> int:
    """Finish the partition's batch in progress that a crash interrupted; vectors written."""
    batch = journal["pending"]
    ledger = _read_ledger(db, version, journal.get("pids", []))
    transitions = recorded(ledger.values(), batch)
    docs, written = apply(db, version, source, batch, total_deltas(transitions), set(), dim,
                          min_support, subtype)
    finish(db, version, source, batch, transitions, docs)
    return written


def usable_vectors(docs: Mapping[str, Mapping[str, Any]], uris: Iterable[str]
                   ) -> dict[str, FloatArray]:
    """The provisional vectors in use among `uris`."""
    return {uri: vectors.decode(docs[uri]["vector"]) for uri in uris
            if uri in docs and docs[uri].get("vector") is not None}


def fold(db: Database[dict[str, Any]], version: str, index: TrackIndex, targets: Sequence[Target],
         min_support: int, subtype: int) -> tuple[dict[str, FloatArray], int]:
    """Bring model `version`'s fold-in state up to the batch's applied playlists (one partition
    task's); the provisional vectors in use for their unseen tracks, and the number written."""
    if not targets:
        return {}, 0
    dim = int(index.matrix.shape[1])
    source = source_of(targets)
    written = 0
    journal = db[store.FOLD_IN_BATCHES].find_one({"_id": journal_key(version, source)})
    if journal is not None and journal.get("pending"):  # a batch a crash interrupted: finish it
        written += roll_forward(db, version, source, journal, dim, min_support, subtype)
    ledger = _read_ledger(db, version, (t.pid for t in targets))
    unseen = {track for t in targets if t.tracks and has_unseen(t.tracks, index)
              for track in t.tracks if track not in index.rows}
    fresh = plan(targets, ledger, index)
    if not fresh:
        docs = _read_tracks(db, version, unseen)
        return usable_vectors(docs, unseen), written
    batch = uuid.uuid4().hex[:16]
    store.bulk_write(db[store.FOLD_IN_BATCHES], [journal_write(version, source, batch, fresh)])
    store.bulk_write(db[store.FOLD_IN], ledger_writes(version, batch, fresh))
    docs, more = apply(db, version, source, batch, total_deltas(fresh), unseen, dim, min_support,
                       subtype)
    finish(db, version, source, batch, fresh, docs)
    return usable_vectors(docs, unseen), written + more


def settled(doc: Mapping[str, Any], pending: Mapping[str, Any]) -> bool:
    """Whether no batch that marks the track is still in progress (`pending`: source -> the
    batch its journal names), so no roll-forward can need the document's marks."""
    return all(pending.get(source) != batch for source, batch in doc.get("applied", []))


def prune(db: Database[dict[str, Any]], version: str, min_support: int, idle_since: datetime) -> int:
    """Forget model `version`'s provisional tracks below the minimum support that no batch has
    touched since `idle_since` (a mistyped uri, a track nobody else plays): their documents,
    then their mention in the ledger, so no later edit counts them. Returns how many went.

    A document goes only if unchanged since it was read (its version) and settled. Run between
    batches (the stream's driver does), nothing else writes meanwhile; a forgotten track that a
    playlist adds again starts from that playlist. Cost: one scan of the model's provisional
    tracks and, when some went, one of its ledger (projected to the track lists)."""
    pending = {d["_id"]["s"]: d.get("pending") for d in
               db[store.FOLD_IN_BATCHES].find({"_id.m": version})}
    idle = {"$or": [{"updated_at": {"$lt": idle_since}}, {"updated_at": {"$exists": False}}]}
    candidates = [d for d in db[store.TRACK_VECTORS].find(
        {"_id.m": version, "provisional": True, "support": {"$lt": min_support}, **idle},
        {"v": 1, "applied": 1}) if settled(d, pending)]
    store.bulk_write(db[store.TRACK_VECTORS],
                     [DeleteOne({"_id": d["_id"], "v": d.get("v")}) for d in candidates])
    kept = _read_tracks(db, version, (d["_id"]["t"] for d in candidates))
    gone = {d["_id"]["t"] for d in candidates} - set(kept)
    if gone:
        store.bulk_write(db[store.FOLD_IN], forget_writes(
            db[store.FOLD_IN].find({"_id.m": version}, {"tracks": 1, "prev.tracks": 1}), gone))
    return len(gone)


def forget_writes(ledger: Iterable[Mapping[str, Any]], gone: set[str]) -> list[UpdateOne]:
    """The ledger documents' `$pull` of the forgotten tracks they list (now or in `prev`)."""
    writes = []
    for doc in ledger:
        pulls = {field: {"$in": sorted(hit)} for field, hit in (
            ("tracks", gone.intersection(doc.get("tracks") or ())),
            ("prev.tracks", gone.intersection((doc.get("prev") or {}).get("tracks") or ()))) if hit}
        if pulls:
            writes.append(UpdateOne({"_id": doc["_id"]}, {"$pull": pulls}))
    return writes
