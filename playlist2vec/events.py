"""The playlist event contract (ARCHITECTURE.md, topic `playlists`): limits, reasons, validation.

`parse_event` is the one definition: the streaming job runs it on the executors, producers and
tests call it directly. Each rule's reason is a constant, so dead letters can be grouped by it.
It is total: whatever bytes arrive as key and value, it returns a PlaylistEvent or raises
InvalidInput, and a returned event holds only what MongoDB, Arrow and Spark accept (64-bit
integers, strings that encode as UTF-8, no nesting beyond the contract's).

Two paths, one contract: a well-formed snapshot (nearly every event) is decoded and
type-checked in C by msgspec against `_Snapshot`, which states the contract's types and
limits; anything it refuses takes the general path, which checks rule by rule and names the
one broken. The typed path only ever accepts what the general path accepts, with the same
result (tested), and costs about a tenth as much.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Annotated, Any, TypedDict

import msgspec

from playlist2vec.errors import InvalidInput

MAX_TRACKS = 10_000
MAX_TRACK_CHARS = 256
MAX_NAME_CHARS = 1_000
"""Names are served back in answers (up to 1,000 per answer): bounded so answers stay small."""
MAX_EVENT_BYTES = 1 << 20
"""Default cap on key + value bytes of one event (setting `max_event_bytes`)."""
MAX_CLOCK_SKEW_S = 300
"""Default seconds a `modified_at` may run ahead of the validator's clock (`max_clock_skew`)."""
# JSON integers must fit MongoDB's and Spark's 64-bit integers.
INT64 = range(-(2**63), 2**63)
INT64_DIGITS = len(str(2**63))

CANARY_PIDS = range(9 * 10**18, 2**63)
"""Pids reserved for canary playlists (`playlist2vec probe`): valid events like any other,
stored and served, but no answer about a non-canary playlist ever returns one."""

TOO_LARGE = "too_large"
BAD_ENCODING = "bad_encoding"
FUTURE_TIMESTAMP = "future_timestamp"
BAD_TOMBSTONE = "tombstone without a decimal pid key"
BAD_JSON = "bad JSON"
NOT_OBJECT = "event is not a JSON object"
BAD_PID = "pid missing or not an integer"
NEGATIVE_PID = "pid is negative"
KEY_MISMATCH = "key does not match pid"
BAD_MODIFIED_AT = "modified_at missing or not an integer"
BAD_NAME = f"name missing or not a string of at most {MAX_NAME_CHARS} characters"
BAD_TRACKS = "tracks missing or not a list"
TOO_MANY_TRACKS = f"more than {MAX_TRACKS} tracks"
BAD_TRACK = f"a track is not a string of at most {MAX_TRACK_CHARS} characters"
BAD_COLLABORATIVE = "collaborative is not a boolean"
BAD_FOLLOWERS = "num_followers is not an integer"
BAD_TRACK_META = "track_meta is not a list of objects with string fields and an integer duration_ms"

TRACK_META_FIELDS = (
    "track_uri",
    "track_name",
    "artist_name",
    "artist_uri",
    "album_name",
    "album_uri",
    "duration_ms",
)


Int64 = Annotated[int, msgspec.Meta(ge=-(2**63), le=2**63 - 1)]


class _TrackMeta(TypedDict, total=False):
    """One `track_meta` entry as the contract types it, decoded by msgspec straight into the
    dict the event keeps (only these keys, in the order the event lists them): 24 us for an
    MPD-shaped event of 40 entries, against 54 us through a Struct and a dict per entry."""

    track_uri: str | None
    track_name: str | None
    artist_name: str | None
    artist_uri: str | None
    album_name: str | None
    album_uri: str | None
    duration_ms: Int64 | None


class _Snapshot(msgspec.Struct):
    """A well-formed snapshot (or deletion) body: the contract's types and limits, checked by
    msgspec while it decodes. Unknown fields are ignored, as the general path ignores them."""

    pid: Annotated[int, msgspec.Meta(ge=0, le=2**63 - 1)]
    modified_at: Int64
    name: Annotated[str, msgspec.Meta(max_length=MAX_NAME_CHARS)]
    tracks: Annotated[list[Annotated[str, msgspec.Meta(max_length=MAX_TRACK_CHARS)]],
                      msgspec.Meta(max_length=MAX_TRACKS)]
    deleted: bool | None = None
    collaborative: bool | None = None
    num_followers: Int64 | None = None
    track_meta: list[_TrackMeta] | None = None


