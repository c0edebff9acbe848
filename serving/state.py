"""The serving state of one model: its track vectors and its track and playlist live indexes."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass

from playlist2vec.vectors import FloatArray
from serving.live import LiveIndex


class TrackVectors(Mapping[str, FloatArray]):
    """Raw track vectors by uri over one matrix (what `recommend.seed_query` averages)."""

    def __init__(self, uris: Sequence[str], matrix: FloatArray) -> None:
        self._rows = {uri: row for row, uri in enumerate(uris)}
        self._matrix = matrix

    def __getitem__(self, uri: str) -> FloatArray:
        return self._matrix[self._rows[uri]]

    def __iter__(self) -> Iterator[str]:
        return iter(self._rows)

    def __len__(self) -> int:
        return len(self._rows)


@dataclass(frozen=True)
class ModelState:
    version: str
    dim: int
    track_vectors: TrackVectors
    tracks: LiveIndex
    playlists: LiveIndex
