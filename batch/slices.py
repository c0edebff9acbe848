"""MPD slice files -> playlist records, parsed in Python: one typed decode per file, and record
by record only for a file the types refuse.

msgspec decodes a whole slice straight into `_Slice`, every playlist typed and checked in C. A
file it refuses is decoded again with each playlist kept as raw JSON, and each of those is
decoded on its own against the same `_Playlist`, so a malformed record is named (its index and
msgspec's account of it) and its neighbours are kept; a record reads the same either way.

`parse_files` is the body of the reader's mapInArrow task: the (path, content) rows of Spark's
binaryFile source in, one Arrow record batch of RECORDS_SCHEMA per file out. Reading the bytes
is left to Spark, so any Hadoop file system (s3a://, hdfs://) works as a local folder does.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from itertools import pairwise
from operator import attrgetter
from typing import Annotated

import msgspec
import numpy as np
import pyarrow as pa

from playlist2vec.events import MAX_TRACK_CHARS, Int64

NOT_JSON = "not valid JSON"
NOT_A_SLICE = "not an MPD slice"
NO_PLAYLISTS = "no playlists (not an MPD slice)"

TRACK_FIELDS = ("track_uri", "track_name", "artist_name", "artist_uri", "album_name", "album_uri")
TRACK_SCHEMA = pa.struct([("pos", pa.int64()), *((name, pa.string()) for name in TRACK_FIELDS),
                          ("duration_ms", pa.int64())])
RECORDS_SCHEMA = pa.schema([
    ("file", pa.string()),
    ("index", pa.int32()),  # the playlist's place in its file; null for a problem of the whole file
    ("problem", pa.string()),  # why the record (or file) is malformed; null when it is good
    ("pid", pa.int64()),
    ("name", pa.string()),
    ("modified_at", pa.int64()),
    ("track_meta", pa.list_(TRACK_SCHEMA)),  # ordered by pos (ties in file order)
])


class _Track(msgspec.Struct, gc=False):
    pos: Int64
    track_uri: Annotated[str, msgspec.Meta(min_length=1, max_length=MAX_TRACK_CHARS)]
    track_name: str | None = None
    artist_name: str | None = None
    artist_uri: str | None = None
    album_name: str | None = None
    album_uri: str | None = None
    duration_ms: Int64 | None = None


class _Playlist(msgspec.Struct, gc=False):
    """Only what the batch job uses: any other field is skipped unread, whatever its type."""

    pid: Annotated[int, msgspec.Meta(ge=0, le=2**63 - 1)]
    modified_at: Int64
    tracks: list[_Track]
    name: str | None = None


class _Slice(msgspec.Struct, gc=False):
    playlists: list[_Playlist]


class _RawSlice(msgspec.Struct, gc=False):
    playlists: list[msgspec.Raw]


_SLICE = msgspec.json.Decoder(_Slice)
_RAW_SLICE = msgspec.json.Decoder(_RawSlice)
_PLAYLIST = msgspec.json.Decoder(_Playlist)
_POS = attrgetter("pos")


def parse_files(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
    """(path, content) rows -> the records of each file (RECORDS_SCHEMA)."""
    for batch in batches:
        paths, contents = batch.column("path"), batch.column("content")
        for i in range(batch.num_rows):
            yield parse_slice(paths[i].as_py(), memoryview(contents[i].as_buffer()))


def parse_slice(file: str, content: bytes | memoryview) -> pa.RecordBatch:
    """One slice file's records: a row per playlist, or a single row naming what is wrong with
    the whole file (not JSON, not a slice, no playlists)."""
    try:
        playlists = _playlists(content)
    except msgspec.ValidationError as exc:  # a DecodeError too: first
        return _file_problem(file, f"{NOT_A_SLICE}: {exc}")
    except msgspec.DecodeError as exc:
        return _file_problem(file, f"{NOT_JSON}: {exc}")
    if not playlists:
        return _file_problem(file, NO_PLAYLISTS)
    return _records(file, playlists)


def _playlists(content: bytes | memoryview) -> Sequence[_Playlist | str]:
    """Each playlist decoded, or why it is malformed: the whole file in one typed decode, or,
    when the types refuse anything in it, one record at a time."""
    try:
        return _SLICE.decode(content).playlists
    except msgspec.ValidationError:
        return [_decoded_or_problem(record) for record in _RAW_SLICE.decode(content).playlists]


def _decoded_or_problem(record: msgspec.Raw) -> _Playlist | str:
    try:
        return _PLAYLIST.decode(record)
    except msgspec.ValidationError as exc:
        return str(exc)


def _file_problem(file: str, problem: str) -> pa.RecordBatch:
    return pa.RecordBatch.from_pylist(
        [{"file": file, "index": None, "problem": problem, "track_meta": []}], RECORDS_SCHEMA)


def _records(file: str, playlists: Sequence[_Playlist | str]) -> pa.RecordBatch:
    good = [p if isinstance(p, _Playlist) else None for p in playlists]
    tracks = [_ordered(p.tracks) if p else [] for p in good]
    offsets = np.cumsum([0, *map(len, tracks)], dtype=np.int32)
    mentions = [t for listed in tracks for t in listed]
    # a column at a time through an object array: about half the cost of pa.array over lists
    track_meta = pa.ListArray.from_arrays(offsets, pa.StructArray.from_arrays(
        [pa.array(np.fromiter(map(attrgetter(field.name), mentions), object, len(mentions)),
                  field.type) for field in TRACK_SCHEMA],
        fields=list(TRACK_SCHEMA)))
    n = len(playlists)
    return pa.RecordBatch.from_arrays([
        pa.array([file] * n, pa.string()),
        pa.array(range(n), pa.int32()),
        pa.array([None if p else problem for p, problem in zip(good, playlists, strict=True)],
                 pa.string()),
        pa.array([p.pid if p else None for p in good], pa.int64()),
        pa.array([p.name if p else None for p in good], pa.string()),
        pa.array([p.modified_at if p else None for p in good], pa.int64()),
        track_meta,
    ], schema=RECORDS_SCHEMA)


def _ordered(tracks: list[_Track]) -> list[_Track]:
    """`tracks` by pos: as listed when they already are (MPD slices list them in order)."""
    if all(a.pos <= b.pos for a, b in pairwise(tracks)):
        return tracks
    return sorted(tracks, key=_POS)
