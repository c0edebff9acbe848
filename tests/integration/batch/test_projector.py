"""`export-projector` from MongoDB test data: the active model only, files that parse and line up."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from playlist2vec import store, vectors
from playlist2vec.cli import main
from playlist2vec.settings import Settings

pytestmark = pytest.mark.integration
DIM = 4


def _seed(db: Any, settings: Settings) -> tuple[dict[str, np.ndarray], dict[int, np.ndarray]]:
    rng = np.random.default_rng(0)

    def enc(v: np.ndarray) -> Any:
        return vectors.encode(v, settings.vector_subtype)

    db[store.MODELS].insert_many([{"_id": "m1", "status": "retired", "vector_size": 3},
                                  {"_id": "m2", "status": "active", "vector_size": DIM}])
    tracks = {f"spotify:track:{i:022d}": rng.standard_normal(DIM).astype(np.float32) for i in range(7)}
    db[store.TRACK_VECTORS].insert_many(
        [{"_id": {"m": "m2", "t": u}, "vector": enc(v), "count": i + 1}
         for i, (u, v) in enumerate(tracks.items())]
        + [{"_id": {"m": "m1", "t": "spotify:track:old"}, "vector": enc(np.ones(3)), "count": 9}])
    db[store.TRACKS].insert_many([{"_id": u, "track_name": f"song\t{i}", "artist_name": f"artist {i % 2}"}
                                  for i, u in enumerate(tracks) if i != 6])  # one track lacks metadata
    playlists = {pid: rng.standard_normal(DIM).astype(np.float32) for pid in (10, 11, 12, 13)}
    db[store.PLAYLIST_VECTORS].insert_many(
        [{"_id": {"m": "m2", "p": pid}, "vector": enc(v), "n_tracks": pid, "n_known": pid - 5}
         for pid, v in playlists.items()]
        + [{"_id": {"m": "m2", "p": 14}, "n_tracks": 3, "n_known": 0},  # no known track: no vector
           {"_id": {"m": "m1", "p": 15}, "vector": enc(np.ones(3)), "n_tracks": 1, "n_known": 1},
           # model m1's vector of a playlist m2 also has: not m2's
           {"_id": {"m": "m1", "p": 10}, "vector": enc(np.ones(3)), "n_tracks": 1, "n_known": 1}])
    db[store.PLAYLISTS].insert_many([{"_id": pid, "name": f"list {pid}\nnew line", "tracks": []}
                                     for pid in range(10, 16)])
    return tracks, playlists


def _export(settings: Settings, *args: str) -> int:
    return main(["--mongo-uri", settings.mongo_uri.get_secret_value(), "--mongo-db", settings.mongo_db,
                 "export-projector", *args])


def _read(out: Path) -> tuple[list[str], list[list[str]], np.ndarray, dict[str, Any]]:
    header, *rows = [line.split("\t") for line in (out / "metadata.tsv").read_text("utf-8").splitlines()]
    matrix = np.loadtxt(out / "vectors.tsv", delimiter="\t", ndmin=2)
    config = json.loads((out / "projector_config.json").read_text())["embeddings"][0]
    assert len(rows) == matrix.shape[0] == config["tensorShape"][0]
    assert matrix.shape[1] == config["tensorShape"][1] == DIM
    assert all(len(r) == len(header) for r in rows)
    assert (out / config["tensorPath"]).exists() and (out / config["metadataPath"]).exists()
    return header, rows, matrix, config


def test_tracks_export_lines_up(settings: Settings, db: Any, tmp_path: Path) -> None:
    tracks, _ = _seed(db, settings)
    assert _export(settings, "--what", "tracks", "--out", str(tmp_path)) == 0
    header, rows, matrix, config = _read(tmp_path)
    assert header == ["track_uri", "track_name", "artist_name", "count"]
    assert {r[0] for r in rows} == set(tracks) and "m2" in config["tensorName"]
    for row, vector in zip(rows, matrix, strict=True):  # each vector sits on its track's row
        np.testing.assert_allclose(vector, tracks[row[0]], rtol=1e-6)
    by_uri = {r[0]: r for r in rows}
    first, last = sorted(tracks)[0], sorted(tracks)[6]
    assert by_uri[first][1:] == ["song 0", "artist 0", "1"]
    assert by_uri[last][1:] == ["", "", "7"]


def test_playlists_sample_lines_up(settings: Settings, db: Any, tmp_path: Path) -> None:
    _, playlists = _seed(db, settings)
    assert _export(settings, "--what", "playlists", "--sample", "3", "--out", str(tmp_path)) == 0
    header, rows, matrix, _ = _read(tmp_path)
    assert header == ["pid", "name", "n_tracks", "n_known"]
    assert len(rows) == 3 and {int(r[0]) for r in rows} <= set(playlists)
    for row, vector in zip(rows, matrix, strict=True):
        pid = int(row[0])
        assert row[1:] == [f"list {pid} new line", str(pid), str(pid - 5)]
        np.testing.assert_allclose(vector, playlists[pid], rtol=1e-6)


def test_bad_input_is_one_line_error(settings: Settings, db: Any, tmp_path: Path,
                                     capsys: pytest.CaptureFixture[str]) -> None:
    assert _export(settings, "--out", str(tmp_path)) == 1  # no active model yet
    assert "no active model" in capsys.readouterr().err
    _seed(db, settings)
    assert _export(settings, "--what", "albums", "--out", str(tmp_path)) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "tracks, playlists" in err
    assert not (tmp_path / "vectors.tsv").exists()
