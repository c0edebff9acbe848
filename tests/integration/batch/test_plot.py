"""`playlist2vec plot` against the private MongoDB-wire server: planted playlist clusters stay
apart in the 2-D map, the PNG has the promised size, and the CLI runs end to end."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
from matplotlib import image
from pymongo import ReplaceOne

from batch.plot import DPI, FIGSIZE, OTHER, PlotOptions, build_map, render
from playlist2vec import store, vectors
from playlist2vec.cli import main
from playlist2vec.settings import Settings

pytestmark = pytest.mark.integration

THEMES = ("rock", "jazz", "sleep")
PER_THEME = 40
DIM = 32


def plant_playlists(db: Any, settings: Settings, version: str = "m1") -> np.ndarray:
    """Three themes of playlists whose vectors scatter around three directions; returns pid -> theme."""
    rng = np.random.default_rng(7)
    centers = rng.normal(size=(len(THEMES), DIM))
    theme_of = np.repeat(np.arange(len(THEMES)), PER_THEME)
    db[store.MODELS].insert_one({"_id": version, "status": "active", "vector_size": DIM})
    vector_ops, playlist_ops = [], []
    for pid, theme in enumerate(theme_of.tolist()):
        vector = centers[theme] + rng.normal(0, 0.25, DIM)
        key = {"m": version, "p": pid}
        vector_ops.append(ReplaceOne({"_id": key}, {
            "_id": key, "n_tracks": 10, "n_known": 10, "source": "batch",
            "vector": vectors.encode(vector, settings.vector_subtype)}, upsert=True))
        playlist_ops.append(ReplaceOne({"_id": pid}, {"_id": pid, "name": f"{THEMES[theme]} mix {pid}"},
                                       upsert=True))
    # a playlist without any known track has no vector and must not be drawn
    empty = {"m": version, "p": 999}
    vector_ops.append(ReplaceOne({"_id": empty}, {"_id": empty, "n_known": 0}, upsert=True))
    store.bulk_write(db[store.PLAYLIST_VECTORS], vector_ops)
    store.bulk_write(db[store.PLAYLISTS], playlist_ops)
    return theme_of


def test_planted_clusters_stay_apart_in_two_dimensions(db: Any, settings: Settings) -> None:
    theme_of = plant_playlists(db, settings)

    m = build_map(db, PlotOptions(sample=None, color_by="cluster", clusters=3))

    assert m.model_version == "m1" and 999 not in m.pids.tolist()
    truth = theme_of[m.pids]
    centroids = np.stack([m.coords[truth == t].mean(axis=0) for t in range(len(THEMES))])
    spread = max(np.linalg.norm(m.coords[truth == t] - centroids[t], axis=1).max()
                 for t in range(len(THEMES)))
    gaps = [np.linalg.norm(centroids[a] - centroids[b]) for a in range(3) for b in range(a + 1, 3)]
    assert min(gaps) > 2 * spread  # every point is nearer its own theme's centre than any other's
    for t in range(len(THEMES)):  # k-means puts each theme in one cluster, named after it
        (label,) = set(m.groups[truth == t].tolist())
        assert THEMES[t] in m.legend[label]


def test_sample_and_keyword_colouring(db: Any, settings: Settings) -> None:
    theme_of = plant_playlists(db, settings)

    m = build_map(db, PlotOptions(sample=50, color_by="keyword", keywords=("Jazz", "rock"), seed=3))

    assert len(m.pids) == 50 == len(set(m.pids.tolist()))
    assert m.legend == ["jazz", "rock", OTHER]
    expected = {"jazz": "jazz", "rock": "rock", "sleep": OTHER}
    assert [m.legend[g] for g in m.groups] == [expected[THEMES[t]] for t in theme_of[m.pids]]


def test_png_has_the_figure_size(db: Any, settings: Settings, tmp_path: Path) -> None:
    plant_playlists(db, settings)
    out = render(build_map(db, PlotOptions(sample=None, clusters=3)), tmp_path / "map.png")
    pixels = image.imread(out)
    assert pixels.shape[:2] == (round(FIGSIZE[1] * DPI), round(FIGSIZE[0] * DPI))
    assert pixels[..., :3].std() > 0.05  # not a blank canvas


def _cli(settings: Settings, *args: str) -> int:
    return main(["--mongo-uri", settings.mongo_uri.get_secret_value(), "--mongo-db", settings.mongo_db,
                 "plot", *args])


def test_cli_writes_the_png(db: Any, settings: Settings, tmp_path: Path,
                            capsys: pytest.CaptureFixture[str]) -> None:
    plant_playlists(db, settings)
    out = tmp_path / "cli.png"
    assert _cli(settings, "--out", str(out), "--sample", "60", "--clusters", "3") == 0
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "60 playlists of model m1" in capsys.readouterr().out


def test_cli_bad_input_is_one_line_and_non_zero(db: Any, settings: Settings, tmp_path: Path,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    assert _cli(settings, "--out", str(tmp_path / "x.png")) != 0  # no active model yet
    assert "no active model" in capsys.readouterr().err
    plant_playlists(db, settings)
    assert _cli(settings, "--out", str(tmp_path / "x.png"), "--color-by", "keyword") != 0
    err = capsys.readouterr().err.strip()
    assert err.startswith("error:") and "--keyword" in err and "\n" not in err
    assert not (tmp_path / "x.png").exists()
