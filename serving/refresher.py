"""The refresher: two background threads that keep the queries' model state fresh.

The follower thread polls the change streams (`playlist_vectors`, `models`, `track_vectors`
for provisional tracks, and `playlists` with live quality) and hands each batch to the
`ChangeApplier`, storing resume tokens after;
the builder thread runs the `Loader` (first load, model switches, due rebuilds). A reset
stream (changes may have been missed) makes the builder reload the model.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Protocol

from playlist2vec import store
from serving.changes import ChangeApplier
from serving.follower import ChangeFollower
from serving.loader import Loader
from serving.metrics import ServingMetrics
from serving.options import ServeOptions
from serving.quality import LiveQuality
from serving.queries import Queries
from serving.source import MongoSource
from serving.state import ModelState

log = logging.getLogger(__name__)

FOLLOW, BUILD = "p2v-follow", "p2v-build"


class Background(Protocol):
    """What the HTTP app needs from whatever keeps the state fresh."""

    def start(self) -> None: ...

    def stop(self) -> None: ...

    def follower_problem(self, max_lag_s: float) -> str | None: ...

    def request_rebuild(self) -> None: ...

    def rebuild_due(self, state: ModelState) -> bool: ...


class Idle:
    """No background at all: the state is whatever is `install`ed (benchmarks, unit tests)."""

    def start(self) -> None:
        pass

    def stop(self) -> None:
        pass

    def follower_problem(self, max_lag_s: float) -> str | None:
        return None

    def request_rebuild(self) -> None:
        pass

    def rebuild_due(self, state: ModelState) -> bool:
        return False


class Refresher:
    """Change streams from MongoDB applied to `queries`' state, plus the builder thread."""

    def __init__(self, source: MongoSource, queries: Queries, options: ServeOptions,
                 metrics: ServingMetrics) -> None:
        self.source = source
        self.options = options
        self.metrics = metrics
        self.loader = Loader(source, queries, options, metrics)
        self.applier = ChangeApplier(self.loader, metrics)
        self.quality: LiveQuality | None = None
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._threads: list[threading.Thread] = []
        self._followers: list[ChangeFollower] = []

    def start(self) -> None:
        """Open the change streams (before loading, so nothing is missed) and start threads."""
        source, instance = self.source, self.options.instance
        collections = [store.PLAYLIST_VECTORS, store.MODELS, store.TRACK_VECTORS]
        if self.options.live_quality:
            collections.append(store.PLAYLISTS)
            self.quality = LiveQuality(self.metrics, source.load_online(instance),
                                       lambda counts: source.save_online(instance, counts))
            self.applier.quality = self.quality
            self.quality.start()
        followers = [ChangeFollower(source, c, instance, self.metrics) for c in collections]
        self._followers = followers
        for follower in followers:
            follower.open()
        self.loader.builder.remove_stale()
        self._threads = [
            threading.Thread(target=self._follow, args=(followers,), name=FOLLOW, daemon=True),
            threading.Thread(target=self._maintain, name=BUILD, daemon=True),
        ]
        for thread in self._threads:
            thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        for thread in self._threads:
            thread.join(timeout=30)
        if self.quality is not None:
            self.quality.stop()

    def follower_problem(self, max_lag_s: float) -> str | None:
        """Why answers may not be fresh (the change-stream follower is dead, stuck or behind by
        more than `max_lag_s`), or None."""
        follow = next((t for t in self._threads if t.name == FOLLOW), None)
        if follow is None or not follow.is_alive():
            return "the change-stream follower is not running"
        for follower in self._followers:
            silent = time.monotonic() - follower.polled_at
            if silent > max_lag_s:
                return f"the {follower.collection} change stream was last read {silent:.0f} s ago"
            if follower.lag_s > max_lag_s:
                return f"the {follower.collection} change stream lags {follower.lag_s:.0f} s"
        return None

    def request_rebuild(self) -> None:
        """Rebuild the playlist snapshot now (in the background)."""
        self.loader.rebuild_requested = True
        self._wake.set()

    def rebuild_due(self, state: ModelState) -> bool:
        return self.loader.rebuild_due(state)

    # -- follower thread -------------------------------------------------------------------

    def _follow(self, followers: list[ChangeFollower]) -> None:
        """Poll every stream in turn. Only the first (playlist vectors, the busy one) may wait for
        a change, and only after a round that found none: an idle stream that waited in every
        round would cap the busy one at `max_batch` changes per wait (3,700/s with two idle
        streams at 0.1 s each, below the stream job's rate)."""
        idle = True
        while not self._stop.is_set():
            busy = False
            for i, follower in enumerate(followers):
                wait = self.options.poll_wait if idle and i == 0 else 0.0
                try:
                    busy |= self._follow_once(follower, wait)
                except Exception:  # keep following; the next poll retries the same batch
                    log.exception("applying %s changes failed", follower.collection)
                    self._stop.wait(1.0)
            idle = not busy
        for follower in followers:
            follower.close()

    def _follow_once(self, follower: ChangeFollower, wait_s: float) -> bool:
        """Poll one stream (waiting up to `wait_s` for a change) and apply what it returns;
        whether it returned any."""
        changes = follower.poll(self.options.max_batch, wait_s, self._stop)
        if follower.reset:
            follower.reset = False
            if follower.collection == store.PLAYLISTS:  # only live quality reads it
                assert self.quality is not None
                self.quality.forget()
            else:
                self.loader.reload_requested = True
                self._wake.set()
        if not changes:
            follower.commit(changes)
            return False
        if follower.collection == store.PLAYLIST_VECTORS:
            self.applier.apply_playlist_vectors(changes)
        elif follower.collection == store.TRACK_VECTORS:
            self.applier.apply_track_vectors(changes)
        elif follower.collection == store.PLAYLISTS:
            self.applier.score_playlists(changes)
        else:
            self._wake.set()  # the builder re-reads the active model (and the ready ones)
        follower.commit(changes)
        return True

    # -- builder thread --------------------------------------------------------------------

    def _maintain(self) -> None:
        while not self._stop.is_set():
            try:
                self.loader.run_once()
            except Exception:  # a failed build keeps the old state serving; retry later
                log.exception("index build failed")
                self._stop.wait(5.0)
            self._wake.wait(timeout=1.0)
            self._wake.clear()
