"""`lyrics correlate` end to end on planted embeddings: correlation found when planted, not otherwise."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from playlist2vec import store, vectors
from playlist2vec.cli import main
from playlist2vec.settings import Settings

pytestmark = pytest.mark.integration


def _insert(db: Any, settings: Settings, songs: np.ndarray, lyrics: np.ndarray) -> None:
    subtype = settings.vector_subtype
    db[store.MODELS].insert_many([{"_id": "m-old", "status": "retired", "vector_size": songs.shape[1]},
                                  {"_id": "m-new", "status": "active", "vector_size": songs.shape[1]}])
    uris = [f"spotify:track:{i:022d}" for i in range(len(songs))]
    db[store.TRACK_VECTORS].insert_many(
        [{"_id": {"m": "m-new", "t": u}, "vector": vectors.encode(v, subtype), "count": 3}
         for u, v in zip(uris, songs, strict=True)]
        # the retired model's vectors would plant nothing: they must be ignored
        + [{"_id": {"m": "m-old", "t": u}, "vector": vectors.encode(-v, subtype), "count": 1}
           for u, v in zip(uris, songs, strict=True)])
    # lyrics for all but the last 5 songs, plus 5 songs the model does not know
    db[store.LYRIC_VECTORS].insert_many(
        [{"_id": u, "vector": vectors.encode(v, subtype)}
         for u, v in zip(uris[:-5], lyrics[:-5], strict=True)]
        + [{"_id": f"spotify:track:x{i}", "vector": vectors.encode(lyrics[i], subtype)} for i in range(5)])


def _run(settings: Settings, out: Path, capsys: pytest.CaptureFixture[str]) -> list[str]:
    code = main(["--mongo-uri", settings.mongo_uri.get_secret_value(), "--mongo-db", settings.mongo_db,
                 "lyrics", "correlate", "--pairs", "3000", "--out", str(out)])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    return captured.out.strip().splitlines()


def test_planted_correlation_is_reported(settings: Settings, db: Any, tmp_path: Path,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    rng = np.random.default_rng(0)
    songs = rng.standard_normal((80, 8))
    lyrics = songs + 0.5 * rng.standard_normal((80, 8))  # lyrics follow the songs
    _insert(db, settings, songs, lyrics)
    details, sentence = _run(settings, tmp_path / "plot.png", capsys)
    assert "model m-new: 75 songs with both embeddings, 3000 random pairs" in details
    assert "positive correlation" in sentence and sentence.startswith(("A strong", "A moderate"))
    assert (tmp_path / "plot.png").stat().st_size > 5_000


def test_no_correlation_when_none_is_planted(settings: Settings, db: Any, tmp_path: Path,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    rng = np.random.default_rng(1)
    _insert(db, settings, rng.standard_normal((80, 8)), rng.standard_normal((80, 8)))
    _, sentence = _run(settings, tmp_path / "plot.png", capsys)
    assert sentence.startswith("No meaningful correlation")


def test_missing_lyric_vectors_is_one_line_error(settings: Settings, db: Any, tmp_path: Path,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    db[store.MODELS].insert_one({"_id": "m", "status": "active", "vector_size": 2})
    code = main(["--mongo-uri", settings.mongo_uri.get_secret_value(), "--mongo-db", settings.mongo_db,
                 "lyrics", "correlate", "--out", str(tmp_path / "p.png")])
    err = capsys.readouterr().err.strip()
    assert code == 1 and "\n" not in err and "lyrics train" in err
    assert not (tmp_path / "p.png").exists()
