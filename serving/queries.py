"""Queries: answers from the current model state, which the refresher swaps in atomically.

Queries only read references that are replaced whole, so they never wait for the threads
that keep the state fresh; the one database read (a playlist this instance does not hold)
goes through the `Source` protocol.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Any

from playlist2vec.errors import InvalidInput, NotFound, NotReady
from playlist2vec.events import is_canary
from playlist2vec.foldin import PENALTY
from playlist2vec.recommend import Explanation, Scored, explain, recommend
from playlist2vec.vectors import FloatArray
from serving.snapshot import discard
from serving.source import Source, playlist_vector
from serving.state import ModelState


class Queries:
    """Recommendations and similar items from the installed `ModelState`."""

    def __init__(self, source: Source, provisional_penalty: float = PENALTY) -> None:
        self.source = source
        self.provisional_penalty = provisional_penalty
        self._current: ModelState | None = None

    @property
    def ready(self) -> bool:
        return self._current is not None

    @property
    def current(self) -> ModelState | None:
        """The installed state, None before the first load."""
        return self._current

    def state(self) -> ModelState:
        state = self._current
        if state is None:
            raise NotReady("no index loaded yet")
        return state

    def install(self, state: ModelState) -> None:
        """Make `state` current (used by the refresher and by in-process benchmarks)."""
        old, self._current = self._current, state
        if old is not None and old is not state:
            discard(old.tracks.snapshot)
            discard(old.playlists.snapshot)

    def recommend_tracks(self, seeds: Sequence[str], k: int, explain_top: int = 0,
                         include_provisional: bool = True
                         ) -> tuple[str, list[Scored], list[Explanation]]:
        """Tracks continuing a seed list (seeds excluded), best first, and with `explain_top`
        > 0 each one's score split over the seeds (from the same model state); provisional
        (folded-in) tracks among them unless `include_provisional` is false. The query averages
        the trained seeds, the provisional ones only when none is trained (`TrackVectors.query`)."""
        state = self.state()
        query = state.track_vectors.query(seeds)
        if query is None:
            return state.version, [], []
        scored = recommend(query, seeds, state.tracks.search, k,
                           *self._provisional_rules(state, include_provisional))
        explained = (explain(state.track_vectors.averaged(seeds), state.track_vectors,
                             [s.item for s in scored], explain_top) if explain_top > 0 else [])
        return state.version, scored, explained

    def similar_tracks(self, uri: str, k: int, include_provisional: bool = True
                       ) -> tuple[str, list[Scored]]:
        state = self.state()
        if uri not in state.track_vectors:
            raise NotFound(f"track {uri} is not in model {state.version}")
        return state.version, recommend(state.track_vectors[uri], [uri], state.tracks.search, k,
                                        *self._provisional_rules(state, include_provisional))

    def provisional(self, uris: Iterable[str]) -> set[str]:
        """Those of `uris` the served model knows only provisionally (folded in by the stream)."""
        state = self._current
        return set() if state is None else {u for u in uris if u in state.track_vectors.provisional}

    def _provisional_rules(self, state: ModelState, include: bool
                           ) -> tuple[Callable[[Any], bool] | None, Callable[[Any], float] | None]:
        """(`keep`, `penalty`) of `recommend` for track candidates: without provisional tracks
        (`include` false) keep only trained ones; with them, subtract the provisional penalty
        from theirs (nothing at all while there are none, or when it is 0)."""
        if not include:
            return state.track_vectors.trained, None
        return None, state.track_vectors.penalty(self.provisional_penalty)

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
        try:
            return playlist_vector(self.source.playlist_vector_docs(version, [pid]).get(pid),
                                   version)
        except LookupError:
            return None


def _not_canary(pid: Any) -> bool:
    return not is_canary(pid)
