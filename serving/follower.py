"""Follows one collection's change stream, reopens it when it ends, and remembers, in serving_state,
how far it applied."""

from __future__ import annotations

import collections
import logging
import time
from collections.abc import Mapping
from typing import Any

from pymongo.errors import OperationFailure, PyMongoError

from playlist2vec import store
from serving.metrics import ServingMetrics
from serving.source import MongoSource

log = logging.getLogger(__name__)

# Events after which the followed documents changed without a per-document event: the state
# must be reloaded. A real server ends the stream with `invalidate` after them; the local one
# reports `drop` and keeps the stream open.
VANISHED = frozenset({"drop", "rename", "dropDatabase"})
INVALIDATE = "invalidate"

# What serving reads of a playlist vector's change: its key, operation, cluster time and, of the
# document, the vector, the deletion and the two clocks freshness is timed by. The stream writes
# half as many fields again (counts, source, Kafka position), which the server would encode and
# serving decode thousands of times a second for nothing.
PROJECTIONS: Mapping[str, list[dict[str, Any]]] = {
    store.PLAYLIST_VECTORS: [{"$project": {
        "ns": 0, "wallTime": 0, **{f"fullDocument.{field}": 0 for field in (
            "n_tracks", "n_known", "modified_at", "source", "log")}}}],
    # provisional tracks are re-read by id (each fold-in batch rewrites their state): only the
    # key is read, so neither a training's inserts nor the fold-in writes carry their fields;
    # fold-in writes that leave a track without a vector before and after (most of them: a
    # track below the minimum support) do not reach serving at all
    store.TRACK_VECTORS: [
        {"$match": {"$or": [{"operationType": {"$nin": ["insert", "replace"]}},
                            {"fullDocument.provisional": {"$ne": True}},
                            {f"fullDocument.{store.SERVED}": True}]}},
        {"$project": {"ns": 0, "wallTime": 0, "fullDocument": 0, "updateDescription": 0}}],
}


class ChangeFollower:
    """One change stream, resumed from the stored token and reopened whenever it ends.

    The caller applies each polled batch, then calls `commit`, so a crash between the two
    replays the batch (harmless: each change leaves a whole state, applied in order).
    When changes may have been missed (a token the server refuses, the collection dropped or
    renamed), `reset` is set and the caller must reload everything.

    A stream ends when the server invalidates it (drop, rename), closes its cursor, or fails.
    It is reopened after the last change it returned (`startAfter` past an invalidate), or,
    when the server refuses that, from now with a reset; each reopen is counted by reason.
    While the server is unreachable, `poll` raises and the next call tries again.
    """

    def __init__(self, source: MongoSource, collection: str, instance: str,
                 metrics: ServingMetrics) -> None:
        self.source = source
        self.collection = collection
        self.instance = instance
        self.metrics = metrics
        self.reset = False
        self.polled_at = time.monotonic()
        """monotonic time of the last poll that reached the server (a health signal)"""
        self.lag_s = 0.0
        """seconds between the last applied change's cluster time and its application"""
        self._stream: Any = None
        self._resume: tuple[Mapping[str, Any] | None, bool] = (None, False)

    def open(self) -> None:
        """Resume from the stored token, else start now (a stored but unusable token is a reset)."""
        self._open(self.source.load_tokens(self.instance).get(self.collection), start_after=False,
                   refused="cannot resume from stored token")

    def poll(self, max_batch: int, wait_s: float, stop: Any = None) -> list[Mapping[str, Any]]:
        """The next batch of changes (without the events that end a stream, which are handled here)."""
        if self._stream is None:  # the last reopen failed (server away): try again
            self._reopen("error")
        try:
            changes = store.poll_changes(self._stream, max_batch, wait_s, stop)
        except PyMongoError as exc:
            log.warning("change stream on %s failed (%s): reopening", self.collection, exc)
            self._keep_resume_point()
            self._close_stream()
            self._reopen("error")
            return []
        self.polled_at = time.monotonic()
        self._keep_resume_point()
        kept, ended = [], set()
        for change in changes:
            op = change.get("operationType")
            if op == INVALIDATE:
                self._resume = (change["_id"], True)
            if op == INVALIDATE or op in VANISHED:
                ended.add(str(op))
            else:
                kept.append(change)
        if ended:
            self._lost(f"change stream reported {', '.join(sorted(ended))}")
        if INVALIDATE in ended:
            self._close_stream()
            self._reopen("invalidated")
        elif not self._stream.alive:
            self._close_stream()
            self._reopen("closed")
        return kept

    def commit(self, changes: list[Mapping[str, Any]]) -> None:
        """Store the resume token of the last applied change and record metrics."""
        if not changes:
            self.lag_s = 0.0
            self.metrics.lag(0.0)
            return
        self.source.save_token(self.instance, self.collection, changes[-1]["_id"])
        self.metrics.change_events_applied(
            self.collection, collections.Counter(str(change.get("operationType")) for change in changes))
        cluster_time = changes[-1].get("clusterTime")
        if cluster_time is not None:
            self.lag_s = max(0.0, time.time() - cluster_time.time)
            self.metrics.lag(self.lag_s)

    def close(self) -> None:
        self._close_stream()

    def _keep_resume_point(self) -> None:
        """Remember where the open stream is (its latest token), to reopen it there."""
        token = getattr(self._stream, "resume_token", None)
        if token is not None and token != self._resume[0]:
            self._resume = (token, False)

    def _reopen(self, reason: str) -> None:
        token, start_after = self._resume
        self._open(token, start_after=start_after, refused=f"cannot resume the {reason} stream")
        self.metrics.reopen(self.collection, reason)
        log.info("reopened the %s change stream (%s)", self.collection, reason)

    def _open(self, token: Mapping[str, Any] | None, *, start_after: bool, refused: str) -> None:
        coll = self.source.db[self.collection]
        if token is not None:
            try:
                self._stream = store.open_change_stream(coll, token, start_after=start_after,
                                                        pipeline=PROJECTIONS.get(self.collection, ()))
                self._resume = (token, start_after)
                return
            except OperationFailure as exc:  # the server refused the token (history lost, bad)
                self._lost(f"{refused} ({exc})")
        self._stream = store.open_change_stream(coll, None, pipeline=PROJECTIONS.get(self.collection, ()))
        self._resume = (None, False)

    def _close_stream(self) -> None:
        stream, self._stream = self._stream, None
        if stream is not None:
            try:
                stream.close()
            except PyMongoError as exc:  # closing a dead cursor on an unreachable server
                log.debug("closing the %s change stream: %s", self.collection, exc)

    def _lost(self, why: str) -> None:
        log.warning("%s on %s: full reload", why, self.collection)
        self.metrics.reset(self.collection)
        self.reset = True
