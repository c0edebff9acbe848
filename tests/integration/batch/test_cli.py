"""`generate`, `evaluate` and a bad-input `train`, in process through the CLI entry point."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from batch.generate import generate_corpus
from playlist2vec.cli import main
from playlist2vec.settings import Settings

pytestmark = [pytest.mark.integration, pytest.mark.spark, pytest.mark.timeout(1200)]


def _cli(settings: Settings, *args: str) -> int:
    return main(["--home", str(settings.home), "--mongo-uri", settings.mongo_uri.get_secret_value(),
                 "--mongo-db", settings.mongo_db, "--spark-master", settings.spark_master, *args])


def test_generate_writes_slices(tmp_path: Path, capsys: Any) -> None:
    assert main(["generate", "--playlists", "1200", "--out", str(tmp_path), "--seed", "4"]) == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["mpd.slice.0-999.json",
                                                          "mpd.slice.1000-1199.json"]
    assert "1200 playlists" in capsys.readouterr().out


@pytest.mark.slow
def test_evaluate_beats_popularity(spark: Any, settings: Settings, tmp_path: Path,
                                   capsys: Any) -> None:
    # many small scenes: the playlist's scene, which co-occurrence reveals, matters more than
    # global popularity
    generate_corpus(1_200, tmp_path / "mpd", seed=8, scenes=24)
    out = tmp_path / "eval.json"
    assert _cli(settings, "evaluate", "--input", str(tmp_path / "mpd"), "--holdout-fraction", "0.1",
                "--vector-size", "16", "--iterations", "3", "--min-count", "2",
                "--out", str(out)) == 0
    printed = capsys.readouterr().out
    assert "popularity" in printed and "word2vec" in printed
    scores = json.loads(out.read_text())["scores"]
    assert scores["popularity"]["playlists"] > 100
    assert scores["word2vec (spark)"]["r_precision"] > 1.5 * scores["popularity"]["r_precision"]


def test_train_on_a_bad_slice_exits_2_naming_it(settings: Settings, tmp_path: Path,
                                                capsys: Any) -> None:
    (tmp_path / "mpd.slice.0-0.json").write_text('{"playlists": [{"pid": -3, "modified_at": 1, '
                                                 '"tracks": []}]}')
    assert _cli(settings, "train", "--input", str(tmp_path)) == 2
    last = capsys.readouterr().err.strip().splitlines()[-1]  # after the progress lines
    assert last.startswith("error: ")
    assert "mpd.slice.0-0.json: playlist #0: Expected `int` >= 0 - at `$.pid`" in last
