"""One Kafka partition's share of a micro-batch, in plain Python: parse, newest per pid, the writes.

The Kafka key is the pid, so every event of a playlist is in one partition and the newest one
is found here without a shuffle. Events are taken in offset order: a snapshot replaces the
current one when its `modified_at` is newer (a stored or earlier deletion wins a tie); a
tombstone deletes whatever the clocks say, with a clock of at least every earlier event's, so
it is ordered after them. What the partition leaves per pid is at most one tombstone and one
snapshot after it; the tombstone is written first, then the snapshot, conditionally. Every
write records the Kafka position it came from (`log`), so a replayed tombstone cannot undo
what a later record of its key wrote.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from pymongo import ReplaceOne, UpdateOne

from playlist2vec import documents, foldin, vectors
from playlist2vec.errors import InvalidInput
from playlist2vec.events import MAX_CLOCK_SKEW_S, MAX_EVENT_BYTES, PlaylistEvent, parse_event
from playlist2vec.vectors import FloatArray
from streaming import fold

SOURCE = "stream"
UNPARSABLE = "unparsable"  # parse_event raised something other than InvalidInput
UNWRITABLE = "unwritable"  # valid JSON that MongoDB cannot store (lone surrogates, huge integers)
REASON_CHARS = 300


@dataclass(frozen=True)
class Record:
    """One Kafka record as the partition task reads it."""

    key: bytes | None
    value: bytes | None
    partition: int
    offset: int
    timestamp_us: int

    @property
    def event_time(self) -> datetime:
        return datetime.fromtimestamp(self.timestamp_us / 1e6, UTC)

    def log(self, topic: str) -> dict[str, Any]:
        return {"topic": topic, "partition": self.partition, "offset": self.offset}


@dataclass(frozen=True)
class Limits:
    """The contract's configurable limits (settings `max_event_bytes`, `max_clock_skew`)."""

    max_bytes: int = MAX_EVENT_BYTES
    max_skew_s: float = MAX_CLOCK_SKEW_S


@dataclass(frozen=True)
class Rejected:
    record: Record
    reason: str


def _storable(event: PlaylistEvent) -> None:
    """Raises if MongoDB could not store the event's free-form text (a lone surrogate, which
    UTF-8 refuses). `parse_event` refuses such events already (its integers are 64-bit by
    then); this check, per event, keeps a case it missed from failing a whole bulk write. One
    UTF-8 encoding of the joined text: 1.2 us for a 40-track event, against 8.9 us to
    BSON-encode its fields."""
    meta = (value for entry in event.track_meta for value in entry.values() if isinstance(value, str))
    "".join((event.name or "", *event.tracks, *meta)).encode()


def parse(record: Record, limits: Limits = Limits()) -> PlaylistEvent | str:
    """The event, or the reason it is a dead letter. Never raises: no input stops the stream."""
    try:
        event = parse_event(record.key, record.value, record.timestamp_us // 1_000_000,
                            max_bytes=limits.max_bytes, max_skew_s=limits.max_skew_s)
    except InvalidInput as exc:
        return str(exc)[:REASON_CHARS]
    except Exception as exc:  # the last line of defence: whatever parse_event misses is one bad event
        return f"{UNPARSABLE}: {type(exc).__name__}: {exc}"[:REASON_CHARS]
    try:
        _storable(event)
    except Exception as exc:
        return f"{UNWRITABLE}: {type(exc).__name__}: {exc}"[:REASON_CHARS]
    return event


@dataclass
class Latest:
    """What one partition's events leave for a pid: the last tombstone (with its clock) and the
    newest snapshot after it, either possibly absent; `n_events` counts every valid event."""

    pid: int
    n_events: int = 0
    tombstone: Record | None = None
    tombstone_clock: int = 0
    event: PlaylistEvent | None = None
    record: Record | None = None
    _row: dict[str, Any] | None = field(default=None, init=False, repr=False, compare=False)

    def row(self, topic: str) -> dict[str, Any]:
        """The builders' row of the snapshot (no vector fields yet), built once: both the
        `playlists` write and every model's vector write start from it."""
        if self._row is None:
            self._row = event_row(self, topic)
        return self._row

    def _clock(self) -> int | None:
        if self.event is not None:
            return self.event.modified_at
        return self.tombstone_clock if self.tombstone is not None else None

    def _beats(self, event: PlaylistEvent) -> bool:
        clock = self._clock()
        if clock is None or event.modified_at > clock:
            return True
        current_deleted = self.event.deleted if self.event is not None else True
        return event.modified_at == clock and (event.deleted or not current_deleted)

    def add(self, event: PlaylistEvent, record: Record) -> None:
        self.n_events += 1
        if record.value is None:  # a tombstone: after everything before it, whatever the clocks say
            clock = self._clock()
            self.tombstone, self.tombstone_clock = record, max(event.modified_at, clock or 0)
            self.event = self.record = self._row = None
        elif self._beats(event):
            self.event, self.record, self._row = event, record, None


def newest_per_pid(records: Iterable[Record], limits: Limits = Limits()
                   ) -> tuple[dict[int, Latest], list[Rejected]]:
    """(pid -> what its events leave, dead letters), taking records in offset order."""
    latest: dict[int, Latest] = {}
    dead: list[Rejected] = []
    for record in sorted(records, key=lambda r: r.offset):
        parsed = parse(record, limits)
        if isinstance(parsed, str):
            dead.append(Rejected(record, parsed))
        else:
            latest.setdefault(parsed.pid, Latest(parsed.pid)).add(parsed, record)
    return latest, dead


@dataclass(frozen=True)
class Model:
    """A model the stream writes vectors for: its version and track index."""

    version: str
    index: vectors.TrackIndex


