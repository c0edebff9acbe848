"""The MongoDB store: collection names, indexes, model registry reads, bulk writes, change streams.

Only the public MongoDB API is used, so the same code runs on a real replica set and on the
local MongoDB-wire server (deploy/mongo/).
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

import numpy as np
from pymongo import ASCENDING, DESCENDING, MongoClient
from pymongo.collection import Collection
from pymongo.database import Database
from pymongo.errors import (
    AutoReconnect,
    BulkWriteError,
    ConnectionFailure,
    OperationFailure,
    PyMongoError,
)
from tenacity import Retrying, retry_if_exception, stop_after_attempt, wait_exponential

from playlist2vec import vectors
from playlist2vec.errors import NotReady, PipelineError
from playlist2vec.settings import Settings

MODELS = "models"
TRACK_VECTORS = "track_vectors"
PLAYLISTS = "playlists"
PLAYLIST_VECTORS = "playlist_vectors"
TRACKS = "tracks"
FOLD_IN = "fold_in"  # the stream's fold-in ledger: what each playlist contributes (streaming/fold.py)
FOLD_IN_BATCHES = "fold_in_batches"  # the stream's fold-in journal: a batch in progress per partition
SERVING_STATE = "serving_state"
LYRICS = "lyrics"
LYRIC_VECTORS = "lyric_vectors"

BULK_BATCH = 1_000

SERVED = "served"
"""Set on a provisional `track_vectors` document by a write that set, changed or removed its
vector: the fold-in writes serving must see (streaming/fold.py writes it, serving's follower
passes only those)."""

# Server error codes the MongoDB retryable-writes specification treats as transient (elections,
# shutdowns, network trouble on the server's side), plus ExceededTimeLimit.
TRANSIENT_CODES = frozenset({6, 7, 89, 91, 189, 262, 9001, 10107, 11600, 11602, 13435, 13436})
WRITE_ATTEMPTS = 5


def connect(uri: str, **options: Any) -> MongoClient[dict[str, Any]]:
    """A client with short server-selection timeouts, so a missing server fails fast and clearly."""
    options.setdefault("serverSelectionTimeoutMS", 10_000)
    options.setdefault("appname", "playlist2vec")
    return MongoClient(uri, tz_aware=False, **options)


def database(settings: Settings) -> Database[dict[str, Any]]:
    """The settings' database on a new client, for an owner that closes `db.client` itself
    (a long-running server or stream); a block of work uses `opened`."""
    return connect(settings.mongo_uri.get_secret_value())[settings.mongo_db]


@contextmanager
def opened(settings: Settings) -> Iterator[Database[dict[str, Any]]]:
    """The settings' database for the length of a `with` block; its client is closed after."""
    with connect(settings.mongo_uri.get_secret_value()) as client:
        yield client[settings.mongo_db]


def ensure_indexes(db: Database[dict[str, Any]]) -> None:
    """Create the indexes ARCHITECTURE.md asks for (idempotent)."""
    db[TRACK_VECTORS].create_index([("_id.m", ASCENDING)], name="by_model")
    db[MODELS].create_index([("status", ASCENDING)], name="by_status")
    db[PLAYLIST_VECTORS].create_index([("_id.m", ASCENDING)], name="by_model")
    db[FOLD_IN].create_index([("_id.m", ASCENDING)], name="by_model")
    db[FOLD_IN_BATCHES].create_index([("_id.m", ASCENDING)], name="by_model")


def active_model(db: Database[dict[str, Any]]) -> dict[str, Any]:
    """The active `models` document, or NotReady: the one definition every component uses.

    A switch (activation or rollback) marks the new model `active` with a fresh `activated_at`
    in one update and retires the previous one after it; in between, the most recently
    activated model is the active one, so every reader sees the switch at the same write.
    """
    model = db[MODELS].find_one({"status": "active"},
                                sort=[("activated_at", DESCENDING), ("created_at", DESCENDING)])
    if model is None:
        raise NotReady("no active model: run `playlist2vec train` first")
    return model


