"""The training job: read slices -> fit -> artifacts -> writes -> derive -> ready -> catch-up -> active.

Each stage is timed; a failure after the model is registered marks it `failed` with the
stage's name and raises PipelineError, leaving the previously active model in service, its
vectors untouched (every vector is keyed by its model version).
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from batch import corpus, derive, registry, search, word2vec, writes
from batch.metrics import BatchMetrics
from batch.reader import Corpus, load_corpus
from batch.tune import TuneOptions, tune
from batch.word2vec import Word2VecParams
from playlist2vec import reports, spark_vectors, store
from playlist2vec.errors import InvalidInput, PipelineError
from playlist2vec.settings import Settings

if TYPE_CHECKING:
    from pyspark.ml.feature import Word2VecModel
    from pyspark.sql import DataFrame, SparkSession

Progress = Callable[[str], None]


@dataclass(frozen=True)
class TrainOptions:
    input: str
    params: Word2VecParams = field(default_factory=Word2VecParams)
    sample: float | None = None  # train on this fraction of the playlists
    skip_bad: bool = False
    artifact_root: str | None = None  # any Hadoop URI; default P2V_HOME/models
    tune: TuneOptions | None = None  # search the knobs on a validation split first (`params`: trial 1)
    tune_report: Path | None = None  # where a tuned run's report goes (the command writes it)

    @classmethod
    def from_settings(cls, settings: Settings, *, input: str, params: Word2VecParams | None = None,
                      sample: float | None = None, skip_bad: bool = False,
                      artifact_root: str | None = None, tune: bool = False, tune_budget: str = "12",
                      tune_seed: int = 0, tune_subsample: float = 0.25,
                      tune_report: Path | None = None) -> TrainOptions:
        """`train`'s options from its flags: a bad --tune-budget fails here, before Spark starts;
        a tuned run's report path is resolved now (default P2V_HOME/tune/tune-<UTC time>.json)."""
        params = params or Word2VecParams()
        if not tune:
            return cls(input, params, sample=sample, skip_bad=skip_bad, artifact_root=artifact_root)
        return cls(input, params, sample=sample, skip_bad=skip_bad, artifact_root=artifact_root,
                   tune=TuneOptions(search.Budget.parse(tune_budget), tune_seed, tune_subsample),
                   tune_report=tune_report or reports.timestamped(settings.home / "tune", "tune"))


@dataclass
class TrainReport:
    version: str
    corpus: dict[str, int]
    vocab_size: int = 0
    stage_seconds: dict[str, float] = field(default_factory=dict)
    written: dict[str, int] = field(default_factory=dict)
    vector_bytes: dict[str, int] = field(default_factory=dict)
    tuning: dict[str, Any] | None = None
    serving: dict[str, Any] | None = None  # the serve benchmark at this model's size (tuned runs)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    @property
    def total_seconds(self) -> float:
        return sum(self.stage_seconds.values())

    def summary(self) -> str:
        c = self.corpus
        stages = ", ".join(f"{k} {v:.1f}s" for k, v in self.stage_seconds.items())
        written = ", ".join(f"{k} {v}" for k, v in self.written.items())
        skipped = f", {c['bad_records']} bad records skipped" if c.get("bad_records") else ""
        mb = sum(self.vector_bytes.values()) / 1e6
        lines = [f"model {self.version} active: {c['playlists']} playlists, {c['tokens']} tokens"
                 f"{skipped}, vocabulary {self.vocab_size}",
                 f"time {self.total_seconds:.1f}s: {stages}", f"written: {written}",
                 f"vectors: {mb:.1f} MB of float32 ({self.vector_bytes.get('per_vector', 0)} bytes each)"]
        if self.tuning:
            t = self.tuning
            best, pop = t["best_validation"]["scores"], t["popularity"]
            lines.append(f"tuned: trial {t['best_trial'] + 1} of {len(t['trials'])} won, "
                         f"{search.describe(t['best_params'])}; validation R-precision "
                         f"{best['r_precision']:.4f} NDCG {best['ndcg']:.4f} clicks {best['clicks']:.2f} "
                         f"(popularity {pop['r_precision']:.4f} {pop['ndcg']:.4f} {pop['clicks']:.2f})")
        if self.serving:
            s = self.serving
            lines.append(f"serving cost: k=500 p99 {s['k500_http_p99_ms']:.1f} ms over HTTP "
                         f"({s['k500_p99_ms']:.1f} ms in the index), {s['index']} over {s['items']} x "
                         f"{s['dim']} vectors, load {s['load']}")
        return "\n".join(lines)


