"""`bench train`: the Spark training path, stage by stage, against gensim on the same corpus.

The corpus is split into training and hold-out playlists; the whole `train` job (read, fit,
artifacts, every MongoDB write, activation) runs on the training part; gensim (an optional
benchmark dependency) then trains skip-gram with Spark's objective (hierarchical softmax, no
sub-sampling) and with negative sampling, at the same dimension, window and epochs. Each model
is scored on the hold-out playlists beside the popularity baseline.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from batch import corpus
from batch.evaluate import (
    collect_holdout,
    format_table,
    popularity,
    score_popularity,
    score_vectors,
)
from batch.generate import generate_corpus
from batch.reader import load_corpus
from batch.scoring import Scores
from batch.train import Stages, TrainOptions, corpus_stats, train_playlists
from batch.word2vec import Word2VecParams
from playlist2vec import reports, store
from playlist2vec.errors import ConfigError
from playlist2vec.settings import Settings

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

GENSIM_VARIANTS = {
    "gensim sg+hs": {"hs": 1, "negative": 0},  # Spark's algorithm
    "gensim sg+ns5": {"hs": 0, "negative": 5},
}


@dataclass(frozen=True)
class BenchOptions:
    playlists: int = 50_000
    input: str | None = None  # default: generate `playlists` into P2V_HOME/bench/corpus-<n>-<seed>
    params: Word2VecParams = field(default_factory=Word2VecParams)
    holdout_fraction: float = 0.02
    seed_tracks: int = 10
    k: int = 500
    seed: int = 0
    gensim_workers: int = 2
    output: Path = field(kw_only=True)  # the report (from_settings: --output or the default path)

    @classmethod
    def from_settings(cls, settings: Settings, *, playlists: int = 50_000, input: str | None = None,
                      params: Word2VecParams | None = None, holdout_fraction: float = 0.02,
                      output: Path | None = None) -> BenchOptions:
        """`bench train`'s options from its flags (the report path resolved now, so it can be shown)."""
        return cls(playlists=playlists, input=input, params=params or Word2VecParams(),
                   holdout_fraction=holdout_fraction,
                   output=reports.output_path(settings, "train", output))


def _gensim() -> Any:
    try:
        from gensim.models import Word2Vec
    except ImportError:
        raise ConfigError("gensim is not installed: pip install 'playlist2vec[bench]'") from None
    return Word2Vec


def fit_gensim(sentences: Sequence[Sequence[str]], params: Word2VecParams, workers: int,
               variant: dict[str, int]) -> tuple[dict[str, np.ndarray], float]:
    """(vectors, fit seconds) of a gensim skip-gram model without sub-sampling."""
    word2vec = _gensim()
    started = time.monotonic()
    model = word2vec(sentences, vector_size=params.vector_size, window=params.window,
                     epochs=params.iterations, min_count=params.min_count, sg=1, sample=0,
                     alpha=params.step_size, seed=params.seed, workers=workers, **variant)
    seconds = time.monotonic() - started
    return {w: model.wv[w] for w in model.wv.index_to_key}, seconds


def bench_corpus(settings: Settings, playlists: int, seed: int,
                 progress: Callable[[str], None]) -> str:
    """The generated corpus of the benchmarks, P2V_HOME/bench/corpus-<n>-<seed> (made once)."""
    folder = settings.home / "bench" / f"corpus-{playlists}-{seed}"
    if not any(folder.glob("*.json")):
        progress(f"generating {playlists} playlists into {folder} ...")
        generate_corpus(playlists, folder, seed)
    return str(folder)


def bench_database(settings: Settings, name: str) -> Settings:
    """`settings` pointed at the benchmark's own, emptied database `<P2V_MONGO_DB>_<name>`: a
    benchmark never registers or activates a model in the user's database."""
    settings = settings.model_copy(update={"mongo_db": f"{settings.mongo_db}_{name}"})
    drop_database(settings)
    return settings


def drop_database(settings: Settings) -> None:
    """Drop a benchmark's database (the local server holds every database in its heap)."""
    with store.opened(settings) as db:
        db.client.drop_database(settings.mongo_db)