def write_models(db: Database[dict[str, Any]]) -> list[dict[str, Any]]:
    """The models whose playlist vectors writers keep current: the active one first, then any
    `ready` one (trained, not yet switched to), so nothing that arrives during a switch is
    missed. Empty when no model is active or ready."""
    models = list(db[MODELS].find({"status": {"$in": ["active", "ready"]}},
                                  sort=[("activated_at", DESCENDING), ("created_at", DESCENDING)]))
    active = [m for m in models if m["status"] == "active"][:1]
    return active + [m for m in models if m["status"] == "ready"]


def track_vector_query(version: str, provisional: bool = False) -> dict[str, Any]:
    """The filter of one model's trained track vectors, or with `provisional` its provisional
    (folded-in) ones whose support reached the minimum (those below it have no `vector`)."""
    if provisional:
        return {"_id.m": version, "provisional": True, "vector": {"$exists": True}}
    return {"_id.m": version, "provisional": {"$ne": True}}


def load_track_vectors(db: Database[dict[str, Any]], version: str, provisional: bool = False
                       ) -> tuple[list[str], np.ndarray]:
    """(track uris, float32 matrix) of one model's trained track vectors (with `provisional`:
    its provisional ones instead), in a stable order."""
    uris: list[str] = []
    rows: list[np.ndarray] = []
    cursor = db[TRACK_VECTORS].find(track_vector_query(version, provisional), {"vector": 1},
                                    batch_size=10_000)
    for doc in cursor:
        uris.append(doc["_id"]["t"])
        rows.append(vectors.decode(doc["vector"]))
    matrix = np.stack(rows) if rows else np.empty((0, 0), dtype=np.float32)
    return uris, matrix


DUPLICATE_KEY = 11000


def transient(exc: BaseException) -> bool:
    """A write error worth retrying: the connection dropped, or the server said it was busy or
    changing primaries. Everything else (bad documents, duplicate keys) is not."""
    if isinstance(exc, AutoReconnect):  # includes NetworkTimeout and NotPrimaryError
        return True
    return isinstance(exc, OperationFailure) and (
        exc.code in TRANSIENT_CODES or exc.has_error_label("RetryableWriteError"))


def outage(exc: BaseException) -> bool:
    """MongoDB cannot answer now (unreachable, timed out, changing primaries): a caller should
    retry later, and an HTTP answer is 503, not 500."""
    return transient(exc) or isinstance(exc, ConnectionFailure) or (
        isinstance(exc, PyMongoError) and exc.timeout)


