"""The builder thread's work: load the active model, rebuild the playlist snapshot when the
rebuild policy says so, and keep the shadow (`ready`) models' track side for live quality.

A new state is built whole and installed into `Queries` in one swap; while it is built it is
`pending`, so the change applier feeds its delta too.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from playlist2vec.vectors import FloatArray
from serving.live import LiveIndex
from serving.metrics import ServingMetrics
from serving.options import ServeOptions
from serving.quality import Scorer
from serving.queries import Queries
from serving.snapshot import Snapshot, SnapshotBuilder, discard
from serving.source import Source
from serving.state import ModelState, TrackVectors

log = logging.getLogger(__name__)

TRACKS, PLAYLISTS = "tracks", "playlists"


class Loader:
    """Loads models into `queries` and rebuilds their playlist snapshots (one thread calls it)."""

    def __init__(self, source: Source, queries: Queries, options: ServeOptions,
                 metrics: ServingMetrics) -> None:
        self.source = source
        self.queries = queries
        self.options = options
        self.metrics = metrics
        self.builder = SnapshotBuilder(options.strategy, options.params, options.indexes_dir,
                                       options.instance)
        self.pending: ModelState | None = None
        self.shadows: dict[str, tuple[Scorer, LiveIndex]] = {}
        self.rebuild_requested = False
        self.reload_requested = False

    def run_once(self) -> None:
        """Load the active model if it is new (or a reload was asked for), else rebuild the
        playlist snapshot if due; then refresh the shadow models when live quality is on."""
        version = self.source.active_version()
        current = self.queries.current
        if version is not None and (current is None or current.version != version
                                    or self.reload_requested):
            self.reload_requested = False
            self.load_model(version)
        elif current is not None and self.rebuild_due(current):
            requested, self.rebuild_requested = self.rebuild_requested, False
            # a due rebuild starts from what is served; one asked for re-reads MongoDB
            self.rebuild_playlists(current, from_memory=not requested)
        if self.options.live_quality:
            self.refresh_shadows()

    def rebuild_due(self, state: ModelState) -> bool:
        """Whether the builder rebuilds `state`'s playlist index now."""
        if state.playlists.updatable:  # the index takes every change itself: rebuild on demand
            return self.rebuild_requested
        snapshot = state.playlists.snapshot
        age = time.time() - snapshot.built_at if snapshot else float("inf")
        return (self.rebuild_requested or age >= self.options.rebuild_interval
                or state.playlists.delta_size() > self.max_delta(snapshot))

    def max_delta(self, snapshot: Snapshot | None) -> float:
        """The delta a snapshot takes before it is rebuilt: `rebuild_max_delta`, or a share of
        the snapshot's size when that is larger. A rebuild costs the whole index, so growing the
        limit with it keeps the rebuild work per change constant; a fixed limit rebuilt a
        100k-playlist index every 2 s at 5,000 changes/s."""
        size = len(snapshot.index) if snapshot is not None else 0
        return max(self.options.rebuild_max_delta, self.options.rebuild_delta_share * size)

    def load_model(self, version: str) -> None:
        """Build a whole new state for `version`; the old one answers until the swap."""
        log.info("loading model %s", version)
        started = time.monotonic()
        uris, matrix = self.source.track_vectors(version)
        matrix = matrix.reshape(len(uris), -1)
        state = ModelState(version, int(matrix.shape[1]), TrackVectors(uris, matrix),
                           LiveIndex(TRACKS), LiveIndex(PLAYLISTS))
        self.pending = state  # from here on the follower feeds its delta too
        try:
            snapshot = self.builder.build(TRACKS, uris, matrix)
            state.tracks.swap(snapshot, 0)
            self.load_provisional(state)
            self.metrics.snapshot_built(TRACKS, len(uris), time.monotonic() - started,
                                        snapshot.built_at)
            self.rebuild_playlists(state)
            self.queries.install(state)
        finally:
            self.pending = None
        log.info("serving model %s: %d tracks", version, len(uris))

    def load_provisional(self, state: ModelState) -> None:
        """The model's provisional vectors as they are now, into the track index's delta (the
        follower, already feeding this state, applies later changes on top)."""
        found: dict[Any, FloatArray | None] = {}
        for uri, vector in self.source.provisional_vectors(state.version).items():
            # a track the follower already gave this state holds a newer vector than this read
            if (vector.shape[0] == state.dim and uri not in state.track_vectors.provisional
                    and state.track_vectors.set_provisional(uri, vector)):
                found[uri] = vector
        state.tracks.apply(found)

    def rebuild_playlists(self, state: ModelState, from_memory: bool = False) -> None:
        started = time.monotonic()
        if from_memory and state.playlists.snapshot is not None:
            through, pids, matrix = state.playlists.freeze()
        else:
            through = state.playlists.mark()
            shard = self.options.shard
            pids, matrix = self.source.playlist_vectors(state.version, shard.owns if shard else None)
        snapshot = self.builder.build(PLAYLISTS, pids, matrix.reshape(len(pids), state.dim))
        snapshot.index.rows()  # /similar looks its query playlist up by id: not on a request
        discard(state.playlists.swap(snapshot, through))
        self.metrics.snapshot_built(PLAYLISTS, len(pids), time.monotonic() - started,
                                    snapshot.built_at)
        self.metrics.delta(PLAYLISTS, state.playlists.delta_size())

    def refresh_shadows(self) -> None:
        """Load the track side (vectors and index) of each new `ready` model for shadow
        scoring; drop the models no longer ready. The dict is replaced, never changed in
        place: the follower thread reads it."""
        ready = set(self.source.ready_versions())
        if ready == set(self.shadows):
            return
        shadows = {v: kept for v, kept in self.shadows.items() if v in ready}
        for version in sorted(ready - set(shadows)):
            uris, matrix = self.source.track_vectors(version)
            if not uris:
                continue
            matrix = matrix.reshape(len(uris), -1)
            index = LiveIndex(f"shadow-{TRACKS}")
            index.swap(self.builder.build(f"shadow-{TRACKS}", uris, matrix), 0)
            shadows[version] = (Scorer(version, TrackVectors(uris, matrix), index.search), index)
            self.metrics.online(version, 0, 0)
            log.info("scoring model %s in shadow: %d tracks", version, len(uris))
        dropped, self.shadows = [i for v, (_, i) in self.shadows.items() if v not in ready], shadows
        for index in dropped:
            discard(index.snapshot)
