"""`evaluate --fold-in SHARE`: what fold-in (`playlist2vec.foldin`) is worth on tracks the model
never saw.

The split: whole playlists held out as usual; then SHARE of the distinct tracks of the
held-out playlists become "new": they are removed from the training corpus (the model never
sees them) and exist only in stream-like events, the training playlists that hold them
replayed in full, as the stream would receive them. Fold-in runs over those events exactly
as the stream does (the in-memory `FoldIn`), against the trained vectors. Each held-out
playlist is continued from its seed with the trained vectors alone and with the provisional
ones added, beside popularity (counted over the training playlists including the new
tracks: popularity sees the stream too). R-precision and recall@k are reported against the
whole truth and separately against its seen and its unseen (new) tracks.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterable, Mapping, Sequence, Set
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from batch import word2vec
from batch.evaluate import Case, EvalOptions, collect_holdout, popularity, popularity_search, vectors_of
from batch.reader import load_corpus
from batch.scoring import r_precision
from playlist2vec import foldin
from playlist2vec.foldin import PENALTY, FoldIn
from playlist2vec.recommend import exact_search, recommend, seed_query
from playlist2vec.vectors import FloatArray, TrackIndex, normalize

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

PARTS = ("all", "seen", "unseen")


def recall(recs: Sequence[str], truth: Set[str]) -> float:
    return sum(1 for item in recs if item in truth) / len(truth) if truth else 0.0


def part_scores(results: Iterable[tuple[Sequence[str], frozenset[str]]], unseen: Set[str]
                ) -> dict[str, dict[str, float]]:
    """Mean R-precision and recall of (recommendations, truth) pairs against the whole truth
    and against its seen and unseen parts (each over the cases whose part is not empty)."""
    sums = {part: [0.0, 0.0, 0] for part in PARTS}
    for recs, truth in results:
        parts = {"all": truth, "seen": truth - unseen, "unseen": truth & unseen}
        for part, subset in parts.items():
            if subset:
                sums[part][0] += r_precision(recs, subset)
                sums[part][1] += recall(recs, subset)
                sums[part][2] += 1
    return {part: {"r_precision": r / n if n else 0.0, "recall": c / n if n else 0.0,
                   "playlists": int(n)}
            for part, (r, c, n) in sums.items()}


def new_tracks(cases: Sequence[Case], share: float, seed: int) -> set[str]:
    """SHARE of the distinct tracks of the held-out playlists, drawn with `seed`."""
    tracks = sorted({t for c in cases for t in (*c.seeds, *c.truth)})
    return set(random.Random(seed).sample(tracks, round(share * len(tracks))))


def continuations(cases: Sequence[Case], track_vectors: Mapping[str, FloatArray], k: int,
                  provisional: Set[str] = frozenset(), penalty: float = 0.0
                  ) -> list[tuple[list[str], frozenset[str]]]:
    """Each case's k recommendations by exact cosine over `track_vectors` (none if cold),
    `penalty` off the score of the `provisional` tracks, whose vectors count in a query only
    when no seed is trained (`foldin.counted`, as in serving)."""
    items = list(track_vectors)
    search = exact_search(items, normalize(np.stack([track_vectors[t] for t in items])))
    out = []

    def cost(item: str) -> float:
        return penalty if item in provisional else 0.0

    def trained(track: str) -> bool:
        return track in track_vectors and track not in provisional

    for case in cases:
        query = seed_query(foldin.counted(case.seeds, trained), track_vectors)
        recs = [] if query is None else [
            r.item for r in recommend(query, case.seeds, search, k, penalty=cost if penalty else None)]
        out.append((recs, case.truth))
    return out


@dataclass
class FoldInReport:
    options: dict[str, Any]
    corpus: dict[str, Any]
    scores: dict[str, dict[str, dict[str, float]]]  # method -> part -> metric

    def as_dict(self) -> dict[str, Any]:
        return {"options": self.options, "corpus": self.corpus, "scores": self.scores}

    def table(self) -> str:
        k = self.options["k"]
        lines = [f"{'method':<24}" + "".join(f" {p + ' R-prec':>14} {p + ' rec@' + str(k):>14}"
                                             for p in PARTS)]
        for name, parts in self.scores.items():
            lines.append(f"{name:<24}" + "".join(
                f" {parts[p]['r_precision']:>14.4f} {parts[p]['recall']:>14.4f}" for p in PARTS))
        counts = next(iter(self.scores.values()))
        lines.append("playlists: " + ", ".join(f"{p} {counts[p]['playlists']}" for p in PARTS))
        return "\n".join(lines)


def evaluate_fold_in(spark: SparkSession, options: EvalOptions, share: float, min_support: int,
                     progress: Callable[[str], None] = print,
                     penalties: Sequence[float] = (PENALTY,)) -> FoldInReport:
    """The fold-in split (module docstring), fitted once with `options.params`."""
    from pyspark.sql import functions as F

    from batch import corpus as transforms

    corpus = load_corpus(spark, options.input, options.skip_bad)
    try:
        training, holdout = transforms.split_holdout(corpus.playlists, options.holdout_fraction,
                                                     options.split_seed)
        cases = collect_holdout(holdout, options.seed_tracks)
        unseen = new_tracks(cases, share, options.split_seed)
        progress(f"{len(cases)} held-out playlists, {len(unseen)} of their tracks only in the stream")
        new = F.array(*[F.lit(t) for t in sorted(unseen)]) if unseen else F.array().cast("array<string>")
        seen_only = training.withColumn("tracks", F.array_except("tracks", new))
        stream = [(r["pid"], list(r["tracks"])) for r in training.where(
            F.size(F.array_intersect("tracks", new)) > 0).select("pid", "tracks").toLocalIterator()]
        ranked = popularity(training, options.k + options.seed_tracks)
        progress(f"fitting word2vec without the new tracks, then folding in {len(stream)} events ...")
        trained = vectors_of(word2vec.track_vectors(word2vec.fit(seen_only, options.params)))
    finally:
        corpus.release()
    uris = list(trained)
    fold = FoldIn(TrackIndex.of(uris, np.stack([trained[u] for u in uris])), min_support)
    for pid, tracks in stream:
        fold.update(pid, tracks)
    provisional = fold.vectors()
    pop = popularity_search(ranked)
    popular = [([r.item for r in recommend(np.zeros(1, np.float32), c.seeds, pop, options.k)],
                c.truth) for c in cases]
    scores = {
        "popularity": part_scores(popular, unseen),
        "word2vec": part_scores(continuations(cases, trained, options.k), unseen),
    }
    for penalty in penalties:
        label = "word2vec + fold-in" + (f" -{penalty:g}" if penalty else "")
        scores[label] = part_scores(continuations(cases, {**trained, **provisional}, options.k,
                                                  provisional.keys(), penalty), unseen)
    opts = {"input": options.input, "holdout_fraction": options.holdout_fraction,
            "seed_tracks": options.seed_tracks, "k": options.k, "split_seed": options.split_seed,
            "params": options.params.as_dict(), "fold_in_share": share, "min_support": min_support,
            "penalties": list(penalties)}
    stats = {"playlists": corpus.n_playlists, "new_tracks": len(unseen), "stream_events": len(stream),
             "vocab_size": len(trained), "provisional_vectors": len(provisional),
             "new_tracks_with_vector": len(unseen & provisional.keys())}
    return FoldInReport(opts, stats, scores)
