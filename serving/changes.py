"""The follower thread's work: apply polled `playlist_vectors` changes to the served and the
pending model state, and hand `playlists` changes to live quality.

A change for a model that is neither served nor being built is ignored; a change carries
its document, or is re-read through the `Source` by id (`store.REREAD`).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping, Sequence
from typing import Any

from playlist2vec import store
from playlist2vec.vectors import FloatArray
from serving.loader import PLAYLISTS, TRACKS, Loader
from serving.metrics import ServingMetrics
from serving.quality import LiveQuality, Scorer
from serving.shard import Shard
from serving.source import playlist_vector, provisional_vector
from serving.state import ModelState

log = logging.getLogger(__name__)


class ChangeApplier:
    """Applies change batches to the states `loader` serves and builds (one thread calls it)."""

    def __init__(self, loader: Loader, metrics: ServingMetrics) -> None:
        self.loader = loader
        self.metrics = metrics
        self.quality: LiveQuality | None = None
        """set by the refresher when live quality is on (it reads `playlists` changes)"""

    @property
    def shard(self) -> Shard | None:
        return self.loader.options.shard

    def apply_playlist_vectors(self, changes: Sequence[Mapping[str, Any]]) -> None:
        """Apply each changed `{m, p}` to the state of model m, if it is served or being built;
        changes for any other model are ignored. A pid's last change decides: the document it
        carries, else the one re-read by id. Every change applied to the served model is
        observed once in the freshness histograms, as servable from the moment of the apply."""
        keys = [store.change_key(c) for c in changes]
        if None in keys:
            log.warning("%d change events carried no id", keys.count(None))
        shard, queries = self.shard, self.loader.queries
        for state in (queries.current, self.loader.pending):
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
                docs |= self.loader.source.playlist_vector_docs(state.version, reread)
            state.playlists.apply(changes_for(state, set(latest), docs))
            servable_at = time.time()
            self.metrics.delta(PLAYLISTS, state.playlists.delta_size())
            snapshot = state.playlists.snapshot
            if state is queries.current:
                if snapshot and snapshot.index.accepts_updates:
                    self.metrics.items(PLAYLISTS, len(snapshot.index))
                self._observe_freshness(mine, docs, servable_at)

    def apply_track_vectors(self, changes: Sequence[Mapping[str, Any]]) -> None:
        """Provisional track vectors of the served (or loading) model: added to, changed in or
        removed from its track vectors and track index. Trained vectors do not change while a
        model is served; other models' changes (a training writing its vectors) are skipped."""
        keys = [store.change_key(c) for c in changes]
        for state in (self.loader.queries.current, self.loader.pending):
            if state is None:
                continue
            mine = {key["t"] for key in keys
                    if isinstance(key, Mapping) and key.get("m") == state.version}
            if not mine:
                continue
            docs = self.loader.source.track_vector_docs(state.version, mine)
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

    def score_playlists(self, changes: Sequence[Mapping[str, Any]]) -> None:
        """Hand each playlist's new track list to live quality, with the models to score the
        previous version under: the served one and every shadow (`ready`) one."""
        assert self.quality is not None
        state, shard = self.loader.queries.current, self.shard
        active = (Scorer(state.version, state.track_vectors, state.tracks.search,
                         self.loader.queries.provisional_penalty) if state else None)
        shadows = [scorer for scorer, _ in self.loader.shadows.values()
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


def changes_for(state: ModelState, ids: set[Any], docs: Mapping[Any, Mapping[str, Any]]
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
