"""`lyrics correlate`: sample song pairs with both embeddings, compare their distances in both spaces."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from pymongo.database import Database

from batch.lyrics import plot
from batch.lyrics.options import CorrelateOptions
from batch.lyrics.stats import Correlation, conclusion, correlation
from playlist2vec import store, vectors
from playlist2vec.errors import NotReady
from playlist2vec.settings import Settings

MIN_SONGS = 5


@dataclass(frozen=True)
class CorrelationReport:
    model_version: str
    songs: int  # with both embeddings
    result: Correlation
    plot: Path

    @property
    def conclusion(self) -> str:
        return conclusion(self.result)

    def details(self) -> str:
        return (f"model {self.model_version}: {self.songs} songs with both embeddings, "
                f"{self.result.n} random pairs; plot: {self.plot}")


def load_lyric_vectors(db: Database[dict[str, Any]]) -> dict[str, np.ndarray]:
    return {doc["_id"]: vectors.decode(doc["vector"])
            for doc in store.iter_docs(db[store.LYRIC_VECTORS], {}, ["vector"]) if "vector" in doc}


def sample_pairs(n_items: int, n_pairs: int, rng: np.random.Generator) -> np.ndarray:
    """(n_pairs, 2) indices of random pairs of two different items (pairs may repeat)."""
    first = rng.integers(0, n_items, n_pairs)
    second = rng.integers(0, n_items - 1, n_pairs)
    second += second >= first  # skip `first` itself, keeping the choice uniform
    return np.stack([first, second], axis=1)


def pair_distances(matrix: np.ndarray, pairs: np.ndarray) -> np.ndarray:
    """Cosine distance (1 - cosine similarity) between the rows of each pair."""
    unit = vectors.normalize(matrix)
    similarity: np.ndarray = np.einsum("ij,ij->i", unit[pairs[:, 0]], unit[pairs[:, 1]])
    return 1.0 - similarity


def correlate_embeddings(settings: Settings, options: CorrelateOptions) -> CorrelationReport:
    """`lyrics correlate`: distances of random song pairs in both spaces, their correlation, a plot."""
    with store.opened(settings) as db:
        model = store.active_model(db)
        uris, song_matrix = store.load_track_vectors(db, model["_id"])
        lyrics = load_lyric_vectors(db)
    both = [i for i, uri in enumerate(uris) if uri in lyrics]
    if len(both) < MIN_SONGS:
        raise NotReady(f"only {len(both)} songs have both a song and a lyric embedding (need {MIN_SONGS}): "
                       "run `playlist2vec lyrics fetch` and `lyrics train` for the active model's tracks")
    songs = song_matrix[both]
    lyric_matrix = np.stack([lyrics[uris[i]] for i in both])
    pairs = sample_pairs(len(both), options.pairs, np.random.default_rng(options.seed))
    song_distance, lyric_distance = pair_distances(songs, pairs), pair_distances(lyric_matrix, pairs)
    result = correlation(song_distance, lyric_distance)
    plot.hexbin(song_distance, lyric_distance, result, options.out)
    return CorrelationReport(str(model["_id"]), len(both), result, options.out)
