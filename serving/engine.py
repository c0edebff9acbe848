"""The serving engine: answers queries from the current model state and keeps it fresh.

Two background threads: the follower applies `playlist_vectors` and `models` changes to the
delta, or straight into an index that accepts updates (and stores resume tokens); the
builder loads the first state, rebuilds a snapshot-only playlist index when it is old or the
delta is large (an updatable one only on request), and switches models. Queries only read
references that are swapped atomically, so they never wait for either thread.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from playlist2vec import store
from playlist2vec.errors import InvalidInput, NotFound, NotReady
from playlist2vec.events import is_canary
from playlist2vec.foldin import PENALTY
from playlist2vec.recommend import Explanation, Scored, explain, recommend, seed_query
from playlist2vec.vectors import FloatArray
from serving import indexes
from serving.follower import ChangeFollower
from serving.indexes import IndexParams
from serving.live import LiveIndex
from serving.metrics import ServingMetrics
from serving.quality import LiveQuality, Scorer
from serving.shard import Shard
from serving.source import MongoSource, playlist_vector, provisional_vector
from serving.state import ModelState, SnapshotBuilder, TrackVectors, discard

log = logging.getLogger(__name__)

TRACKS, PLAYLISTS = "tracks", "playlists"


@dataclass(frozen=True)
class ServeOptions:
    indexes_dir: Path
    strategy: str = "annoy"
    params: IndexParams = field(default_factory=IndexParams)
    rebuild_interval: float = 300.0
    rebuild_max_delta: int = 10_000
    instance: str = "serving"
    shard: Shard | None = None
    poll_wait: float = 0.1
    max_batch: int = 1_000
    live_quality: bool = False
    provisional_penalty: float = PENALTY  # P2V_FOLD_IN_PENALTY

    def __post_init__(self) -> None:
        indexes.check(self.strategy)  # at start, not in the builder thread


class Engine:
    """Current model state + the threads that keep it fresh."""

    def __init__(self, source: MongoSource | None, options: ServeOptions,
                 metrics: ServingMetrics) -> None:
        self.source = source
        self.options = options
        self.metrics = metrics
        self.builder = SnapshotBuilder(options.strategy, options.params, options.indexes_dir,
                                       options.instance)
        self._current: ModelState | None = None
        self._pending: ModelState | None = None
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._rebuild_requested = False
        self._reload_requested = False
        self._threads: list[threading.Thread] = []
        self._followers: list[ChangeFollower] = []
        self.quality: LiveQuality | None = None
        self._shadows: dict[str, tuple[Scorer, LiveIndex]] = {}

    # -- queries ---------------------------------------------------------------------------

    @property
    def ready(self) -> bool:
        return self._current is not None

    def state(self) -> ModelState:
        state = self._current
        if state is None:
            raise NotReady("no index loaded yet")
        return state

    def recommend_tracks(self, seeds: Sequence[str], k: int, explain_top: int = 0,
                         include_provisional: bool = True
                         ) -> tuple[str, list[Scored], list[Explanation]]:
        """Tracks continuing a seed list (seeds excluded), best first, and with `explain_top`
        > 0 each one's score split over the seeds (from the same model state); provisional
        (folded-in) tracks among them unless `include_provisional` is false."""
        state = self.state()
        query = seed_query(seeds, state.track_vectors)
        if query is None:
            return state.version, [], []
        scored = recommend(query, seeds, state.tracks.search, k,
                           None if include_provisional else state.track_vectors.trained,
                           self._penalty(state) if include_provisional else None)
        explained = (explain(seeds, state.track_vectors, [s.item for s in scored], explain_top)
                     if explain_top > 0 else [])
        return state.version, scored, explained

    def similar_tracks(self, uri: str, k: int, include_provisional: bool = True
                       ) -> tuple[str, list[Scored]]:
        state = self.state()
        if uri not in state.track_vectors:
            raise NotFound(f"track {uri} is not in model {state.version}")
        return state.version, recommend(state.track_vectors[uri], [uri], state.tracks.search, k,
                                        None if include_provisional else state.track_vectors.trained,
                                        self._penalty(state) if include_provisional else None)

    def _penalty(self, state: ModelState) -> Callable[[Any], float] | None:
        """What ranking subtracts from each candidate's cosine: the provisional penalty for the
        provisional tracks (none at all while there are none, or when it is 0)."""
        provisional, penalty = state.track_vectors.provisional, self.options.provisional_penalty
        if not provisional or not penalty:
            return None
        return lambda uri: penalty if uri in provisional else 0.0

    def provisional(self, uris: Iterable[str]) -> set[str]:
        """Those of `uris` the served model knows only provisionally (folded in by the stream)."""
        state = self._current
        return set() if state is None else {u for u in uris if u in state.track_vectors.provisional}

    def similar_playlists(self, pid: int, k: int) -> tuple[str, list[Scored]]:
        state = self.state()
        vector = state.playlists.vector(pid)
        if vector is None:  # not served here (another shard's, or removed): ask the database
            vector = self._stored_playlist_vector(pid, state.version)
        if vector is None:
            raise NotFound(f"playlist {pid} has no vector in model {state.version}")
        if vector.shape[0] != state.dim:
            raise InvalidInput(
                f"playlist {pid} vector has dimension {vector.shape[0]}, not {state.dim}")
        # canaries are only ever shown to a canary (the probe), never to a real query
        keep = None if is_canary(pid) else _not_canary
        return state.version, recommend(vector, [pid], state.playlists.search, k,  # type: ignore[list-item]
                                        keep)

    def _stored_playlist_vector(self, pid: int, version: str) -> FloatArray | None:
        if self.source is None:
            return None
        try:
            return playlist_vector(self.source.playlist_vector_docs(version, [pid]).get(pid),
                                   version)
        except LookupError:
            return None

    # -- lifecycle -------------------------------------------------------------------------

    def start(self) -> None:
        """Open the change streams (before loading, so nothing is missed) and start threads."""
        if self.source is None:
            return
        source, instance = self.source, self.options.instance
        collections = [store.PLAYLIST_VECTORS, store.MODELS, store.TRACK_VECTORS]
        if self.options.live_quality:
            collections.append(store.PLAYLISTS)
            self.quality = LiveQuality(self.metrics, source.load_online(instance),
                                       lambda counts: source.save_online(instance, counts))
            self.quality.start()
        followers = [ChangeFollower(source, c, instance, self.metrics) for c in collections]
        self._followers = followers
        for follower in followers:
            follower.open()
        self.builder.remove_stale()
        self._threads = [
            threading.Thread(target=self._follow, args=(followers,), name="p2v-follow",
                             daemon=True),
            threading.Thread(target=self._maintain, name="p2v-build", daemon=True),
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
        if self.source is None:
            return None
        follow = next((t for t in self._threads if t.name == "p2v-follow"), None)
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
        self._rebuild_requested = True
        self._wake.set()

    def install(self, state: ModelState) -> None:
        """Make `state` current (used by the builder thread and by in-process benchmarks)."""
        old, self._current = self._current, state
        if old is not None and old is not state:
            discard(old.tracks.snapshot)
            discard(old.playlists.snapshot)

    # -- follower thread -------------------------------------------------------------------

    def _follow(self, followers: list[ChangeFollower]) -> None:
        while not self._stop.is_set():
            for follower in followers:
                try:
                    self._follow_once(follower)
                except Exception:  # keep following; the next poll retries the same batch
                    log.exception("applying %s changes failed", follower.collection)
                    self._stop.wait(1.0)
        for follower in followers:
            follower.close()

    def _follow_once(self, follower: ChangeFollower) -> None:
        changes = follower.poll(self.options.max_batch, self.options.poll_wait, self._stop)
        if follower.reset:
            follower.reset = False
            if follower.collection == store.PLAYLISTS:  # only live quality reads it
                assert self.quality is not None
                self.quality.forget()
            else:
                self._reload_requested = True
                self._wake.set()
        if not changes:
            follower.commit(changes)
            return
        if follower.collection == store.PLAYLIST_VECTORS:
            self._apply_playlist_changes(changes)
        elif follower.collection == store.TRACK_VECTORS:
            self._apply_track_changes(changes)
        elif follower.collection == store.PLAYLISTS:
            self._score_playlist_changes(changes)
        else:
            self._wake.set()  # the builder re-reads the active model (and the ready ones)
        follower.commit(changes)

    def _apply_playlist_changes(self, changes: Sequence[Mapping[str, Any]]) -> None:
        """Apply each changed `{m, p}` to the state of model m, if it is served or being built;
        changes for any other model are ignored. A pid's last change decides: the document it
        carries, else the one re-read by id. Every change applied to the served model is
        observed once in the freshness histograms, as servable from the moment of the apply."""
        assert self.source is not None
        keys = [store.change_key(c) for c in changes]
        if None in keys:
            log.warning("%d change events carried no id", keys.count(None))
        shard = self.options.shard
        for state in (self._current, self._pending):
            if state is None:
                continue
            mine = [(key["p"], change) for key, change in zip(keys, changes, strict=True)
                    if isinstance(key, Mapping) and key.get("m") == state.version
                    and (shard is None or shard.owns(key["p"]))]
            latest = {pid: store.change_state(change) for pid, change in mine}
            reread = [pid for pid, doc in latest.items() if doc is store.REREAD]
            docs = {pid: doc for pid, doc in latest.items()
                    if doc is not None and doc is not store.REREAD}
            if reread:
                docs |= self.source.playlist_vector_docs(state.version, reread)
            state.playlists.apply(_changes_for(state, set(latest), docs))
            servable_at = time.time()
            self.metrics.delta(PLAYLISTS, state.playlists.delta_size())
            snapshot = state.playlists.snapshot
            if state is self._current:
                if snapshot and snapshot.index.accepts_updates:
                    self.metrics.items(PLAYLISTS, len(snapshot.index))
                self._observe_freshness(mine, docs, servable_at)

    def _apply_track_changes(self, changes: Sequence[Mapping[str, Any]]) -> None:
        """Provisional track vectors of the served (or loading) model: added to, changed in or
        removed from its track vectors and track index. Trained vectors do not change while a
        model is served; other models' changes (a training writing its vectors) are skipped."""
        assert self.source is not None
        keys = [store.change_key(c) for c in changes]
        for state in (self._current, self._pending):
            if state is None:
                continue
            mine = {key["t"]: change for key, change in zip(keys, changes, strict=True)
                    if isinstance(key, Mapping) and key.get("m") == state.version}
            if not mine:
                continue
            docs = self.source.track_vector_docs(state.version, list(mine))
            found: dict[Any, FloatArray | None] = {}
            for uri in mine:
                vector = provisional_vector(docs.get(uri), state.dim)
                held = uri in state.track_vectors.provisional
                # below the minimum support a track changes often and is in no index: skip it
                if (vector is not None or held) and state.track_vectors.set_provisional(uri, vector):
                    found[uri] = vector
            state.tracks.apply(found)
            self.metrics.delta(TRACKS, state.tracks.delta_size())

    def _observe_freshness(self, mine: Sequence[tuple[Any, Mapping[str, Any]]],
                           docs: Mapping[Any, Mapping[str, Any]], servable_at: float) -> None:
        """One observation per change, not per pid: an edit superseded within the same poll
        still travelled Kafka -> MongoDB -> here. A change that carries its document is timed
        by it; an update event by the document re-read for its pid (the newest, so an older
        update superseded in the same poll is timed by its successor's clocks); a hard delete
        carries no clocks and is not observed."""
        timed = []
        for pid, change in mine:
            doc = store.change_state(change)
            if doc is store.REREAD:
                doc = docs.get(pid)
            if doc is not None:
                timed.append(doc)
        self.metrics.servable(timed, servable_at)

    def _score_playlist_changes(self, changes: Sequence[Mapping[str, Any]]) -> None:
        """Hand each playlist's new track list to live quality, with the models to score the
        previous version under: the served one and every shadow (`ready`) one."""
        assert self.quality is not None
        state, shard = self._current, self.options.shard
        active = Scorer(state.version, state.track_vectors, state.tracks.search) if state else None
        shadows = [scorer for scorer, _ in self._shadows.values()
                   if active is None or scorer.version != active.version]
        for change in changes:
            pid = store.change_key(change)
            if pid is None or (shard is not None and not shard.owns(pid)):
                continue
            doc = store.change_state(change)
            # an update event (a tombstone's) leaves the new state unknown: forget the pid
            known = doc is not None and doc is not store.REREAD and not doc.get("deleted")
            self.quality.change(pid, list(doc.get("tracks") or []) if known else None,
                                active, shadows)

    # -- builder thread --------------------------------------------------------------------

    def _maintain(self) -> None:
        while not self._stop.is_set():
            try:
                self._maintain_once()
            except Exception:  # a failed build keeps the old state serving; retry later
                log.exception("index build failed")
                self._stop.wait(5.0)
            self._wake.wait(timeout=1.0)
            self._wake.clear()

    def _maintain_once(self) -> None:
        assert self.source is not None
        version = self.source.active_version()
        current = self._current
        if version is not None and (current is None or current.version != version
                                    or self._reload_requested):
            self._reload_requested = False
            self._load_model(version)
        elif current is not None and self.rebuild_due(current):
            requested, self._rebuild_requested = self._rebuild_requested, False
            # a due rebuild starts from what is served; one asked for re-reads MongoDB
            self._rebuild_playlists(current, from_memory=not requested)
        if self.quality is not None:
            self._refresh_shadows()

    def _refresh_shadows(self) -> None:
        """Load the track side (vectors and index) of each new `ready` model for shadow
        scoring; drop the models no longer ready. The dict is replaced, never changed in
        place: the follower thread reads it."""
        assert self.source is not None
        ready = set(self.source.ready_versions())
        if ready == set(self._shadows):
            return
        shadows = {v: kept for v, kept in self._shadows.items() if v in ready}
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
        dropped, self._shadows = [i for v, (_, i) in self._shadows.items() if v not in ready], shadows
        for index in dropped:
            discard(index.snapshot)

    def rebuild_due(self, state: ModelState) -> bool:
        """Whether the builder rebuilds `state`'s playlist index now."""
        if state.playlists.updatable:  # the index takes every change itself: rebuild on demand
            return self._rebuild_requested
        snapshot = state.playlists.snapshot
        age = time.time() - snapshot.built_at if snapshot else float("inf")
        return (self._rebuild_requested or age >= self.options.rebuild_interval
                or state.playlists.delta_size() > self.options.rebuild_max_delta)

    def _load_model(self, version: str) -> None:
        """Build a whole new state for `version`; the old one answers until the swap."""
        assert self.source is not None
        log.info("loading model %s", version)
        started = time.monotonic()
        uris, matrix = self.source.track_vectors(version)
        matrix = matrix.reshape(len(uris), -1)
        state = ModelState(version, int(matrix.shape[1]), TrackVectors(uris, matrix),
                           LiveIndex(TRACKS), LiveIndex(PLAYLISTS))
        self._pending = state  # from here on the follower feeds its delta too
        try:
            snapshot = self.builder.build(TRACKS, uris, matrix)
            state.tracks.swap(snapshot, 0)
            self._load_provisional(state)
            self.metrics.snapshot_built(TRACKS, len(uris), time.monotonic() - started,
                                        snapshot.built_at)
            self._rebuild_playlists(state)
            self.install(state)
        finally:
            self._pending = None
        log.info("serving model %s: %d tracks", version, len(uris))

    def _load_provisional(self, state: ModelState) -> None:
        """The model's provisional vectors as they are now, into the track index's delta (the
        follower, already feeding this state, applies later changes on top)."""
        assert self.source is not None
        found: dict[Any, FloatArray | None] = {}
        for uri, vector in self.source.provisional_vectors(state.version).items():
            # a track the follower already gave this state holds a newer vector than this read
            if (vector.shape[0] == state.dim and uri not in state.track_vectors.provisional
                    and state.track_vectors.set_provisional(uri, vector)):
                found[uri] = vector
        state.tracks.apply(found)

    def _rebuild_playlists(self, state: ModelState, from_memory: bool = False) -> None:
        assert self.source is not None
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


def _not_canary(pid: Any) -> bool:
    return not is_canary(pid)


def _changes_for(state: ModelState, ids: set[Any], docs: Mapping[Any, Mapping[str, Any]]
                 ) -> dict[Any, FloatArray | None]:
    """Delta entries for one model: the new vector, or None (removed); other models' docs and
    vectors of the wrong dimension are skipped."""
    out: dict[Any, FloatArray | None] = {}
    for pid in ids:
        try:
            vector = playlist_vector(docs.get(pid), state.version)
        except LookupError:
            continue
        if vector is not None and vector.shape[0] != state.dim:
            log.warning("playlist %s vector has dimension %d, not %d: ignored",
                        pid, vector.shape[0], state.dim)
            continue
        out[pid] = vector
    return out
