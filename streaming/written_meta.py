"""The track metadata a worker process has written: events list a track's metadata every time
they list the track, and rewriting the same values into `tracks` is most of the MongoDB writes
of an MPD-shaped stream.

Per process (a Python worker outlives its tasks) and per database, after the write succeeded:
a retried batch after a failed write writes everything again. What it remembers is, per track,
a 64-bit hash of its uri and one of the fields last written, at most `MAX_REMEMBERED` tracks
(then it starts over, and writes each track once more); metadata that changes back to earlier
values is written again. What it assumes: nothing else undoes what the stream wrote to
`tracks` while the worker runs (nothing in playlist2vec deletes a track's metadata; a corpus
load writes the corpus' values, which a later event with other values overwrites as before).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

MAX_REMEMBERED = 500_000  # tracks; a dict of their hashes is about 55 MB

TrackMeta = Mapping[str, Mapping[str, Any]]  # uri -> the fields an event gives it


class WrittenMeta:
    """The fields this process last wrote per track to one database's `tracks`."""

    def __init__(self, limit: int = MAX_REMEMBERED) -> None:
        self.limit = limit
        self._written: dict[int, int] = {}  # hash(uri) -> hash of the fields written

    def unwritten(self, meta: TrackMeta) -> dict[str, Mapping[str, Any]]:
        """The entries of `meta` whose fields differ from those last written (a different order
        of the same fields counts as different: one write too many, never one too few); entries
        without fields are skipped."""
        written = self._written
        return {uri: fields for uri, fields in meta.items()
                if fields and written.get(hash(uri)) != _key(fields)}

    def remember(self, meta: TrackMeta) -> None:
        """Record entries whose write succeeded."""
        if len(self._written) + len(meta) > self.limit:
            self._written.clear()
        self._written.update((hash(uri), _key(fields)) for uri, fields in meta.items())


_BY_DATABASE: dict[tuple[str, str], WrittenMeta] = {}


def for_database(mongo_uri: str, database: str) -> WrittenMeta:
    """This process's memory for one database (a worker may serve several jobs' tasks)."""
    return _BY_DATABASE.setdefault((mongo_uri, database), WrittenMeta())


def _key(fields: Mapping[str, Any]) -> int:
    return hash((tuple(fields), tuple(fields.values())))  # two tuples: cheaper than one of pairs
