"""Fold-in: provisional vectors for tracks a model never saw, from the playlists they appear in.

An unseen track's provisional vector is the mean of the vectors of the known (trained) tracks
it co-occurs with in live playlists, a track listed twice counting twice as in the playlist
mean. It is kept as a float64 `sum` and a count `n` of those known occurrences, plus its
`support`: the number of live playlists that contribute. A playlist contributes the same thing
to each of its distinct unseen tracks (its known tracks' sum and count: a `Contribution`), and
only if it has at least one known track. An edit or a deletion is the difference between what
the playlist contributed before and what it contributes now (`deltas`), so each event updates
the state in O(tracks), and support follows edits and deletions exactly.

A provisional vector is used (written, served, recommended, and averaged into the playlists
and seed lists that hold no trained track: `counted`) from `min_support` playlists on: one
playlist alone would give the track exactly that playlist's mean, and any single user could
put a track into everyone's recommendations.

Pure logic, no I/O: the stream keeps this state in MongoDB (`streaming/fold.py`), evaluation
in memory (`FoldIn`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from playlist2vec.vectors import FloatArray, TrackIndex


@dataclass(frozen=True)
class Contribution:
    """What one playlist adds to each of its unseen tracks: the sum (float64) and number of its
    known track occurrences. Empty (`NONE`) when it has no unseen track or no known one."""

    tracks: tuple[str, ...]  # distinct unseen tracks, in order of first appearance
    sum: FloatArray
    n: int

    @property
    def empty(self) -> bool:
        return not self.tracks


NONE = Contribution((), np.zeros(0, np.float64), 0)

PENALTY = 0.5
"""Subtracted from a provisional track's cosine when candidates are ranked. A provisional
vector is a mean of the vectors around it, so it sits nearer to any query from its
neighbourhood (itself a mean) than the trained vectors there, and would otherwise crowd them
out of the first ranks: without it `evaluate --fold-in` measured the seen tracks' R-precision
falling from 0.167 to 0.024; with 0.5 it is unchanged (0.167) and their recall@500 a little
higher, while the new tracks keep recall@500 0.59 (0.74 unpenalised, 0 without fold-in;
docs/batch.md)."""


def contribution(tracks: Sequence[str], index: TrackIndex) -> Contribution:
    """The contribution of a playlist of `tracks` under a model's trained `index`."""
    rows = [index.rows.get(t, -1) for t in tracks]
    unseen = tuple(dict.fromkeys(t for t, row in zip(tracks, rows, strict=True) if row < 0))
    known = [row for row in rows if row >= 0]
    if not unseen or not known:
        return NONE
    return Contribution(unseen, index.matrix[known].sum(axis=0, dtype=np.float64), len(known))


@dataclass(frozen=True)
class Delta:
    """A change to one track's fold-in state."""

    sum: FloatArray
    n: int
    support: int


def deltas(old: Contribution, new: Contribution) -> dict[str, Delta]:
    """Per track, what replacing `old` by `new` changes (tracks left unchanged are absent)."""
    out: dict[str, Delta] = {t: Delta(-old.sum, -old.n, -1) for t in old.tracks}
    for t in new.tracks:
        before = out.get(t)
        if before is None:
            out[t] = Delta(new.sum, new.n, 1)
        elif before.n == -new.n and np.array_equal(before.sum, -new.sum):
            del out[t]  # contributed the same before and after
        else:
            out[t] = Delta(new.sum + before.sum, new.n + before.n, 0)
    return out


def aggregate(changes: Iterable[Mapping[str, Delta]]) -> dict[str, Delta]:
    """Per track, the sum of several transitions' deltas (a batch's, so each track is written
    once per batch); tracks whose deltas cancel out exactly are absent."""
    out: dict[str, Delta] = {}
    for change in changes:
        for track, d in change.items():
            before = out.get(track)
            out[track] = d if before is None else Delta(before.sum + d.sum, before.n + d.n,
                                                        before.support + d.support)
    return {t: d for t, d in out.items() if d.n or d.support or np.any(d.sum)}


@dataclass
class State:
    """An unseen track's running fold-in state: the float64 sum of its known co-occurring
    vectors, their number `n`, and its support."""

    sum: FloatArray
    n: int = 0
    support: int = 0

    def plus(self, delta: Delta) -> State:
        return State(self.sum + delta.sum, self.n + delta.n, self.support + delta.support)

    def vector(self, min_support: int) -> FloatArray | None:
        return provisional_vector(self.sum, self.n, self.support, min_support)


def provisional_vector(total: FloatArray, n: int, support: int, min_support: int
                       ) -> FloatArray | None:
    """The provisional vector of a track's state, or None below the minimum support."""
    if support < min_support or n <= 0:
        return None
    return (np.asarray(total, np.float64) / n).astype(np.float32)


def counted(tracks: Sequence[str], trained: Callable[[str], bool]) -> Sequence[str]:
    """The tracks a playlist's mean (or a seed list's query) averages: its trained tracks when
    it has any, else all of them (the provisional vectors among them). A provisional vector is
    the mean of its neighbourhood: averaged beside trained vectors it pulls the mean toward
    that neighbourhood's centre, which cost the seen tracks' R-precision in `evaluate
    --fold-in` (docs/batch.md); alone it still gives a playlist of new tracks a vector."""
    known = [t for t in tracks if trained(t)]
    return known or tracks


def patch_means(playlists: Sequence[Sequence[str]], means: list[FloatArray | None],
                known: list[int], index: TrackIndex, provisional: Mapping[str, FloatArray]) -> None:
    """Give, in place, the playlists that hold no trained track but a track with a provisional
    vector the mean over those vectors (and its count), as `counted` has it. The others, most
    of them, are left as `TrackIndex.means` computed them."""
    if not provisional:
        return
    for i, tracks in enumerate(playlists):
        if known[i]:
            continue
        rows = [provisional[t] for t in tracks if t in provisional]
        if rows:
            means[i] = (np.asarray(rows).sum(axis=0, dtype=np.float64) / len(rows)).astype(np.float32)
            known[i] = len(rows)


@dataclass
class FoldIn:
    """Fold-in state in memory, for one model: each playlist's last contribution (the ledger)
    and each unseen track's running state. What the stream keeps in MongoDB, without I/O."""

    index: TrackIndex
    min_support: int
    ledger: dict[int, Contribution] = field(default_factory=dict)
    states: dict[str, State] = field(default_factory=dict)

    def update(self, pid: int, tracks: Sequence[str] | None) -> None:
        """Playlist `pid` now holds `tracks` (None: deleted)."""
        new = NONE if tracks is None else contribution(tracks, self.index)
        old = self.ledger.pop(pid, NONE)
        if not new.empty:
            self.ledger[pid] = new
        for track, delta in deltas(old, new).items():
            state = self.states.get(track, State(np.zeros(self.index.matrix.shape[1]))).plus(delta)
            if state.support == 0:
                self.states.pop(track, None)
            else:
                self.states[track] = state

    def support(self, track: str) -> int:
        state = self.states.get(track)
        return state.support if state else 0

    def vectors(self) -> dict[str, FloatArray]:
        """The provisional vectors in use (support at least the minimum)."""
        out = {}
        for track, state in self.states.items():
            vector = state.vector(self.min_support)
            if vector is not None:
                out[track] = vector
        return out