def bulk_write(
    collection: Collection[dict[str, Any]],
    operations: Iterable[Any],
    batch_size: int = BULK_BATCH,
    tolerate: frozenset[int] = frozenset(),
    attempts: int = WRITE_ATTEMPTS,
    rejected: list[int] | None = None,
    matched: list[int] | None = None,
) -> int:
    """Execute operations as unordered bulk writes of at most `batch_size`; returns how many ran.

    Unordered so one bad document does not stop the rest. Write errors whose code is in
    `tolerate` are expected outcomes (a conditional upsert that lost to a newer document
    raises DUPLICATE_KEY); any other is raised, after the batch, as PipelineError. A batch
    that fails transiently (see `transient`) is sent again, up to `attempts` times with
    exponential backoff: every writer here is idempotent (whole-document replaces, conditional
    upserts, inserts whose duplicates are tolerated), so a repeat cannot change the outcome.
    The positions (in `operations`) of the operations refused with a tolerated code are
    appended to `rejected` when it is given: e.g. which conditional upserts were stale. With
    `matched`, the number of documents that updates and replaces matched is appended per round
    trip (a conditional one that matched nothing is in no count; inserts are in none: the local
    server counts a refused insert as inserted, so a refused one is told by `rejected` only).
    """
    done = 0
    batch: list[Any] = []
    retrying = Retrying(retry=retry_if_exception(transient), stop=stop_after_attempt(attempts),
                        wait=wait_exponential(multiplier=0.5, max=8), reraise=True)

    def flush() -> None:
        nonlocal done
        if not batch:
            return
        try:
            result = retrying(collection.bulk_write, batch, ordered=False)
            if matched is not None:
                matched.append(result.matched_count)
        except BulkWriteError as exc:
            if matched is not None:
                matched.append(exc.details.get("nMatched", 0))
            errors = [e for e in exc.details.get("writeErrors", []) if e.get("code") not in tolerate]
            if rejected is not None:
                rejected.extend(done + e["index"] for e in exc.details.get("writeErrors", [])
                                if e.get("code") in tolerate)
            if errors or exc.details.get("writeConcernErrors"):
                first = (errors or exc.details["writeConcernErrors"])[0]
                raise PipelineError(
                    f"bulk write to {collection.name} failed: {first.get('errmsg', exc)}"
                ) from None
        except PyMongoError as exc:
            raise PipelineError(f"bulk write to {collection.name} failed: {exc}") from None
        done += len(batch)
        batch.clear()

    for op in operations:
        batch.append(op)
        if len(batch) >= batch_size:
            flush()
    flush()
    return done


def open_change_stream(
    collection: Collection[dict[str, Any]],
    resume_token: Mapping[str, Any] | None,
    batch_size: int = 1_000,
    start_after: bool = False,
    pipeline: Sequence[Mapping[str, Any]] = (),
) -> Any:
    """A change stream that resumes after `resume_token`, or starts now, its events passed
    through `pipeline` (e.g. a `$project` of the fields the follower reads).

    `start_after` opens it past an `invalidate` event's token (which `resumeAfter` refuses).
    """
    stages = list(pipeline)
    if resume_token is None:
        return collection.watch(pipeline=stages, batch_size=batch_size)
    if start_after:
        return collection.watch(pipeline=stages, batch_size=batch_size, start_after=resume_token)
    return collection.watch(pipeline=stages, batch_size=batch_size, resume_after=resume_token)


def change_key(change: Mapping[str, Any]) -> Any | None:
    """The `_id` of the changed document, or None for an event about no document (a drop)."""
    key = change.get("documentKey")
    return key.get("_id") if isinstance(key, Mapping) else None


REREAD = object()
"""`change_state`'s answer when a change does not carry the document's new state."""


def change_state(change: Mapping[str, Any]) -> Any:
    """The changed document as the change left it: the whole document an insert or replace
    carries, None after a delete, else `REREAD` (an update event carries the document only with
    `updateLookup`, a read per event on the server; followers re-read those by id instead)."""
    op = change.get("operationType")
    if op == "delete":
        return None
    document = change.get("fullDocument") if op in ("insert", "replace") else None
    return REREAD if document is None else document


def poll_changes(stream: Any, max_batch: int, wait_s: float, stop: Any = None) -> list[Mapping[str, Any]]:
    """Up to `max_batch` changes, waiting at most `wait_s` for the first.

    `try_next` rather than blocking `next`: the local server's getMore never waits, and polling
    lets the caller stop promptly. `stop` is an optional threading.Event.
    """
    deadline = time.monotonic() + wait_s
    changes: list[Mapping[str, Any]] = []
    while len(changes) < max_batch:
        change = stream.try_next()
        if change is not None:
            changes.append(change)
            continue
        if changes or time.monotonic() >= deadline or (stop is not None and stop.is_set()):
            break
        time.sleep(0.05)
    return changes


def iter_docs(
    collection: Collection[dict[str, Any]], query: Mapping[str, Any], projection: Sequence[str] | None = None
) -> Iterator[dict[str, Any]]:
    """All matching documents, streamed in batches (never one list in memory)."""
    yield from collection.find(dict(query), projection, batch_size=10_000)
