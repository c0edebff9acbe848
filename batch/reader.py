"""Read MPD slices into a validated playlist corpus: strict by default, skip-and-count on request."""

from __future__ import annotations

import glob
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from batch import corpus
from playlist2vec.errors import InvalidInput

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, Row, SparkSession


@dataclass(frozen=True)
class Corpus:
    """Valid playlists (pid, name, tracks, modified_at, track_meta), cached, and what was read."""

    playlists: DataFrame
    files: int
    n_playlists: int
    tokens: int
    bad_records: int  # malformed playlists and unreadable files, skipped with skip_bad
    cached: DataFrame  # the parsed records `playlists` derives from, kept in memory

    def release(self) -> None:
        self.cached.unpersist()


def resolve_input(path_or_glob: str) -> list[str]:
    """Local slice files for a file, a folder (its *.json) or a glob; other URIs (s3a://, hdfs://)
    are handed to Spark as they are."""
    scheme = urlsplit(path_or_glob).scheme
    if len(scheme) > 1 and scheme != "file":
        return [path_or_glob]
    local = Path(path_or_glob.removeprefix("file:"))
    pattern = str(local / "*.json") if local.is_dir() else str(local)
    files = sorted(glob.glob(pattern))
    if not files:
        raise InvalidInput(f"no slice files match {path_or_glob}")
    return files


def _display(file: str) -> str:
    return file.removeprefix("file://").removeprefix("file:")


def _stats(records: DataFrame) -> Row:
    from pyspark.sql import functions as F

    ok = F.col("problem").isNull()
    stats = records.agg(
        F.countDistinct("file").alias("files"),
        F.count(F.when(ok, 1)).alias("good"),
        F.count(F.when(~ok, 1)).alias("bad"),
        F.sum(F.when(ok, F.size("track_meta"))).alias("tokens"),
    ).first()
    assert stats is not None  # a global aggregate always has one row
    return stats


def _records(spark: SparkSession, paths: list[str], path_or_glob: str) -> tuple[DataFrame, Row]:
    """The persisted records of every file (parsed in Python, see `batch.slices`) and their stats."""
    from pyspark import StorageLevel
    from pyspark.errors import AnalysisException

    try:
        files = spark.read.format("binaryFile").load(paths)
    except AnalysisException as exc:
        raise InvalidInput(f"cannot read {path_or_glob}: {str(exc).splitlines()[0]}") from None
    records = corpus.records(files).persist(StorageLevel.MEMORY_AND_DISK)
    return records, _stats(records)


def load_corpus(spark: SparkSession, path_or_glob: str, skip_bad: bool = False) -> Corpus:
    """The validated corpus; InvalidInput naming the file (and record) of the first malformed
    record unless `skip_bad`, in which case malformed records are skipped and counted."""
    from pyspark.sql import functions as F

    records, stats = _records(spark, resolve_input(path_or_glob), path_or_glob)
    ok = F.col("problem").isNull()
    if stats["bad"] and not skip_bad:
        first = records.where(~ok).orderBy("file", "index").first()
        records.unpersist()
        assert first is not None
        where = "" if first["index"] is None else f" playlist #{first['index']}:"
        raise InvalidInput(f"{_display(first['file'])}:{where} {first['problem']} "
                           f"({stats['bad']} bad record(s) in all; --skip-bad skips and counts them)")
    if not stats["good"]:
        records.unpersist()
        raise InvalidInput(f"no valid playlists in {path_or_glob}")
    return Corpus(corpus.playlists(records.where(ok)), int(stats["files"]), int(stats["good"]),
                  int(stats["tokens"] or 0), int(stats["bad"]), records)
