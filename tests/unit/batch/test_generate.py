"""Generated MPD slices: format, determinism, length distribution, scene structure."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from batch.generate import MAX_TRACKS, MIN_TRACKS, build_catalog, generate_corpus, iter_playlists

TRACK_KEYS = {"pos", "artist_name", "track_uri", "artist_uri", "track_name", "album_uri",
              "album_name", "duration_ms"}


@pytest.fixture(scope="module")
def playlists() -> list[dict]:
    return list(iter_playlists(3_000, seed=3))


def test_records_have_mpd_fields_and_types(playlists: list[dict]) -> None:
    for p in playlists[:200]:
        assert isinstance(p["pid"], int) and isinstance(p["modified_at"], int)
        assert p["collaborative"] in ("true", "false")
        assert p["num_tracks"] == len(p["tracks"])
        assert p["num_albums"] == len({t["album_uri"] for t in p["tracks"]})
        assert [t["pos"] for t in p["tracks"]] == list(range(len(p["tracks"])))
        for t in p["tracks"]:
            assert set(t) == TRACK_KEYS
            assert t["track_uri"].startswith("spotify:track:") and len(t["track_uri"]) == 36


def test_lengths_span_5_to_250_with_mean_near_66(playlists: list[dict]) -> None:
    lengths = np.array([p["num_tracks"] for p in playlists])
    assert lengths.min() >= MIN_TRACKS and lengths.max() <= MAX_TRACKS
    assert 58 <= lengths.mean() <= 74
    assert all(len(set(t["track_uri"] for t in p["tracks"])) == p["num_tracks"] for p in playlists)


def test_popularity_has_a_long_tail(playlists: list[dict]) -> None:
    counts = np.array(sorted(Counter(t["track_uri"] for p in playlists for t in p["tracks"]).values(),
                             reverse=True))
    top_share = counts[: counts.size // 100].sum() / counts.sum()
    assert top_share > 0.1  # the top 1% of tracks carries a large share of plays
    assert counts[0] > 50 * np.median(counts)  # the head is far above the typical track


def test_playlists_draw_mostly_from_few_scenes() -> None:
    catalog = build_catalog(3_000, seed=3)
    index = {t["track_uri"]: i for i, t in enumerate(catalog.tracks)}
    dominant = []
    for p in iter_playlists(3_000, seed=3, catalog=catalog):
        scenes = np.bincount(catalog.scene_of[[index[t["track_uri"]] for t in p["tracks"]]])
        dominant.append(np.sort(scenes)[-3:].sum() / p["num_tracks"])
    assert np.mean(dominant) > 0.85  # three scenes explain most of every playlist


def test_deterministic_for_a_seed() -> None:
    assert list(iter_playlists(50, seed=1)) == list(iter_playlists(50, seed=1))
    assert list(iter_playlists(50, seed=1)) != list(iter_playlists(50, seed=2))


def test_files_are_slices_of_1000_holding_the_same_playlists(tmp_path: Path) -> None:
    files = generate_corpus(2_500, tmp_path, seed=5)
    assert [f.name for f in files] == ["mpd.slice.0-999.json", "mpd.slice.1000-1999.json",
                                      "mpd.slice.2000-2499.json"]
    written = [p for f in files for p in json.loads(f.read_text())["playlists"]]
    assert json.loads(files[2].read_text())["info"]["slice"] == "2000-2499"
    assert written == list(iter_playlists(2_500, seed=5))
