"""Follows one collection's change stream and remembers, in serving_state, how far it applied."""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from typing import Any

from pymongo.errors import PyMongoError

from playlist2vec import store
from serving.metrics import ServingMetrics
from serving.source import MongoSource

log = logging.getLogger(__name__)


class ChangeFollower:
    """One change stream, resumed from the stored token.

    The caller applies each polled batch, then calls `commit`, so a crash between the two
    replays the batch (harmless: changes are applied by re-reading current state by id).
    A token the server refuses means changes may have been missed: `reset` is set and the
    caller must reload everything.
    """

    def __init__(self, source: MongoSource, collection: str, instance: str,
                 metrics: ServingMetrics) -> None:
        self.source = source
        self.collection = collection
        self.instance = instance
        self.metrics = metrics
        self.reset = False
        self._stream: Any = None

    def open(self) -> None:
        """Resume from the stored token, else start now (a stored but unusable token is a reset)."""
        token = self.source.load_tokens(self.instance).get(self.collection)
        coll = self.source.db[self.collection]
        if token is not None:
            try:
                self._stream = store.open_change_stream(coll, token)
                return
            except PyMongoError as exc:
                self._lost(f"cannot resume from stored token ({exc})")
        self._stream = store.open_change_stream(coll, None)

    def poll(self, max_batch: int, wait_s: float, stop: Any = None) -> list[Mapping[str, Any]]:
        """The next batch of changes; an error on the stream reopens it and flags a reset."""
        try:
            return store.poll_changes(self._stream, max_batch, wait_s, stop)
        except PyMongoError as exc:
            self._lost(f"change stream failed ({exc})")
            self._stream = store.open_change_stream(self.source.db[self.collection], None)
            return []

    def commit(self, changes: list[Mapping[str, Any]]) -> None:
        """Store the resume token of the last applied change and record metrics."""
        if not changes:
            self.metrics.lag(0.0)
            return
        self.source.save_token(self.instance, self.collection, changes[-1]["_id"])
        for change in changes:
            self.metrics.change_event(self.collection, str(change.get("operationType")))
        cluster_time = changes[-1].get("clusterTime")
        if cluster_time is not None:
            self.metrics.lag(time.time() - cluster_time.time)

    def close(self) -> None:
        if self._stream is not None:
            self._stream.close()

    def _lost(self, why: str) -> None:
        log.warning("%s on %s: full reload", why, self.collection)
        self.metrics.reset(self.collection)
        self.reset = True
