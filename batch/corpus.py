"""Pure Spark transforms over MPD slices: explicit schemas, record validation, playlists, catalog.

Slices are read typed (`slice_schema`): each playlist straight into its struct, in one JSON
pass. A file with anything the types refuse (a string `pid`, a record that is not an object)
or that is not JSON at all shows up whole in `_corrupt_record`; the reader reads such files
again with each playlist kept as its raw JSON text (`raw_slice_schema`) and parses them one
record at a time (`parse_raw`), so that a malformed record can be named (file and index) and
skipped without losing its neighbours. Both paths parse with the same schema, so a record
reads the same on either.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from playlist2vec.events import MAX_TRACK_CHARS

if TYPE_CHECKING:
    from pyspark.sql import Column, DataFrame
    from pyspark.sql.types import DataType, StructType

CORRUPT = "_corrupt_record"
TRACK_FIELDS = ("track_uri", "track_name", "artist_name", "artist_uri", "album_name", "album_uri")
NOT_JSON = "not valid JSON"


def playlist_schema() -> StructType:
    from pyspark.sql import types as T

    # `pos` first: sort_array orders structs by their fields in order, i.e. by position
    track = T.StructType(
        [T.StructField("pos", T.LongType())]
        + [T.StructField(name, T.StringType()) for name in TRACK_FIELDS]
        + [T.StructField("duration_ms", T.LongType())]
    )
    # only what the batch job uses: a field left out is skipped unread, whatever its type
    return T.StructType([
        T.StructField("pid", T.LongType()),
        T.StructField("name", T.StringType()),
        T.StructField("modified_at", T.LongType()),
        T.StructField("tracks", T.ArrayType(track)),
    ])


def slice_schema() -> StructType:
    """A slice file, every playlist parsed."""
    return _file_schema(playlist_schema())


def raw_slice_schema() -> StructType:
    """A slice file, every playlist kept as its JSON text (for `parse_raw`)."""
    from pyspark.sql import types as T

    return _file_schema(T.StringType())


def _file_schema(playlist: DataType) -> StructType:
    from pyspark.sql import types as T

    return T.StructType([
        T.StructField("playlists", T.ArrayType(playlist)),
        T.StructField(CORRUPT, T.StringType()),
    ])


def parse_raw(files: DataFrame) -> DataFrame:
    """Files read with `raw_slice_schema` -> the shape `slice_schema` reads, record by record:
    a record the schema refuses becomes a null or partial struct, named by `records`."""
    from pyspark.sql import functions as F

    schema = playlist_schema()
    return files.withColumn("playlists", F.transform("playlists", lambda raw: F.from_json(raw, schema)))


def records(files: DataFrame) -> DataFrame:
    """(file, index, problem: why it is malformed, or null, pid, name, modified_at,
    track_meta: the track structs ordered by pos).

    A file that is not a slice at all (or not one `slice_schema` reads) yields one row with a
    null index and its problem.
    """
    from pyspark.sql import functions as F

    exploded = files.select("file", CORRUPT, F.posexplode_outer("playlists").alias("index", "p"))
    p = F.col("p")
    problem = (
        F.when(F.col(CORRUPT).isNotNull(), F.lit(NOT_JSON))
        .when(F.col("index").isNull(), F.lit("no playlists (not an MPD slice)"))
        .otherwise(_problem(p))
    )
    return exploded.select("file", "index", problem.alias("problem"), p["pid"].alias("pid"),
                           p["name"].alias("name"), p["modified_at"].alias("modified_at"),
                           F.sort_array(p["tracks"]).alias("track_meta"))


def _problem(p: Column) -> Column:
    from pyspark.sql import functions as F

    tracks = p["tracks"]
    uri_bad = F.exists(tracks["track_uri"], lambda uri: uri.isNull() | (F.length(uri) == 0)
                       | (F.length(uri) > MAX_TRACK_CHARS))
    pos_missing = F.size(F.array_compact(tracks["pos"])) != F.size(tracks)
    return (
        F.when(p.isNull(), F.lit("not a JSON object"))
        .when(p["pid"].isNull() | (p["pid"] < 0), F.lit("`pid` missing or not a non-negative integer"))
        .when(p["modified_at"].isNull(), F.lit("`modified_at` missing or not an integer"))
        .when(tracks.isNull(), F.lit("`tracks` missing or not a list"))
        .when(pos_missing | uri_bad, F.lit(f"a track without integer `pos` or a "
                                           f"1..{MAX_TRACK_CHARS}-char `track_uri`"))
    )


def playlists(good_records: DataFrame) -> DataFrame:
    """Valid records -> (pid, name, tracks: uris ordered by pos, modified_at, track_meta)."""
    from pyspark.sql import functions as F

    return good_records.select(
        "pid", F.coalesce("name", F.lit("")).alias("name"),
        F.col("track_meta.track_uri").alias("tracks"), "modified_at", "track_meta")


def catalog(corpus: DataFrame) -> DataFrame:
    """One row per distinct track_uri: its occurrences (`count`) and its metadata (the fields of
    TRACK_FIELDS and duration_ms, all of one mention)."""
    from pyspark.sql import functions as F

    meta = [*TRACK_FIELDS[1:], "duration_ms"]
    # count each distinct (uri, metadata) over every mention first (a hash aggregate of counts,
    # a third faster than picking a metadata row per uri there), then collapse per uri
    versions = corpus.select(F.inline("track_meta")).groupBy("track_uri", *meta).count()
    return (versions.groupBy("track_uri")
            .agg(F.sum("count").alias("count"), F.any_value(F.struct(*meta)).alias("m"))
            .select("track_uri", "count", "m.*"))


def track_counts(corpus: DataFrame) -> DataFrame:
    """(track_uri, count): occurrences of each track in the corpus."""
    from pyspark.sql import functions as F

    return corpus.select(F.explode("tracks").alias("track_uri")).groupBy("track_uri").count()


def split_holdout(corpus: DataFrame, fraction: float, seed: int) -> tuple[DataFrame, DataFrame]:
    """(training, hold-out) split of whole playlists, by a seeded hash of the pid (stable)."""
    from pyspark.sql import functions as F

    bucket = F.pmod(F.xxhash64(F.lit(seed), "pid"), F.lit(1_000_000))
    held = bucket < F.lit(round(fraction * 1_000_000))
    return corpus.where(~held), corpus.where(held)
