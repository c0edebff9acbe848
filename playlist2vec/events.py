"""The playlist event contract (ARCHITECTURE.md, topic `playlists`): limits, reasons, validation.

`parse_event` is the one definition: the streaming job runs it on the executors, producers and
tests call it directly. Each rule's reason is a constant, so dead letters can be grouped by it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from playlist2vec.errors import InvalidInput

MAX_TRACKS = 10_000
MAX_TRACK_CHARS = 256
# JSON integers must fit MongoDB's and Spark's 64-bit integers.
INT64 = range(-(2**63), 2**63)

BAD_TOMBSTONE = "tombstone without a decimal pid key"
BAD_JSON = "bad JSON"
NOT_OBJECT = "event is not a JSON object"
BAD_PID = "pid missing or not an integer"
NEGATIVE_PID = "pid is negative"
KEY_MISMATCH = "key does not match pid"
BAD_MODIFIED_AT = "modified_at missing or not an integer"
BAD_NAME = "name missing or not a string"
BAD_TRACKS = "tracks missing or not a list"
TOO_MANY_TRACKS = f"more than {MAX_TRACKS} tracks"
BAD_TRACK = f"a track is not a string of at most {MAX_TRACK_CHARS} characters"
BAD_COLLABORATIVE = "collaborative is not a boolean"
BAD_FOLLOWERS = "num_followers is not an integer"
BAD_TRACK_META = "track_meta is not a list of objects"

TRACK_META_FIELDS = (
    "track_uri",
    "track_name",
    "artist_name",
    "artist_uri",
    "album_name",
    "album_uri",
    "duration_ms",
)


@dataclass(frozen=True)
class PlaylistEvent:
    """A validated event: a full snapshot of a playlist, or its deletion."""

    pid: int
    modified_at: int
    deleted: bool = False
    name: str = ""
    tracks: tuple[str, ...] = ()
    collaborative: bool | None = None
    num_followers: int | None = None
    track_meta: tuple[dict[str, Any], ...] = field(default=())

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


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value in INT64


def parse_event(key: bytes | None, value: bytes | None, timestamp_s: int) -> PlaylistEvent:
    """The event, or InvalidInput naming the rule broken.

    A tombstone (null value) deletes the pid in its key; having no `modified_at` of its own, it
    takes the Kafka record's timestamp (`timestamp_s`), which a replay repeats unchanged.
    """
    if value is None:
        if key is None or not key.isdigit() or int(key) not in INT64:
            raise InvalidInput(BAD_TOMBSTONE)
        return PlaylistEvent(pid=int(key), modified_at=timestamp_s, deleted=True)
    try:
        body = json.loads(value)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InvalidInput(f"{BAD_JSON}: {exc}") from None
    if not isinstance(body, dict):
        raise InvalidInput(NOT_OBJECT)
    pid, modified_at = body.get("pid"), body.get("modified_at")
    if not _is_int(pid):
        raise InvalidInput(BAD_PID)
    if pid < 0:
        raise InvalidInput(NEGATIVE_PID)
    if key is not None and key != str(pid).encode():
        raise InvalidInput(KEY_MISMATCH)
    if not _is_int(modified_at):
        raise InvalidInput(BAD_MODIFIED_AT)
    if body.get("deleted") is True:
        return PlaylistEvent(pid=pid, modified_at=modified_at, deleted=True)
    name, tracks = body.get("name"), body.get("tracks")
    if not isinstance(name, str):
        raise InvalidInput(BAD_NAME)
    if not isinstance(tracks, list):
        raise InvalidInput(BAD_TRACKS)
    if len(tracks) > MAX_TRACKS:
        raise InvalidInput(TOO_MANY_TRACKS)
    if not all(isinstance(t, str) and len(t) <= MAX_TRACK_CHARS for t in tracks):
        raise InvalidInput(BAD_TRACK)
    collaborative, followers = body.get("collaborative"), body.get("num_followers")
    if collaborative is not None and not isinstance(collaborative, bool):
        raise InvalidInput(BAD_COLLABORATIVE)
    if followers is not None and not _is_int(followers):
        raise InvalidInput(BAD_FOLLOWERS)
    meta = body.get("track_meta") or []
    if not isinstance(meta, list) or not all(isinstance(m, dict) for m in meta):
        raise InvalidInput(BAD_TRACK_META)
    return PlaylistEvent(
        pid=pid,
        modified_at=modified_at,
        name=name,
        tracks=tuple(tracks),
        collaborative=collaborative,
        num_followers=followers,
        track_meta=tuple({k: m.get(k) for k in TRACK_META_FIELDS if k in m} for m in meta),
    )
