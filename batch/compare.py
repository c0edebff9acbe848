"""`models compare`: each `ready` model beside the active one, by live recall (what serving
measured on real edits, playlist2vec/quality.py) and by overlap@10 of their answers for a
sample of live playlists (computed here, exactly, from both models' track vectors)."""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from pymongo.database import Database

from playlist2vec import quality, store
from playlist2vec.events import is_canary
from playlist2vec.recommend import Search, exact_search, recommend, seed_query
from playlist2vec.vectors import FloatArray, normalize

OVERLAP_K = 10


@dataclass(frozen=True)
class Comparison:
    candidate: str
    active: str
    live: quality.Pair | None
    overlap: float | None  # mean |top10(active) & top10(candidate)| / 10; None: no playlist
    sampled: int


class _Model:
    def __init__(self, db: Database[dict[str, Any]], version: str) -> None:
        uris, matrix = store.load_track_vectors(db, version)
        self.vectors: dict[str, FloatArray] = dict(zip(uris, matrix, strict=True))
        self.search: Search = exact_search(uris, normalize(matrix)) if uris else (lambda q, n: [])

    def top(self, seeds: Sequence[str], k: int) -> set[str]:
        query = seed_query(seeds, self.vectors)
        return set() if query is None else {s.item for s in recommend(query, seeds, self.search, k)}


def sample_playlists(db: Database[dict[str, Any]], n: int, seed: int) -> list[list[str]]:
    """Up to n live, non-canary playlists' track lists, a seeded sample (reservoir over one scan)."""
    rng = random.Random(seed)
    kept: list[list[str]] = []
    query = {"deleted": {"$ne": True}, "tracks.0": {"$exists": True}}
    for seen, doc in enumerate(store.iter_docs(db[store.PLAYLISTS], query, ["tracks"])):
        if is_canary(doc["_id"]):
            continue
        if len(kept) < n:
            kept.append(list(doc["tracks"]))
        elif (slot := rng.randrange(seen + 1)) < n:
            kept[slot] = list(doc["tracks"])
    return kept


def compare(db: Database[dict[str, Any]], sample: int = 200, seed: int = 0) -> list[Comparison]:
    """One comparison per `ready` model (none when no model is ready)."""
    active = str(store.active_model(db)["_id"])
    candidates = [str(m["_id"]) for m in store.write_models(db) if m["status"] == "ready"]
    if not candidates:
        return []
    playlists = sample_playlists(db, sample, seed)
    counts = quality.online(db)
    served = _Model(db, active)
    answers = [served.top(p, OVERLAP_K) for p in playlists]
    out = []
    for candidate in candidates:
        model = _Model(db, candidate)
        overlaps = [len(a & model.top(p, OVERLAP_K)) / OVERLAP_K
                    for p, a in zip(playlists, answers, strict=True)]
        out.append(Comparison(candidate, active, quality.pair(counts, candidate, active),
                              float(np.mean(overlaps)) if overlaps else None, len(playlists)))
    return out
