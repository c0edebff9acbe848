"""Live recall@500 on real edits (playlist2vec/quality.py has the definition and the stored
shape): remembers each playlist's last track list, and when a change adds tracks scores the
previous version's recommendations under the active model and every shadow model.

Only the track side of a model is needed (the query is the mean of the previous version's
known track vectors, searched in the model's track index), so a shadow model costs its track
vectors and track index, not a playlist index. Track lists are kept for the `capacity` most
recently changed playlists (least recently changed dropped first): an edit of a playlist not
seen changing since serving started (or since it was dropped) seeds its list and is no trial.

The follower thread only updates the lists and queues the trials (cheap); a worker thread
scores them (a k=500 search per model), so scoring never delays freshness. When the worker
falls behind and its queue is full, trials are dropped and counted
(`p2v_online_dropped_total`): live recall is then measured on a sample of the edits.
"""

from __future__ import annotations

import logging
import queue
import sys
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from playlist2vec.events import is_canary
from playlist2vec.quality import LIVE_K
from playlist2vec.recommend import Search, recommend
from serving.metrics import ServingMetrics
from serving.state import TrackVectors

log = logging.getLogger(__name__)

CAPACITY = 100_000
SAVE_EVERY_S = 5.0
QUEUE = 1_000


@dataclass(frozen=True)
class Scorer:
    """What scoring one model needs: its track vectors and its track search."""

    version: str
    track_vectors: TrackVectors
    search: Search
    penalty: float = 0.0  # off a provisional track's cosine, as the served answers rank them

    def hits(self, previous: Sequence[str], added: Sequence[str], k: int) -> int:
        """How many `added` tracks the previous version's top k held (ranked as served)."""
        query = self.track_vectors.query(previous)
        if query is None:
            return 0
        served = {s.item for s in recommend(query, previous, self.search, k,
                                             penalty=self.track_vectors.penalty(self.penalty))}
        return sum(track in served for track in added)


@dataclass(frozen=True)
class _Trial:
    previous: tuple[str, ...]
    added: list[str]
    active: Scorer
    shadows: tuple[Scorer, ...]


class LiveQuality:
    """Per-model counts: remembered track lists, a queue of trials, and the worker that scores
    them and saves the counts every `SAVE_EVERY_S` through `save(counts)`."""

    def __init__(self, metrics: ServingMetrics, stored: Mapping[str, Mapping[str, Any]],
                 save: Callable[[Mapping[str, Any]], None], capacity: int = CAPACITY,
                 k: int = LIVE_K) -> None:
        self.metrics = metrics
        self.capacity = capacity
        self.k = k
        self.counts: dict[str, dict[str, Any]] = {v: dict(c) for v, c in stored.items()}
        self._save = save
        self._tracks: OrderedDict[Any, tuple[str, ...]] = OrderedDict()
        self._queue: queue.Queue[_Trial | None] = queue.Queue(QUEUE)
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._work, name="p2v-quality", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        if self._thread is not None:
            self._queue.put(None)  # after the queued trials: they are scored and saved first
            self._thread.join(timeout=30)

    def forget(self) -> None:
        """Drop every remembered track list (the change stream lost events)."""
        self._tracks.clear()

    def change(self, pid: Any, tracks: Sequence[str] | None, active: Scorer | None,
               shadows: Sequence[Scorer]) -> None:
        """A playlist's new track list (None: deleted, or its new state is unknown)."""
        previous = self._tracks.pop(pid, None)
        if tracks is None or is_canary(pid):
            return
        # interned: every list shares one string per track (a decoded document brings its own)
        self._tracks[pid] = tuple(map(sys.intern, tracks))
        if len(self._tracks) > self.capacity:
            self._tracks.popitem(last=False)
        if previous is None or active is None:
            return
        before = set(previous)
        added = [t for t in dict.fromkeys(tracks) if t not in before]
        if not added:
            return
        try:
            self._queue.put_nowait(_Trial(previous, added, active, tuple(shadows)))
        except queue.Full:
            self.metrics.online_dropped.inc()

    def wait_idle(self) -> None:
        """Block until every queued trial is scored (tests, shutdown)."""
        self._queue.join()

    def _work(self) -> None:
        saved_at, dirty, stop = time.monotonic(), False, False
        while not stop:
            try:
                trial, got = self._queue.get(timeout=SAVE_EVERY_S), True
            except queue.Empty:  # a quiet spell: time to save what is unsaved
                trial, got = None, False
            stop = got and trial is None
            try:
                if trial is not None:
                    self._score(trial)
                    dirty = True
                if dirty and (stop or time.monotonic() - saved_at >= SAVE_EVERY_S):
                    self._save(self.counts)
                    saved_at, dirty = time.monotonic(), False
            except Exception:  # a failed search or save loses this trial, not the worker
                log.exception("live quality scoring failed")
            finally:
                if got:
                    self._queue.task_done()

    def _score(self, trial: _Trial) -> None:
        active, trials = trial.active, len(trial.added)
        active_hits = active.hits(trial.previous, trial.added, self.k)
        self._count(active.version, trials, active_hits)
        for shadow in trial.shadows:
            self._count(shadow.version, trials, shadow.hits(trial.previous, trial.added, self.k),
                        active.version, active_hits)

    def _count(self, version: str, trials: int, hits: int, against: str | None = None,
               against_hits: int = 0) -> None:
        self.metrics.online(version, hits, trials)
        counts = self.counts.setdefault(version, {"trials": 0, "hits": 0})
        if against is not None and counts.get("against") != against:
            # another active model: the comparison starts over on the edits from now on
            counts.update(trials=0, hits=0, against=against, against_hits=0)
        counts["trials"] += trials
        counts["hits"] += hits
        if against is not None:
            counts["against_hits"] += against_hits
