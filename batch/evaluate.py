"""Hold-out evaluation: train on most playlists, continue the held-out ones, score against a
popularity baseline. Recommendations come from `playlist2vec.recommend`, the code serving uses."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

import numpy as np

from batch import corpus, word2vec
from batch.reader import load_corpus
from batch.scoring import Scores, mean_scores
from batch.word2vec import Word2VecParams
from playlist2vec.errors import InvalidInput
from playlist2vec.recommend import Search, exact_search, recommend, seed_query
from playlist2vec.vectors import FloatArray, normalize

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession


@dataclass(frozen=True)
class Case:
    """A held-out playlist: its first tracks as the seed, the rest as the truth."""

    pid: int
    seeds: tuple[str, ...]
    truth: frozenset[str]


def holdout_cases(playlists: Iterable[tuple[int, Sequence[str]]], seed_tracks: int) -> list[Case]:
    """Cases from (pid, tracks in order); playlists with nothing left after the seed are skipped."""
    cases = []
    for pid, tracks in playlists:
        seeds = tuple(tracks[:seed_tracks])
        truth = frozenset(tracks[seed_tracks:]) - set(seeds)
        if truth:
            cases.append(Case(pid, seeds, truth))
    return cases


def score_vectors(cases: Sequence[Case], track_vectors: Mapping[str, FloatArray], k: int) -> Scores:
    """Continue each case with the k tracks nearest to its mean seed vector (exact cosine)."""
    if not track_vectors:  # min-count above every track's count: nothing can be recommended
        return mean_scores((((), c.truth) for c in cases), cold=len(cases))
    items = list(track_vectors)
    search = exact_search(items, normalize(np.stack([track_vectors[t] for t in items])))
    results: list[tuple[Sequence[str], frozenset[str]]] = []
    cold = 0
    for case in cases:
        query = seed_query(case.seeds, track_vectors)
        if query is None:
            cold += 1
            results.append(((), case.truth))
            continue
        recs = recommend(query, case.seeds, search, k)
        results.append(([r.item for r in recs], case.truth))
    return mean_scores(results, cold)


def popularity_search(ranked: Sequence[tuple[str, int]]) -> Search:
    """A Search that ignores the query and answers the most frequent tracks."""
    def search(_query: FloatArray, n: int) -> list[tuple[str, float]]:
        return [(uri, float(count)) for uri, count in ranked[:n]]

    return search


def score_popularity(cases: Sequence[Case], ranked: Sequence[tuple[str, int]], k: int) -> Scores:
    """The baseline: the k most frequent training tracks that are not seeds."""
    search = popularity_search(ranked)
    return mean_scores(
        ([r.item for r in recommend(np.zeros(1, np.float32), c.seeds, search, k)], c.truth)
        for c in cases)


@dataclass(frozen=True)
class EvalOptions:
    input: str
    holdout_fraction: float = 0.05
    seed_tracks: int = 10
    k: int = 500
    params: Word2VecParams = field(default_factory=Word2VecParams)
    skip_bad: bool = False
    split_seed: int = 7
    variants: tuple[tuple[str, Word2VecParams], ...] = ()  # also scored, beside `params`

    @classmethod
    def from_flags(cls, input: str, *, holdout_fraction: float = 0.05, seed_tracks: int = 10,
                   k: int = 500, params: Word2VecParams | None = None, skip_bad: bool = False,
                   sweep: Sequence[str] = ()) -> EvalOptions:
        """`evaluate`'s options; `sweep`: `--sweep KNOB=V1,V2` specs, each value of each knob
        a variant of `params` with that one knob changed (InvalidInput when malformed)."""
        params = params or Word2VecParams()
        return cls(input, holdout_fraction, seed_tracks, k, params, skip_bad,
                   variants=tuple(variants_of(params, parse_sweep(sweep))))


@dataclass
class EvalReport:
    options: dict[str, Any]
    corpus: dict[str, Any]
    scores: dict[str, Scores]
    fit_seconds: dict[str, float]

    def as_dict(self) -> dict[str, Any]:
        return {"options": self.options, "corpus": self.corpus, "fit_seconds": self.fit_seconds,
                "scores": {name: s.as_dict() for name, s in self.scores.items()}}

    def table(self) -> str:
        return format_table(self.scores, self.fit_seconds)


def format_table(scores: Mapping[str, Scores], fit_seconds: Mapping[str, float]) -> str:
    """A text table, one row per method, with R-precision relative to the first row's."""
    first_name, first = next(iter(scores.items()))
    lines = [f"{'method':<26} {'R-precision':>11} {'NDCG':>7} {'clicks':>7} {'playlists':>9} "
             f"{'vs ' + first_name:>14} {'fit s':>7}"]
    for name, s in scores.items():
        ratio = s.r_precision / first.r_precision if first.r_precision else float("inf")
        seconds = f"{fit_seconds[name]:.1f}" if name in fit_seconds else "-"
        lines.append(f"{name:<26} {s.r_precision:>11.4f} {s.ndcg:>7.4f} {s.clicks:>7.2f} "
                     f"{s.playlists:>9} {ratio:>13.2f}x {seconds:>7}")
    return "\n".join(lines)


