"""RecSys Challenge 2018 metrics for one recommendation list (track level) and their means."""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence, Set
from dataclasses import asdict, dataclass

NO_CLICK = 51  # "recommended songs clicks" when nothing relevant is in the list


def r_precision(recs: Sequence[str], truth: Set[str]) -> float:
    """Share of the truth found among the first |truth| recommendations."""
    if not truth:
        return 0.0
    return sum(1 for item in recs[: len(truth)] if item in truth) / len(truth)


def ndcg(recs: Sequence[str], truth: Set[str]) -> float:
    """DCG of the list over the DCG of a perfect list of the same length (binary relevance)."""
    if not truth or not recs:
        return 0.0
    dcg = sum(1.0 / math.log2(i + 2) for i, item in enumerate(recs) if item in truth)
    ideal = sum(1.0 / math.log2(i + 2) for i in range(min(len(truth), len(recs))))
    return dcg / ideal


def clicks(recs: Sequence[str], truth: Set[str]) -> int:
    """Pages of 10 a user refreshes before the first relevant track (NO_CLICK if none)."""
    for i, item in enumerate(recs):
        if item in truth:
            return i // 10
    return NO_CLICK


@dataclass(frozen=True)
class Scores:
    """Means over evaluated playlists; `cold` counts those whose seeds had no known track."""

    r_precision: float
    ndcg: float
    clicks: float
    playlists: int
    cold: int = 0

    def as_dict(self) -> dict[str, float]:
        return asdict(self)


def mean_scores(lists: Iterable[tuple[Sequence[str], Set[str]]], cold: int = 0) -> Scores:
    """Mean metrics over (recommendations, truth) pairs."""
    r = n = c = 0.0
    count = 0
    for recs, truth in lists:
        r += r_precision(recs, truth)
        n += ndcg(recs, truth)
        c += clicks(recs, truth)
        count += 1
    if not count:
        return Scores(0.0, 0.0, float(NO_CLICK), 0, cold)
    return Scores(r / count, n / count, c / count, count, cold)
