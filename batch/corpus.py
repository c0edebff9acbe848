"""Pure Spark transforms over MPD slices: explicit schemas, record validation, playlists, splits.

Slices are read with each playlist kept as its raw JSON text (`FILE_SCHEMA`), then parsed one
record at a time (`PLAYLIST_SCHEMA`), so that a malformed record can be named (file and
index) and skipped without losing its neighbours; a file that is not JSON at all shows up in
`_corrupt_record`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from playlist2vec.events import MAX_TRACK_CHARS

if TYPE_CHECKING:
    from pyspark.sql import Column, DataFrame
    from pyspark.sql.types import StructType

CORRUPT = "_corrupt_record"
TRACK_FIELDS = ("track_uri", "track_name", "artist_name", "artist_uri", "album_name", "album_uri")


def file_schema() -> StructType:
    from pyspark.sql import types as T

    return T.StructType([
        T.StructField("playlists", T.ArrayType(T.StringType())),
        T.StructField(CORRUPT, T.StringType()),
    ])


def playlist_schema() -> StructType:
    from pyspark.sql import types as T

    # `pos` first: sort_array orders structs by their fields in order, i.e. by position
    track = T.StructType(
        [T.StructField("pos", T.LongType())]
        + [T.StructField(name, T.StringType()) for name in TRACK_FIELDS]
        + [T.StructField("duration_ms", T.LongType())]
    )
    return T.StructType([
        T.StructField("pid", T.LongType()),
        T.StructField("name", T.StringType()),
        T.StructField("collaborative", T.StringType()),
        T.StructField("modified_at", T.LongType()),
        T.StructField("num_followers", T.LongType()),
        T.StructField("tracks", T.ArrayType(track)),
    ])


def records(files: DataFrame) -> DataFrame:
    """(file, index, p: parsed playlist struct, problem: why it is malformed, or null).

    A file that is not a slice at all yields one row with a null index and its problem.
    """
    from pyspark.sql import functions as F

    exploded = files.select("file", CORRUPT, F.posexplode_outer("playlists").alias("index", "raw"))
    parsed = exploded.select("file", CORRUPT, "index",
                             F.from_json("raw", playlist_schema()).alias("p"))
    problem = (
        F.when(F.col(CORRUPT).isNotNull(), F.lit("not valid JSON"))
        .when(F.col("index").isNull(), F.lit("no playlists (not an MPD slice)"))
        .otherwise(_problem(F.col("p")))
    )
    return parsed.select("file", "index", "p", problem.alias("problem"))


def _problem(p: Column) -> Column:
    from pyspark.sql import functions as F

    bad_track = F.exists(p["tracks"], lambda t: t["pos"].isNull() | t["track_uri"].isNull()
                         | (F.length(t["track_uri"]) == 0)
                         | (F.length(t["track_uri"]) > MAX_TRACK_CHARS))
    return (
        F.when(p.isNull(), F.lit("not a JSON object"))
        .when(p["pid"].isNull() | (p["pid"] < 0), F.lit("`pid` missing or not a non-negative integer"))
        .when(p["modified_at"].isNull(), F.lit("`modified_at` missing or not an integer"))
        .when(p["tracks"].isNull(), F.lit("`tracks` missing or not a list"))
        .when(bad_track, F.lit(f"a track without integer `pos` or a 1..{MAX_TRACK_CHARS}-char "
                               "`track_uri`"))
    )


def playlists(good_records: DataFrame) -> DataFrame:
    """Valid records -> (pid, name, tracks: uris ordered by pos, modified_at, track_meta)."""
    from pyspark.sql import functions as F

    ordered = F.sort_array("p.tracks")
    return good_records.select(
        F.col("p.pid").alias("pid"),
        F.coalesce("p.name", F.lit("")).alias("name"),
        F.transform(ordered, lambda t: t["track_uri"]).alias("tracks"),
        F.col("p.modified_at").alias("modified_at"),
        F.transform(ordered, lambda t: t.dropFields("pos")).alias("track_meta"),
    )


def catalog(corpus: DataFrame) -> DataFrame:
    """One metadata row per distinct track_uri (fields of TRACK_FIELDS and duration_ms)."""
    from pyspark.sql import functions as F

    return (corpus.select(F.explode("track_meta").alias("t")).select("t.*")
            .dropDuplicates(["track_uri"]))


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