_SNAPSHOT = msgspec.json.Decoder(_Snapshot)


@dataclass(frozen=True)
class PlaylistEvent:
    """A validated event: a full snapshot of a playlist, or its deletion.

    `tombstone` tells a Kafka delete (null value, whose `modified_at` is its record timestamp)
    from a `{"deleted": true}` event: the contract lets a tombstone delete whatever the
    clocks say, while an explicit deletion obeys newer-wins like any snapshot.
    """

    pid: int
    modified_at: int
    deleted: bool = False
    name: str = ""
    tracks: tuple[str, ...] = ()
    collaborative: bool | None = None
    num_followers: int | None = None
    track_meta: tuple[Mapping[str, Any], ...] = field(default=())
    tombstone: bool = False

    def to_json(self) -> bytes:
        if self.deleted:
            body: dict[str, Any] = {"pid": self.pid, "deleted": True, "modified_at": self.modified_at}
        else:
            body = {
                "pid": self.pid,
                "name": self.name,
                "tracks": list(self.tracks),
                "modified_at": self.modified_at,
            }
            if self.collaborative is not None:
                body["collaborative"] = self.collaborative
            if self.num_followers is not None:
                body["num_followers"] = self.num_followers
            if self.track_meta:
                body["track_meta"] = list(self.track_meta)
        return json.dumps(body, separators=(",", ":")).encode()

    @property
    def key(self) -> bytes:
        return str(self.pid).encode()


def is_canary(pid: Any) -> bool:
    """Whether `pid` is in the reserved canary range."""
    return isinstance(pid, int) and pid in CANARY_PIDS


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value in INT64


def encodable(*texts: str) -> bool:
    """Whether the strings encode as UTF-8 (a JSON `\\ud800` escape decodes to a lone surrogate,
    which Python strings hold but UTF-8, BSON and Arrow refuse)."""
    try:
        "".join(texts).encode()
    except UnicodeEncodeError:
        return False
    return True


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _decode(value: bytes) -> Any:
    """The JSON body of a value, or InvalidInput (bad_encoding or bad JSON, never another error)."""
    try:
        text = value.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InvalidInput(f"{BAD_ENCODING}: not UTF-8 at byte {exc.start}") from None
    try:
        return json.loads(text, parse_constant=_no_constant)
    except RecursionError:
        raise InvalidInput(f"{BAD_JSON}: nested too deeply") from None
    except ValueError as exc:  # JSONDecodeError, NaN/Infinity, an integer of > 4,300 digits
        raise InvalidInput(f"{BAD_JSON}: {str(exc)[:200]}") from None


def _pid_key(key: bytes | None) -> int | None:
    """The pid a key names (its canonical decimal form), else None."""
    if key is None or not 0 < len(key) <= INT64_DIGITS or not key.isdigit():
        return None
    pid = int(key)
    return pid if pid in INT64 and str(pid).encode() == key else None


def _track_meta(meta: Any) -> tuple[Mapping[str, Any], ...]:
    if not isinstance(meta, list) or not all(isinstance(m, dict) for m in meta):
        raise InvalidInput(BAD_TRACK_META)
    kept = tuple({k: m[k] for k in TRACK_META_FIELDS if k in m} for m in meta)
    texts: list[str] = []
    for entry in kept:
        for name, item in entry.items():
            if item is None:
                continue
            if not (_is_int(item) if name == "duration_ms" else isinstance(item, str)):
                raise InvalidInput(BAD_TRACK_META)
            if isinstance(item, str):
                texts.append(item)
    if not encodable(*texts):
        raise InvalidInput(f"{BAD_ENCODING}: track_meta holds a lone surrogate")
    return kept