class Stages:
    """Times named stages and reports them; remembers which stage is running when one fails."""

    def __init__(self, progress: Progress) -> None:
        self.seconds: dict[str, float] = {}
        self.progress = progress
        self.current = ""

    @contextmanager
    def __call__(self, name: str) -> Iterator[None]:
        self.progress(f"{name} ...")
        self.current = name
        started = time.monotonic()
        try:
            yield
        except InvalidInput:
            raise
        except Exception as exc:
            raise PipelineError(f"stage {name} failed: {error_line(exc)}") from exc
        self.seconds[name] = time.monotonic() - started
        self.progress(f"{name} done in {self.seconds[name]:.1f}s")


def error_line(exc: BaseException) -> str:
    """One readable line for an exception, digging the Python error out of a Spark task failure."""
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    # a failed Python task reports its traceback; the line naming the exception is the useful one
    raised = [line for line in lines if line.split(":", 1)[0].rsplit(".", 1)[-1].endswith(
        ("Error", "Exception")) and not line.startswith(("at ", "File "))]
    text = raised[-1] if raised else (lines[0] if lines else type(exc).__name__)
    return text[:500]


def train(settings: Settings, spark: SparkSession, options: TrainOptions,
          sink: writes.Sink | None = None, progress: Progress = print,
          stages: Stages | None = None) -> TrainReport:
    """Run the whole job on `options.input` (tuning the knobs first if asked); returns what was
    trained and written."""
    stages = stages or Stages(progress)
    if options.tune:
        search.check_in_space(options.params)  # before minutes of reading
    with stages("read"):
        loaded = load_corpus(spark, options.input, options.skip_bad)
    try:
        playlists = loaded.playlists
        if options.sample is not None:
            playlists = playlists.sample(fraction=options.sample, seed=options.params.seed)
        tuning, fitted = None, None
        if options.tune:
            with stages("tune"):
                record, tuning, fitted = tune(playlists, options.params, options.tune, progress)
            options = replace(options, params=record.best_params)
        return train_playlists(settings, playlists, corpus_stats(loaded), options, sink, stages,
                               tuning, fitted)
    finally:
        loaded.release()


def corpus_stats(loaded: Corpus) -> dict[str, int]:
    return {"files": loaded.files, "playlists": loaded.n_playlists, "tokens": loaded.tokens,
            "bad_records": loaded.bad_records}


def train_playlists(settings: Settings, playlists: DataFrame, stats: dict[str, int],
                    options: TrainOptions, sink: writes.Sink | None, stages: Stages,
                    tuning: dict[str, Any] | None = None,
                    fitted: Word2VecModel | None = None) -> TrainReport:
    """Fit on `playlists` (pid, name, tracks, modified_at, track_meta) unless the search
    `fitted` the model already, load them into `playlists`, derive a vector for every live
    playlist there, then switch to the model (ready -> catch-up -> active); `stats` describes
    the corpus and `tuning` the search that chose the knobs, for the registry."""
    from pyspark import StorageLevel

    with store.opened(settings) as db:
        store.ensure_indexes(db)
        now = datetime.now(UTC)
        version = registry.new_version(now)
        root = options.artifact_root or str(settings.models_dir.resolve())
        artifact_uri = f"{root.rstrip('/')}/{version}"
        model = registry.save(db, registry.new_model(now, options.params.as_dict(), artifact_uri,
                                                      version), corpus=stats, tuning=tuning)
        report = TrainReport(version, stats, stage_seconds=stages.seconds, tuning=tuning)
        sink = sink or writes.mongo_sink(settings.mongo_uri.get_secret_value(), settings.mongo_db)
        catalog = corpus.catalog(playlists).persist(StorageLevel.MEMORY_AND_DISK)
        try:
            vectors = _fit_and_save(playlists, catalog, options.params, artifact_uri, stages, fitted)
            report.vocab_size = vectors.count()
            model = registry.save(db, model, vocab_size=report.vocab_size)
            for collection, rows, build in _write_plan(playlists, catalog, vectors, version, now,
                                                       settings):
                with stages(collection):
                    report.written[collection] = sink(rows, collection, build, writes.TOLERATED)
            with stages("derive"):
                model = registry.save(db, model, derive_started_at=datetime.now(UTC))
                report.written[store.PLAYLIST_VECTORS] = _derive(settings, playlists.sparkSession,
                                                                 vectors, version, sink)
            vectors.unpersist()
            report.vector_bytes = vector_bytes(options.params.vector_size, report.vocab_size,
                                               report.written[store.PLAYLIST_VECTORS])
            metrics = {"stage_seconds": dict(stages.seconds), "written": dict(report.written),
                       "vector_bytes": report.vector_bytes}
            model = registry.save(db, model, status=registry.READY, metrics=metrics)
            model = registry.switch(db, model, registry.since(model), settings.vector_subtype, stages)
        except Exception as exc:
            registry.fail(db, model, stages.current, error_line(exc))
            raise PipelineError(f"{error_line(exc)}; model {version} marked failed, "
                                "the active model is unchanged") from exc
        finally:
            catalog.unpersist()
            success = model["status"] == registry.ACTIVE
            published = BatchMetrics()
            published.record(stages.seconds, report.written, stats, report.vocab_size, success)
            published.write(metrics_path(settings))
        return report