def bench_train(settings: Settings, spark: SparkSession, options: BenchOptions,
                progress: Callable[[str], None] = print) -> dict[str, Any]:
    """Run the benchmark in the database `<P2V_MONGO_DB>_bench_train` (dropped first and at the
    end); write the report (playlist2vec.reports) and return its results (what `report_lines`
    prints)."""
    _gensim()  # fail before the long part if the optional dependency is missing
    report = reports.BenchReport("train", options)
    settings = bench_database(settings, "bench_train")
    params = options.params
    stages = Stages(progress)
    source = options.input or bench_corpus(settings, options.playlists, options.seed, progress)
    with stages("read"):
        loaded = load_corpus(spark, source)
    try:
        training, holdout = corpus.split_holdout(loaded.playlists, options.holdout_fraction,
                                                     options.seed)
        cases = collect_holdout(holdout, options.seed_tracks)
        stats = corpus_stats(loaded) | {"holdout_playlists": len(cases)}
        ranked = popularity(training, options.k + options.seed_tracks)
        sentences = [row["tracks"] for row in training.select("tracks").toLocalIterator()]
        tokens = sum(len(s) for s in sentences)
        scores: dict[str, Scores] = {"popularity": score_popularity(cases, ranked, options.k)}
        fits: dict[str, float] = {}
        # gensim first: its numbers are in hand even if the MongoDB writes below take long
        for name, variant in GENSIM_VARIANTS.items():
            progress(f"{name} ...")
            vectors, fits[name] = fit_gensim(sentences, params, options.gensim_workers, variant)
            scores[name] = score_vectors(cases, vectors, options.k)
            progress(f"{name}: fit {fits[name]:.1f}s, R-precision {scores[name].r_precision:.4f}")
        del sentences
        train_report = train_playlists(settings, training, stats, TrainOptions(source, params),
                                       None, stages)
    finally:
        loaded.release()
    fits["spark word2vec"] = stages.seconds["fit"]
    try:
        with store.opened(settings) as db:
            uris, matrix = store.load_track_vectors(db, train_report.version)
    finally:
        drop_database(settings)
    scores["spark word2vec"] = score_vectors(cases, dict(zip(uris, matrix, strict=True)), options.k)
    results = _report(options, stats, tokens, train_report.total_seconds, stages.seconds, fits,
                      scores)
    report.write(results)
    return results


def _report(options: BenchOptions, stats: dict[str, int], tokens: int, train_seconds: float,
            stage_seconds: dict[str, float], fits: dict[str, float],
            scores: dict[str, Scores]) -> dict[str, Any]:
    epochs = options.params.iterations
    reference = fits["gensim sg+hs"]
    return {
        "params": options.params.as_dict(),
        "corpus": stats | {"training_tokens": tokens},
        "spark": {"stage_seconds": stage_seconds, "train_seconds": train_seconds,
                  "fit_tokens_per_s": tokens * epochs / stage_seconds["fit"],
                  "train_tokens_per_s": tokens / train_seconds},
        "fit_seconds": fits,
        "fit_tokens_per_s": {name: tokens * epochs / s for name, s in fits.items()},
        "ratios": {
            "spark_fit / gensim_sg_hs_fit": fits["spark word2vec"] / reference,
            "spark_train / gensim_sg_hs_fit": train_seconds / reference,
            "spark_fit / gensim_sg_ns_fit": fits["spark word2vec"] / fits["gensim sg+ns5"],
        },
        "scores": {name: s.as_dict() for name, s in scores.items()},
        "table": format_table(scores, fits),
    }


def report_lines(report: dict[str, Any]) -> list[str]:
    """The human-readable summary of a report."""
    spark, corpus = report["spark"], report["corpus"]
    lines = [
        f"corpus: {corpus['playlists']} playlists, {corpus['training_tokens']} training tokens, "
        f"{corpus['holdout_playlists']} held out; params {report['params']}",
        "spark stages: " + ", ".join(f"{k} {v:.1f}s" for k, v in spark["stage_seconds"].items()),
        f"spark train (read+fit+writes) {spark['train_seconds']:.1f}s "
        f"({spark['train_tokens_per_s']:.0f} tokens/s); fit {spark['fit_tokens_per_s']:.0f} "
        "tokens/s (tokens x epochs / fit time)",
    ]
    lines += [f"fit {name}: {s:.1f}s ({report['fit_tokens_per_s'][name]:.0f} tokens/s)"
              for name, s in report["fit_seconds"].items()]
    lines += [f"{name} = {value:.2f}" for name, value in report["ratios"].items()]
    lines.append(report["table"])
    return lines