def collect_holdout(holdout: DataFrame, seed_tracks: int) -> list[Case]:
    """The held-out playlists as cases (a small sample of the corpus, so it comes to the driver)."""
    rows = holdout.select("pid", "tracks").toLocalIterator()
    return holdout_cases(((r["pid"], r["tracks"]) for r in rows), seed_tracks)


def popularity(training: DataFrame, n: int) -> list[tuple[str, int]]:
    """The n most frequent tracks of the training playlists, with their counts."""
    from pyspark.sql import functions as F

    top = corpus.track_counts(training).orderBy(F.desc("count"), "track_uri").limit(n)
    return [(r["track_uri"], int(r["count"])) for r in top.collect()]


def vectors_of(vectors: DataFrame) -> dict[str, FloatArray]:
    """A model's (track_uri, vector) rows as a dict (vocabulary-sized, not corpus-sized)."""
    return {r["track_uri"]: np.asarray(r["vector"], dtype=np.float32)
            for r in vectors.toLocalIterator()}


def parse_sweep(specs: Sequence[str]) -> dict[str, list[Any]]:
    """`["window=2,10"]` -> `{"window": [2, 10]}`, values typed like the Word2VecParams field."""
    defaults = Word2VecParams().as_dict()
    knobs: dict[str, list[Any]] = {}
    for spec in specs:
        knob, _, values = spec.partition("=")
        if knob not in defaults or not values:
            raise InvalidInput(f"--sweep expects KNOB=V1,V2 with KNOB one of {', '.join(defaults)}")
        try:
            knobs[knob] = [type(defaults[knob])(v) for v in values.split(",")]
        except ValueError:
            raise InvalidInput(f"--sweep {spec}: values must be numbers") from None
    return knobs


def variants_of(base: Word2VecParams, knobs: Mapping[str, Sequence[Any]]
                ) -> list[tuple[str, Word2VecParams]]:
    """One-at-a-time variants of `base`: each listed value of each knob, the others unchanged."""
    return [(f"{knob}={value}", replace(base, **{knob: value}))
            for knob, values in knobs.items() for value in values]


def evaluate(spark: SparkSession, options: EvalOptions, progress: Callable[[str], None] = print
             ) -> EvalReport:
    """Split, then for the default params and each of `options.variants` fit on the training
    part and score on the held-out part, beside popularity (the corpus is read and split once)."""
    variants = options.variants
    loaded = load_corpus(spark, options.input, options.skip_bad)
    scores: dict[str, Scores] = {}
    fit_seconds: dict[str, float] = {}
    vocab: dict[str, int] = {}
    try:
        training, holdout = corpus.split_holdout(loaded.playlists, options.holdout_fraction,
                                                     options.split_seed)
        cases = collect_holdout(holdout, options.seed_tracks)
        ranked = popularity(training, options.k + options.seed_tracks)
        scores["popularity"] = score_popularity(cases, ranked, options.k)
        progress(f"{len(cases)} held-out playlists")
        for label, params in [("word2vec (spark)", options.params), *variants]:
            progress(f"fitting {label} ...")
            started = time.monotonic()
            track_vectors = vectors_of(word2vec.track_vectors(word2vec.fit(training, params)))
            fit_seconds[label] = time.monotonic() - started
            vocab[label] = len(track_vectors)
            scores[label] = score_vectors(cases, track_vectors, options.k)
            progress(f"{label}: R-precision {scores[label].r_precision:.4f} "
                     f"({fit_seconds[label]:.1f}s)")
    finally:
        loaded.release()
    opts = {"input": options.input, "holdout_fraction": options.holdout_fraction,
            "seed_tracks": options.seed_tracks, "k": options.k, "split_seed": options.split_seed,
            "params": options.params.as_dict(), "variants": {n: p.as_dict() for n, p in variants}}
    stats = {"playlists": loaded.n_playlists, "tokens": loaded.tokens,
             "bad_records": loaded.bad_records, "vocab_size": vocab}
    return EvalReport(opts, stats, scores, fit_seconds)
