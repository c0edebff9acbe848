"""Lyric training on a generated corpus with planted themes: songs of a theme end up close together."""

from __future__ import annotations

import random
import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from playlist2vec import store, vectors
from playlist2vec.cli import main
from playlist2vec.settings import Settings

pytestmark = [pytest.mark.integration, pytest.mark.spark]

THEMES = {
    "sea": ["ocean", "waves", "tide", "sail", "shore", "salt", "storm", "harbour", "anchor", "gull"],
    "road": ["highway", "engine", "miles", "wheels", "dust", "diesel", "exit", "motel", "asphalt", "mirror"],
    "love": ["kiss", "darling", "heart", "forever", "tender", "embrace", "sweetheart", "honey", "roses",
             "devotion"],
}
FILLER = ["the", "a", "and", "i", "you", "oh", "yeah", "we"]


def _corpus(songs_per_theme: int, words: int, rng: random.Random) -> dict[str, tuple[str, str]]:
    """uri -> (theme, lyrics): theme words with some shared filler, in lines."""
    corpus = {}
    for theme, vocab in THEMES.items():
        for i in range(songs_per_theme):
            tokens = [rng.choice(vocab) if rng.random() < 0.8 else rng.choice(FILLER)
                      for _ in range(words)]
            text = "\n".join(" ".join(tokens[j:j + 6]).capitalize() + "," for j in range(0, words, 6))
            corpus[f"spotify:track:{theme}{i:03d}"] = (theme, text)
    return corpus


def test_planted_themes_are_recovered(settings: Settings, db: Any, spark: Any, tmp_path: Path) -> None:
    corpus = _corpus(songs_per_theme=12, words=60, rng=random.Random(7))
    now = datetime.now(UTC)
    db[store.LYRICS].insert_many(
        [{"_id": uri, "status": "found", "text": text, "fetched_at": now, "attempts": 1}
         for uri, (_, text) in corpus.items()]
        + [{"_id": "spotify:track:none", "status": "not_found", "fetched_at": now, "attempts": 1},
           {"_id": "spotify:track:err", "status": "error", "error": "HTTP 500", "fetched_at": now,
            "attempts": 5}])
    db[store.LYRIC_VECTORS].insert_one({"_id": "spotify:track:gone", "model": {"version": "old"}})

    stop_words = tmp_path / "stop.txt"
    stop_words.write_text("the\nand\n")
    # the CLI's Spark session is the test session (getOrCreate)
    code = main(["--mongo-uri", settings.mongo_uri.get_secret_value(), "--mongo-db", settings.mongo_db,
                 "lyrics", "train", "--vector-size", "16", "--min-count", "1", "--iterations", "10",
                 "--seed", "3", "--stop-words", str(stop_words)])
    assert code == 0

    docs = {d["_id"]: d for d in db[store.LYRIC_VECTORS].find()}
    assert set(docs) == set(corpus)  # every song with lyrics, nothing else (the stale one removed)
    models = {d["model"]["version"] for d in docs.values()}
    some = next(iter(docs.values()))
    assert len(models) == 1 and some["model"]["vector_size"] == 16 and some["model"]["stop_words"] == 2
    assert some["model"]["vocab_size"] == sum(len(v) for v in THEMES.values()) + len(FILLER) - 2
    for uri, (_, text) in corpus.items():
        stopped = sum(w in ("the", "and") for w in re.findall(r"[a-z]+", text.lower()))
        assert docs[uri]["n_words"] == docs[uri]["n_known"] == 60 - stopped

    uris = sorted(docs)
    themes = np.array([corpus[u][0] for u in uris])
    unit = vectors.normalize(np.stack([vectors.decode(docs[u]["vector"]) for u in uris]))
    assert unit.shape == (len(corpus), 16)
    similarity = unit @ unit.T
    np.fill_diagonal(similarity, np.nan)
    same = themes[:, None] == themes[None, :]
    assert np.nanmean(similarity[same]) > np.nanmean(similarity[~same]) + 0.2
    nearest = np.nanargmax(similarity, axis=1)
    assert (themes[nearest] == themes).mean() >= 0.95
