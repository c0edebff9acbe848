"""Pure Spark transforms over MPD slices: the records of slice files, playlists, catalog, split.

Slice files reach Python whole (Spark's binaryFile source) and are parsed there
(`batch.slices`): one typed decode per file, record by record only for a file the types refuse,
so that a malformed record is named (file and index) and skipped without losing its neighbours.
The rest are Spark transforms over those records.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from batch import slices

if TYPE_CHECKING:
    from pyspark.sql import DataFrame


def records(files: DataFrame) -> DataFrame:
    """Slice files (`path`, `content`: the rows of Spark's binaryFile source) -> (file, index,
    problem: why it is malformed, or null, pid, name, modified_at, track_meta: the track structs
    ordered by pos), parsed in Python by `slices.parse_files`.

    A file that is not a slice at all yields one row with a null index and its problem.
    """
    from pyspark.sql.pandas.types import from_arrow_schema

    return files.select("path", "content").mapInArrow(slices.parse_files,
                                                       from_arrow_schema(slices.RECORDS_SCHEMA))


def playlists(good_records: DataFrame) -> DataFrame:
    """Valid records -> (pid, name, tracks: uris ordered by pos, modified_at, track_meta)."""
    from pyspark.sql import functions as F

    return good_records.select(
        "pid", F.coalesce("name", F.lit("")).alias("name"),
        F.col("track_meta.track_uri").alias("tracks"), "modified_at", "track_meta")


def catalog(corpus: DataFrame) -> DataFrame:
    """One row per distinct track_uri: its occurrences (`count`) and its metadata (the fields of
    slices.TRACK_FIELDS and duration_ms, all of one mention)."""
    from pyspark.sql import functions as F

    meta = [*slices.TRACK_FIELDS[1:], "duration_ms"]
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