def tombstones(latest: Iterable[Latest]) -> list[Latest]:
    """The pids with a tombstone to write, in a stable order."""
    return sorted((s for s in latest if s.tombstone is not None), key=lambda s: s.pid)


def tombstone_writes(states: Sequence[Latest], topic: str, now: datetime) -> list[UpdateOne]:
    """The `playlists` deletions of `tombstones(...)`, position for position."""
    return [documents.playlist_delete_write(s.pid, s.tombstone_clock, s.tombstone.log(topic), now)
            for s in states if s.tombstone is not None]


def tombstone_vector_writes(applied: Iterable[Latest], models: Sequence[Model], topic: str,
                            now: datetime) -> list[UpdateOne]:
    """The deletions of every model's vector, for the tombstones whose `playlists` write applied."""
    return [documents.playlist_vector_delete_write(m.version, s.pid, s.tombstone_clock,
                                                   s.tombstone.log(topic), now, SOURCE,
                                                   s.tombstone.event_time)
            for s in applied if s.tombstone is not None for m in models]


def snapshots(latest: Iterable[Latest]) -> list[Latest]:
    """The pids with a snapshot to write, in a stable order."""
    return sorted((s for s in latest if s.event is not None), key=lambda s: s.pid)


def event_row(state: Latest, topic: str) -> dict[str, Any]:
    """The builders' row of a pid's snapshot (no vector fields yet)."""
    event, record = state.event, state.record
    assert event is not None and record is not None
    return {"pid": event.pid, "modified_at": event.modified_at, "deleted": event.deleted,
            "name": event.name, "tracks": list(event.tracks), "collaborative": event.collaborative,
            "num_followers": event.num_followers, "event_time": record.event_time,
            "log": record.log(topic)}


def snapshot_writes(states: Sequence[Latest], topic: str, now: datetime) -> list[ReplaceOne[dict[str, Any]]]:
    """The conditional `playlists` replaces of `snapshots(...)`, position for position."""
    return [documents.playlist_write(s.row(topic), now) for s in states]


@dataclass
class Applied:
    """The vector writes and track metadata of the snapshots that won their `playlists` write."""

    playlist_vectors: list[ReplaceOne[dict[str, Any]]] = field(default_factory=list)
    track_meta: dict[str, Mapping[str, Any]] = field(default_factory=dict)  # uri -> what to $set
    unknown_tracks: int = 0  # track occurrences the first (active) model has no vector for


def applied_writes(applied: Iterable[Latest], models: Sequence[Model], topic: str, now: datetime,
                   subtype: int, provisional: Mapping[str, Mapping[str, FloatArray]] | None = None
                   ) -> Applied:
    """Per model, the mean vector of each applied snapshot (over its trained tracks and, from
    `provisional`, by version, the provisional vectors of the tracks it never saw); and the
    track metadata the snapshots carried."""
    out = Applied()
    events = [s.event for s in applied if s.event is not None]
    rows = [s.row(topic) for s in applied if s.event is not None]
    playlists = [() if e.deleted else e.tracks for e in events]
    for i, model in enumerate(models):
        usable = (provisional or {}).get(model.version, {})
        means, known = model.index.means(playlists)
        foldin.patch_means(playlists, means, known, model.index, usable)
        for row, tracks, vector, n_known in zip(rows, playlists, means, known, strict=True):
            if i == 0:  # a provisional track beside trained ones is known, though not averaged
                out.unknown_tracks += (len(tracks) - n_known if not usable else sum(
                    t not in usable and t not in model.index.rows for t in tracks))
            out.playlist_vectors.append(documents.playlist_vector_write(
                row | {"vector": vector, "n_tracks": len(tracks), "n_known": n_known},
                model.version, now, SOURCE, subtype))
    out.track_meta = documents.track_fields([m for e in events if not e.deleted for m in e.track_meta])
    return out


def fold_targets(tombstoned: Iterable[Latest], applied: Iterable[Latest], topic: str
                 ) -> list[fold.Target]:
    """What each playlist whose tombstone or snapshot write applied contributes now, named by
    the record that decided it (the snapshot when there is one, it came after the tombstone)."""
    last: dict[int, fold.Target] = {}
    for state in tombstoned:
        assert state.tombstone is not None
        last[state.pid] = fold.Target(state.pid, fold.op_id(state.pid, state.tombstone.log(topic)),
                                      None)
    for state in applied:
        event, record = state.event, state.record
        assert event is not None and record is not None
        last[state.pid] = fold.Target(state.pid, fold.op_id(state.pid, record.log(topic)),
                                      None if event.deleted else event.tracks)
    return [last[pid] for pid in sorted(last)]


def outcomes(latest: Iterable[Latest], stale_tombstones: Iterable[int], stale_pids: Iterable[int],
             n_invalid: int) -> dict[str, int]:
    """Events by result: a tombstone deletes unless a later record of its key is stored (a
    replay); a snapshot is applied (or deleted, for a `deleted: true` event) unless its
    conditional write was stale; superseded events are stale. Arguments: the pids whose
    tombstone or snapshot write was stale, and the number of dead letters."""
    stale, stale_deletions = set(stale_pids), set(stale_tombstones)
    counts = {"applied": 0, "deleted": 0, "stale": 0, "invalid": n_invalid}
    for state in latest:
        written = 0
        if state.tombstone is not None:
            counts["stale" if state.pid in stale_deletions else "deleted"] += 1
            written += 1
        if state.event is not None:
            written += 1
            result = "stale" if state.pid in stale else "deleted" if state.event.deleted else "applied"
            counts[result] += 1
        counts["stale"] += state.n_events - written
    return counts
