"""`train --tune` on Spark: the validation split `evaluate` uses, trials fitted and scored, the search.

The search itself is `batch.search` (no Spark); this module only gives it an evaluator:
Word2Vec fitted on the subsample or on the whole training split, scored on the held-out
playlists with the code `evaluate` uses, so that `evaluate` with the chosen knobs and the
same split reproduces the winner's recorded validation score. The winner's fit on the
training split is the model `train` then serves: its validation score is a held-out score of
what serves, and no second full fit is paid.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from batch import corpus, evaluate, search, word2vec
from batch.search import Budget, Measure, SearchRecord
from batch.word2vec import Word2VecParams

if TYPE_CHECKING:
    from pyspark.ml.feature import Word2VecModel
    from pyspark.sql import DataFrame

_EVAL = evaluate.EvalOptions(input="")
# Spark refuses to fit when min count is above every track's count (a small subsample, a high
# min count): such a trial recommends nothing and scores zero rather than ending the search
_EMPTY_VOCABULARY = "vocabulary size should be > 0"


@dataclass(frozen=True)
class TuneOptions:
    budget: Budget
    seed: int = 0  # of the sampler (and of the subsample)
    subsample: float = 0.25  # fraction of the training split a trial is fitted on before pruning
    holdout_fraction: float = _EVAL.holdout_fraction
    seed_tracks: int = _EVAL.seed_tracks
    k: int = _EVAL.k
    split_seed: int = _EVAL.split_seed

    def split(self) -> dict[str, Any]:
        return {"holdout_fraction": self.holdout_fraction, "seed_tracks": self.seed_tracks,
                "k": self.k, "split_seed": self.split_seed, "subsample": self.subsample}


class SparkEvaluator:
    """Fits Word2Vec on the subsample or the training split, scores it on the validation cases.

    Both inputs are cached as their `tracks` column alone, once for the whole search: each
    fit reads its input twice (vocabulary, then sentences), and every trial would otherwise
    redo the ordering of each playlist's tracks, the split and the sample. `release` frees them.
    """

    def __init__(self, training: DataFrame, cases: list[evaluate.Case], options: TuneOptions) -> None:
        from pyspark import StorageLevel

        tracks = training.select("tracks")
        self.playlists = {
            search.SUBSAMPLE: tracks.sample(fraction=options.subsample, seed=options.seed),
            search.VALIDATION: tracks}
        for frame in self.playlists.values():
            frame.persist(StorageLevel.MEMORY_AND_DISK)
        self.cases = cases
        self.options = options
        self.models: dict[Word2VecParams, Word2VecModel] = {}  # the completed trials' full fits

    def release(self) -> None:
        for frame in self.playlists.values():
            frame.unpersist()

    def __call__(self, params: Word2VecParams, stage: str) -> Measure:
        from pyspark.errors import IllegalArgumentException

        if stage == search.SUBSAMPLE:
            params = search.for_subsample(params, self.options.subsample)
        started = time.monotonic()
        try:
            model = word2vec.fit(self.playlists[stage], params)
            vectors = evaluate.vectors_of(word2vec.track_vectors(model))
            if stage == search.VALIDATION:
                self.models[params] = model
        except IllegalArgumentException as exc:
            if _EMPTY_VOCABULARY not in str(exc):
                raise
            vectors = {}
        seconds = time.monotonic() - started
        return Measure(evaluate.score_vectors(self.cases, vectors, self.options.k), seconds, len(vectors))


def tune(playlists: DataFrame, base: Word2VecParams, options: TuneOptions,
         progress: Callable[[str], None]) -> tuple[SearchRecord, dict[str, Any], Word2VecModel | None]:
    """Search on a validation split of `playlists`; the record, its dict for the registry
    (with the split and the popularity baseline on it) and the winner's fit on the training
    split (None when Spark could fit no vocabulary for it)."""
    training, validation = corpus.split_holdout(playlists, options.holdout_fraction,
                                                    options.split_seed)
    cases = evaluate.collect_holdout(validation, options.seed_tracks)
    ranked = evaluate.popularity(training, options.k + options.seed_tracks)
    baseline = evaluate.score_popularity(cases, ranked, options.k)
    progress(f"{len(cases)} validation playlists; popularity R-precision {baseline.r_precision:.4f}")
    if base.partitions > 1:
        progress("note: Spark's fit is not reproducible when partitions train concurrently, so "
                 "trial scores carry run-to-run noise; --partitions 1 makes the search repeatable")
    evaluator = SparkEvaluator(training, cases, options)
    try:
        record = search.search(evaluator, base, options.budget, options.seed, progress)
    finally:
        evaluator.release()
    return record, {**record.as_dict(), "split": {**options.split(), "playlists": len(cases)},
                    "popularity": baseline.as_dict()}, evaluator.models.get(record.best_params)