def parse_event(
    key: bytes | None,
    value: bytes | None,
    timestamp_s: int,
    *,
    now: float | None = None,
    max_bytes: int = MAX_EVENT_BYTES,
    max_skew_s: float = MAX_CLOCK_SKEW_S,
) -> PlaylistEvent:
    """The event, or InvalidInput naming the rule broken; never any other exception.

    A tombstone (null value) deletes the pid in its key; having no `modified_at` of its own, it
    takes the Kafka record's timestamp (`timestamp_s`), which a replay repeats unchanged, capped
    at `now + max_skew_s` so that a producer's wrong clock cannot make it outlive later edits
    (a tombstone is never rejected for its clock: the contract says it always deletes). A
    snapshot or explicit deletion whose `modified_at` is beyond `now` (default: the wall clock)
    plus `max_skew_s` is rejected: newer-wins would otherwise freeze its playlist until then.
    Key and value together may hold at most `max_bytes`.
    """
    size = len(key or b"") + len(value or b"")
    if size > max_bytes:
        raise InvalidInput(f"{TOO_LARGE}: {size} bytes, the limit is {max_bytes}")
    horizon = (time.time() if now is None else now) + max_skew_s
    if value is None:
        deleted_pid = _pid_key(key)
        if deleted_pid is None:
            raise InvalidInput(BAD_TOMBSTONE)
        return PlaylistEvent(pid=deleted_pid, modified_at=min(timestamp_s, int(horizon)), deleted=True,
                             tombstone=True)
    try:
        typed = _SNAPSHOT.decode(value)
    except (msgspec.DecodeError, RecursionError):  # ValidationError is a DecodeError
        return _parse_general(key, value, horizon, max_skew_s)
    if key is not None and key != str(typed.pid).encode():
        raise InvalidInput(KEY_MISMATCH)
    _check_clock(typed.modified_at, horizon, max_skew_s)
    if typed.deleted:
        return PlaylistEvent(pid=typed.pid, modified_at=typed.modified_at, deleted=True)
    return PlaylistEvent(pid=typed.pid, modified_at=typed.modified_at, name=typed.name,
                         tracks=tuple(typed.tracks), collaborative=typed.collaborative,
                         num_followers=typed.num_followers,
                         track_meta=tuple(typed.track_meta or ()))


def _check_clock(modified_at: int, horizon: float, max_skew_s: float) -> None:
    if modified_at > horizon:
        raise InvalidInput(f"{FUTURE_TIMESTAMP}: modified_at {modified_at} is more than "
                           f"{max_skew_s:g} s ahead of {int(horizon - max_skew_s)}")


def _parse_general(key: bytes | None, value: bytes, horizon: float, max_skew_s: float) -> PlaylistEvent:
    """Any value the typed path refused: rule by rule, raising the first one broken."""
    body = _decode(value)
    if not isinstance(body, dict):
        raise InvalidInput(NOT_OBJECT)
    pid: Any = body.get("pid")
    modified_at: Any = body.get("modified_at")
    if not _is_int(pid):
        raise InvalidInput(BAD_PID)
    if pid < 0:
        raise InvalidInput(NEGATIVE_PID)
    if key is not None and key != str(pid).encode():
        raise InvalidInput(KEY_MISMATCH)
    if not _is_int(modified_at):
        raise InvalidInput(BAD_MODIFIED_AT)
    _check_clock(modified_at, horizon, max_skew_s)
    if body.get("deleted") is True:
        return PlaylistEvent(pid=pid, modified_at=modified_at, deleted=True)
    name, tracks = body.get("name"), body.get("tracks")
    if not isinstance(name, str) or len(name) > MAX_NAME_CHARS:
        raise InvalidInput(BAD_NAME)
    if not isinstance(tracks, list):
        raise InvalidInput(BAD_TRACKS)
    if len(tracks) > MAX_TRACKS:
        raise InvalidInput(TOO_MANY_TRACKS)
    if not all(isinstance(t, str) and len(t) <= MAX_TRACK_CHARS for t in tracks):
        raise InvalidInput(BAD_TRACK)
    if not encodable(name, *tracks):
        raise InvalidInput(f"{BAD_ENCODING}: name or a track holds a lone surrogate")
    collaborative, followers = body.get("collaborative"), body.get("num_followers")
    if collaborative is not None and not isinstance(collaborative, bool):
        raise InvalidInput(BAD_COLLABORATIVE)
    if followers is not None and not _is_int(followers):
        raise InvalidInput(BAD_FOLLOWERS)
    return PlaylistEvent(
        pid=pid,
        modified_at=modified_at,
        name=name,
        tracks=tuple(tracks),
        collaborative=collaborative,
        num_followers=followers,
        track_meta=_track_meta(body.get("track_meta") or []),
    )
