"""Realistic playlist event streams from MPD slices: creations, then edits, renames, moves, deletions.

Pure (a seeded RNG and a clock come in), so tests know the final state a stream leads to.
"""

from __future__ import annotations

import json
import random
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from playlist2vec.errors import InvalidInput
from playlist2vec.events import MAX_TRACKS, TRACK_META_FIELDS

EDIT_KINDS = ("add", "remove", "move", "rename")
INVALID_KINDS = ("bad_json", "wrong_type", "negative_pid", "too_many_tracks", "non_string_track",
                 "key_mismatch", "bad_tombstone_key")


@dataclass(frozen=True)
class SimEvent:
    kind: str  # create, an EDIT_KINDS entry, delete, or invalid:<INVALID_KINDS entry>
    key: bytes | None
    value: bytes | None  # None: a tombstone
    pid: int


def read_slices(path: Path) -> Iterator[dict[str, Any]]:
    """The playlists of an MPD slice file, or of every `*.json` slice in a folder (sorted)."""
    files = sorted(path.glob("*.json")) if path.is_dir() else [path]
    if not files or not all(f.is_file() for f in files):
        raise InvalidInput(f"no MPD slice files at {path}")
    for file in files:
        try:
            playlists = json.loads(file.read_text())["playlists"]
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise InvalidInput(f"{file} is not an MPD slice: {exc}") from None
        yield from playlists


def _meta(track: Mapping[str, Any]) -> dict[str, Any]:
    return {k: track[k] for k in TRACK_META_FIELDS if k in track}


@dataclass
class _State:
    name: str
    tracks: list[str]
    modified_at: int
    extra: dict[str, Any] = field(default_factory=dict)


def _snapshot(pid: int, state: _State, meta: list[dict[str, Any]] | None = None) -> bytes:
    body: dict[str, Any] = {"pid": pid, "name": state.name, "tracks": state.tracks,
                            "modified_at": state.modified_at, **state.extra}
    if meta:
        body["track_meta"] = meta
    return json.dumps(body, separators=(",", ":")).encode()


def _collaborative(value: Any) -> bool | None:
    # MPD writes "true"/"false" strings; the event contract wants a boolean
    return value in (True, "true") if value is not None else None


class Simulator:
    """Creations of the given playlists, then `n_edits` edits and `n_deletes` deletions of random
    live playlists, with `invalid` (a fraction of all events) malformed events mixed in.

    `modified_at` only grows per pid (max(previous + 1, clock())), so the final state is the
    last event per pid; `expected()` returns it.
    """

    def __init__(self, playlists: list[dict[str, Any]], rng: random.Random, n_edits: int,
                 n_deletes: int, invalid: float = 0.0, clock: Callable[[], float] | None = None) -> None:
        self.playlists = playlists
        self.rng = rng
        self.n_edits = n_edits
        self.n_deletes = n_deletes
        self.invalid = invalid
        self.clock = clock or time.time
        self.state: dict[int, _State | None] = {}
        self.pool = sorted({t["track_uri"] for p in playlists for t in p.get("tracks", [])})
        self.meta = {t["track_uri"]: _meta(t) for p in playlists for t in p.get("tracks", [])}

    def __iter__(self) -> Iterator[SimEvent]:
        for event in self._valid():
            while self.invalid and self.rng.random() < self.invalid:
                yield self._invalid()
            yield event

    def expected(self) -> dict[int, dict[str, Any] | None]:
        """pid -> final {name, tracks, modified_at}, or None if deleted (after iterating)."""
        return {pid: None if s is None else {"name": s.name, "tracks": list(s.tracks),
                                             "modified_at": s.modified_at}
                for pid, s in self.state.items()}

    def _now(self, previous: int) -> int:
        return max(previous + 1, int(self.clock()))

    def _valid(self) -> Iterator[SimEvent]:
        for p in self.playlists:
            pid = int(p["pid"])
            extra = {"collaborative": _collaborative(p.get("collaborative")),
                     "num_followers": p.get("num_followers")}
            state = _State(name=str(p.get("name", "")), tracks=[t["track_uri"] for t in p.get("tracks", [])],
                           modified_at=int(p.get("modified_at") or self.clock()),
                           extra={k: v for k, v in extra.items() if v is not None})
            self.state[pid] = state
            meta = [_meta(t) for t in p.get("tracks", [])]
            yield SimEvent("create", str(pid).encode(), _snapshot(pid, state, meta), pid)
        changes = ["edit"] * self.n_edits + ["delete"] * self.n_deletes
        self.rng.shuffle(changes)
        for change in changes:
            live = [pid for pid, s in self.state.items() if s is not None]
            if not live:
                return
            pid = self.rng.choice(live)
            yield self._delete(pid) if change == "delete" else self._edit(pid)

    def _edit(self, pid: int) -> SimEvent:
        state = self.state[pid]
        assert state is not None
        kind = self.rng.choice(EDIT_KINDS)
        meta: list[dict[str, Any]] = []
        if kind == "add" and self.pool and len(state.tracks) < MAX_TRACKS:
            track = self.rng.choice(self.pool)
            state.tracks.insert(self.rng.randint(0, len(state.tracks)), track)
            meta = [self.meta[track]]
        elif kind == "remove" and state.tracks:
            state.tracks.pop(self.rng.randrange(len(state.tracks)))
        elif kind == "move" and len(state.tracks) > 1:
            track = state.tracks.pop(self.rng.randrange(len(state.tracks)))
            state.tracks.insert(self.rng.randint(0, len(state.tracks)), track)
        else:
            kind = "rename"
            state.name = f"{state.name.split(' #')[0]} #{self.rng.randint(1, 999)}"
        state.modified_at = self._now(state.modified_at)
        return SimEvent(kind, str(pid).encode(), _snapshot(pid, state, meta), pid)

    def _delete(self, pid: int) -> SimEvent:
        state = self.state[pid]
        assert state is not None
        self.state[pid] = None
        now = int(self.clock())
        if now > state.modified_at and self.rng.random() < 0.5:
            # a tombstone's modified_at is its Kafka timestamp (send time, >= now)
            return SimEvent("delete", str(pid).encode(), None, pid)
        body = {"pid": pid, "deleted": True, "modified_at": self._now(state.modified_at)}
        return SimEvent("delete", str(pid).encode(), json.dumps(body).encode(), pid)

    def _invalid(self) -> SimEvent:
        kind = self.rng.choice(INVALID_KINDS)
        pid = self.rng.randint(0, 10**9)
        track = self.pool[0] if self.pool else "spotify:track:0"
        body: dict[str, Any] = {"pid": pid, "name": "x", "tracks": [track], "modified_at": 1}
        key: bytes | None = str(pid).encode()
        value: bytes | None
        if kind == "bad_json":
            value = b'{"pid": %d, "name": ' % pid
        elif kind == "wrong_type":
            value = json.dumps(body | {"modified_at": "yesterday"}).encode()
        elif kind == "negative_pid":
            key, value = str(-pid - 1).encode(), json.dumps(body | {"pid": -pid - 1}).encode()
        elif kind == "too_many_tracks":
            value = json.dumps(body | {"tracks": [track] * (MAX_TRACKS + 1)}).encode()
        elif kind == "non_string_track":
            value = json.dumps(body | {"tracks": [track, 42]}).encode()
        elif kind == "key_mismatch":
            key, value = str(pid + 1).encode(), json.dumps(body).encode()
        else:
            key, value = b"not-a-pid", None
        return SimEvent(f"invalid:{kind}", key, value, pid)