def vector_bytes(vector_size: int, tracks: int, playlists: int) -> dict[str, int]:
    """The float32 payload of a model's vectors: its storage cost, and what serving holds."""
    per_vector = 4 * vector_size
    return {"per_vector": per_vector, "track_vectors": per_vector * tracks,
            "playlist_vectors": per_vector * playlists}


def metrics_path(settings: Settings) -> Path:
    """Where the last run's `p2v_batch_*` metrics are written (Prometheus textfile format)."""
    return settings.home / "metrics" / "batch.prom"


def _fit_and_save(playlists: DataFrame, catalog: DataFrame, params: Word2VecParams,
                  artifact_uri: str, stages: Stages,
                  fitted: Word2VecModel | None = None) -> DataFrame:
    """Fit (unless `fitted`), save the Spark model and the vectors (with their counts in the
    `catalog` of `playlists`) as Parquet; the cached vectors."""
    from pyspark import StorageLevel

    model = fitted
    if model is None:
        with stages("fit"):
            model = word2vec.fit(playlists, params)
    with stages("artifacts"):
        model.write().overwrite().save(f"{artifact_uri}/word2vec")
        counts = catalog.select("track_uri", "count")
        vectors = word2vec.track_vectors(model).join(counts, "track_uri")
        vectors.write.mode("overwrite").parquet(f"{artifact_uri}/vectors")
    spark = playlists.sparkSession
    return spark.read.parquet(f"{artifact_uri}/vectors").persist(StorageLevel.MEMORY_AND_DISK)


def _write_plan(playlists: DataFrame, catalog: DataFrame, vectors: DataFrame, version: str,
                now: datetime, settings: Settings) -> list[tuple[str, DataFrame, writes.OpsBuilder]]:
    """(collection, rows, ops builder), in order: the model's track vectors, the corpus'
    track metadata (its `catalog`), then the corpus itself into `playlists` (newer stored
    edits win)."""
    return [
        (store.TRACK_VECTORS, vectors,
         functools.partial(writes.build_track_vector_ops, version=version,
                           subtype=settings.vector_subtype)),
        (store.TRACKS, catalog.drop("count"), writes.build_track_ops),
        (store.PLAYLISTS, playlists.select("pid", "name", "tracks", "modified_at"),
         functools.partial(writes.build_playlist_ops, now=now)),
    ]


def _derive(settings: Settings, spark: SparkSession, vectors: DataFrame, version: str,
            sink: writes.Sink) -> int:
    """Write `version`'s vector of every live playlist in `playlists` (read on the executors)."""
    source = derive.PlaylistSource(settings.mongo_uri.get_secret_value(), settings.mongo_db,
                                   parts=max(2, spark.sparkContext.defaultParallelism))
    table = spark_vectors.TrackTable.collect(vectors)
    try:
        build = functools.partial(writes.build_playlist_vector_ops, version=version,
                                  now=datetime.now(UTC), subtype=settings.vector_subtype)
        return sink(derive.derived_vectors(spark, source, table), store.PLAYLIST_VECTORS, build,
                    writes.TOLERATED)
    finally:
        table.destroy()
