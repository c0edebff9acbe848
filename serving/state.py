"""The serving state of one model: its track vectors and its track and playlist live indexes."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass

from playlist2vec import foldin
from playlist2vec.recommend import seed_query
from playlist2vec.vectors import FloatArray
from serving.live import LiveIndex


class TrackVectors(Mapping[str, FloatArray]):
    """Raw track vectors by uri (what `recommend.seed_query` averages): the trained ones over
    one matrix, plus the provisional (folded-in) ones the change stream brings and takes away.
    Only the follower thread changes `provisional`, one key at a time; readers see a track
    either with its vector or without it."""

    def __init__(self, uris: Sequence[str], matrix: FloatArray,
                 provisional: Mapping[str, FloatArray] | None = None) -> None:
        self._rows = {uri: row for row, uri in enumerate(uris)}
        self._matrix = matrix
        self.provisional: dict[str, FloatArray] = dict(provisional or {})

    def __getitem__(self, uri: str) -> FloatArray:
        row = self._rows.get(uri)
        return self._matrix[row] if row is not None else self.provisional[uri]

    def __contains__(self, uri: object) -> bool:
        return uri in self._rows or uri in self.provisional

    def __iter__(self) -> Iterator[str]:
        return iter([*self._rows, *list(self.provisional)])

    def __len__(self) -> int:
        return len(self._rows) + len(self.provisional)

    def trained(self, uri: str) -> bool:
        return uri in self._rows

    def averaged(self, seeds: Sequence[str]) -> Sequence[str]:
        """The seeds a query averages: the trained ones, the provisional ones only when no
        seed is trained (`foldin.counted`, the stream's rule for playlist means)."""
        return foldin.counted(seeds, self.trained) if self.provisional else seeds

    def query(self, seeds: Sequence[str]) -> FloatArray | None:
        """A seed list's query vector (None when no seed has a vector)."""
        return seed_query(self.averaged(seeds), self)

    def penalty(self, amount: float) -> Callable[[str], float] | None:
        """`recommend`'s penalty: `amount` off a provisional track's cosine (None, no penalty,
        while there are no provisional tracks or `amount` is 0)."""
        provisional = self.provisional
        if not provisional or not amount:
            return None
        return lambda uri: amount if uri in provisional else 0.0

    def set_provisional(self, uri: str, vector: FloatArray | None) -> bool:
        """Add, change or (None) remove a provisional vector; False (ignored) for a trained
        track, whose vector a provisional one never replaces."""
        if uri in self._rows:
            return False
        if vector is None:
            self.provisional.pop(uri, None)
        else:
            self.provisional[uri] = vector
        return True


@dataclass(frozen=True)
class ModelState:
    version: str
    dim: int
    track_vectors: TrackVectors
    tracks: LiveIndex
    playlists: LiveIndex
