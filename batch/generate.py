"""Synthetic Million-Playlist-Dataset slices with a known structure (latent scenes, long tail).

A catalog of tracks is split into "scenes" (think genres or moods); each playlist draws most
of its tracks from one to three scenes, by a Zipf popularity inside each scene, plus a little
global noise. Co-occurrence therefore carries signal that Word2Vec can find and that a
popularity baseline cannot, which is what evaluation and the tests rely on. Deterministic for
a seed. Library entry points: `iter_playlists` (in memory) and `generate_corpus` (files).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

SLICE_SIZE = 1_000
MIN_TRACKS, MAX_TRACKS = 5, 250
# lognormal playlist lengths: clipped to 5..250 this gives a mean near 66, as in the MPD
_LENGTH_MU, _LENGTH_SIGMA = 3.93, 0.85
_NOISE = 0.08  # share of a playlist's tracks drawn from global popularity, ignoring scenes
_FIRST_MODIFIED, _LAST_MODIFIED = 1_262_304_000, 1_509_494_400  # 2010-01-01 .. 2017-11-01
_BASE62 = np.array(list("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"))
_MOODS = ("chill", "summer", "workout", "road trip", "party", "sad", "throwback", "focus",
          "sleep", "morning", "rainy day", "late night", "happy", "love", "study", "gym")
_GENRES = ("indie", "rap", "country", "rock", "jazz", "edm", "pop", "folk", "metal", "soul",
           "latin", "punk", "blues", "house", "lofi", "r&b", "gospel", "reggae", "disco", "emo")
_WORDS = ("fire", "night", "heart", "river", "gold", "ghost", "neon", "wild", "blue", "echo",
          "storm", "dream", "stone", "light", "shadow", "honey", "glass", "ocean", "velvet",
          "city", "paper", "silver", "summer", "lost", "electric", "sugar", "thunder", "midnight",
          "rose", "smoke")


def _uris(rng: np.random.Generator, kind: str, n: int) -> list[str]:
    chars = _BASE62[rng.integers(0, 62, size=(n, 22))]
    return [f"spotify:{kind}:{''.join(row)}" for row in chars]


def _names(rng: np.random.Generator, n: int, words: int) -> list[str]:
    picks = rng.integers(0, len(_WORDS), size=(n, words))
    return [" ".join(_WORDS[i] for i in row).title() for row in picks]


@dataclass(frozen=True)
class Catalog:
    """Tracks with metadata, grouped into scenes with Zipf popularity inside each scene."""

    tracks: list[dict[str, Any]]  # MPD track fields except `pos`
    track_json: list[str]  # each track's fields as JSON, without the braces (fast slice writing)
    artist_of: np.ndarray  # track index -> artist index
    album_of: np.ndarray  # track index -> album index
    duration_ms: np.ndarray  # track index -> duration
    scene_of: np.ndarray  # track index -> scene
    scene_tracks: list[np.ndarray]  # scene -> its track indices, most popular first
    scene_cdf: list[np.ndarray]  # scene -> cumulative popularity over scene_tracks
    theme_cdf: np.ndarray  # cumulative share of playlists whose theme each scene is
    global_cdf: np.ndarray  # cumulative popularity over all tracks
    scene_names: list[str]


def build_catalog(n_playlists: int, seed: int, scenes: int | None = None) -> Catalog:
    """A catalog sized for `n_playlists`: 2 tracks per playlist, one scene per 250 playlists
    unless `scenes` says otherwise (more scenes: less overlap, a weaker popularity baseline)."""
    rng = np.random.default_rng(seed)
    n_tracks = max(200, 2 * n_playlists)
    n_scenes = scenes or max(8, n_playlists // 250)
    scene_of = rng.permutation(np.arange(n_tracks) % n_scenes)
    scene_weight = 1.0 / np.arange(1, n_scenes + 1) ** 0.6
    scene_weight = rng.permutation(scene_weight / scene_weight.sum())
    scene_tracks, scene_cdf = [], []
    popularity = np.empty(n_tracks)
    for scene in range(n_scenes):
        members = rng.permutation(np.flatnonzero(scene_of == scene))
        weights = 1.0 / np.arange(1, members.size + 1) ** 1.05
        weights /= weights.sum()
        scene_tracks.append(members)
        scene_cdf.append(np.cumsum(weights))
        popularity[members] = weights * scene_weight[scene]
    # artists own runs of ~8 tracks of one scene, albums runs of ~4 tracks of one artist
    order = np.concatenate(scene_tracks)
    artist_of = np.empty(n_tracks, dtype=np.int64)
    album_of = np.empty(n_tracks, dtype=np.int64)
    artist_of[order] = np.arange(n_tracks) // 8
    album_of[order] = np.arange(n_tracks) // 4
    n_artists, n_albums = int(artist_of.max()) + 1, int(album_of.max()) + 1
    track_uris = _uris(rng, "track", n_tracks)
    artist_uris, album_uris = _uris(rng, "artist", n_artists), _uris(rng, "album", n_albums)
    track_names, artist_names, album_names = (
        _names(rng, n_tracks, 2), _names(rng, n_artists, 2), _names(rng, n_albums, 3))
    durations = rng.integers(90_000, 420_000, size=n_tracks)
    tracks = [
        {"artist_name": artist_names[artist_of[i]], "track_uri": track_uris[i],
         "artist_uri": artist_uris[artist_of[i]], "track_name": track_names[i],
         "album_uri": album_uris[album_of[i]], "album_name": album_names[album_of[i]],
         "duration_ms": int(durations[i])}
        for i in range(n_tracks)
    ]
    scene_names = [f"{_MOODS[s % len(_MOODS)]} {_GENRES[(s // len(_MOODS)) % len(_GENRES)]}"
                   for s in range(n_scenes)]
    track_json = [json.dumps(t, separators=(",", ":"))[1:-1] for t in tracks]
    return Catalog(tracks, track_json, artist_of, album_of, durations, scene_of, scene_tracks,
                   scene_cdf, np.cumsum(scene_weight), np.cumsum(popularity / popularity.sum()),
                   scene_names)


def _draw(rng: np.random.Generator, cdf: np.ndarray, n: int) -> np.ndarray:
    drawn: np.ndarray = np.minimum(np.searchsorted(cdf, rng.random(n) * cdf[-1]), cdf.size - 1)
    return drawn


def _playlist_tracks(rng: np.random.Generator, catalog: Catalog) -> np.ndarray:
    length = int(np.clip(round(rng.lognormal(_LENGTH_MU, _LENGTH_SIGMA)), MIN_TRACKS, MAX_TRACKS))
    scenes = np.unique(_draw(rng, catalog.theme_cdf, min(3, 1 + rng.poisson(0.6))))
    share = rng.dirichlet(np.full(scenes.size, 2.0)) * (1 - _NOISE)
    counts = rng.multinomial(length, np.append(share, _NOISE))
    # popular tracks repeat, so draw twice as many and keep the first `length` distinct ones
    picks = [catalog.scene_tracks[s][_draw(rng, catalog.scene_cdf[s], 2 * c)]
             for s, c in zip(scenes.tolist(), counts[:-1].tolist(), strict=True)]
    picks.append(_draw(rng, catalog.global_cdf, 2 * int(counts[-1])))
    drawn = np.concatenate(picks)
    rng.shuffle(drawn)
    _, first = np.unique(drawn, return_index=True)
    distinct: np.ndarray = drawn[np.sort(first)][:length]
    return distinct


def _iter_raw(n_playlists: int, seed: int, catalog: Catalog | None,
              start_pid: int) -> Iterator[tuple[dict[str, Any], np.ndarray, Catalog]]:
    """(playlist fields except `tracks`, track indices in order, catalog) per playlist."""
    catalog = catalog or build_catalog(n_playlists, seed)
    rng = np.random.default_rng([seed, 1])
    for pid in range(start_pid, start_pid + n_playlists):
        ids = _playlist_tracks(rng, catalog)
        theme = int(np.bincount(catalog.scene_of[ids]).argmax())
        yield {
            "name": catalog.scene_names[theme],
            "collaborative": "true" if rng.random() < 0.02 else "false",
            "pid": pid,
            "modified_at": int(rng.integers(_FIRST_MODIFIED, _LAST_MODIFIED)),
            "num_tracks": int(ids.size),
            "num_albums": int(np.unique(catalog.album_of[ids]).size),
            "num_followers": int(rng.geometric(0.6)),
            "num_edits": int(rng.integers(1, 30)),
            "duration_ms": int(catalog.duration_ms[ids].sum()),
            "num_artists": int(np.unique(catalog.artist_of[ids]).size),
        }, ids, catalog


def iter_playlists(n_playlists: int, seed: int = 0, catalog: Catalog | None = None,
                   start_pid: int = 0) -> Iterator[dict[str, Any]]:
    """MPD playlist dicts (pids `start_pid`..), deterministic for (n_playlists, seed)."""
    for fields, ids, cat in _iter_raw(n_playlists, seed, catalog, start_pid):
        fields["tracks"] = [{"pos": pos, **cat.tracks[i]} for pos, i in enumerate(ids.tolist())]
        yield fields


def _playlist_json(fields: dict[str, Any], ids: np.ndarray, catalog: Catalog) -> str:
    tracks = ",".join(f'{{"pos":{pos},{catalog.track_json[i]}}}'
                      for pos, i in enumerate(ids.tolist()))
    return json.dumps(fields, separators=(",", ":"))[:-1] + f',"tracks":[{tracks}]}}'


def slice_name(lo: int, hi: int) -> str:
    return f"mpd.slice.{lo}-{hi}.json"


def generate_corpus(n_playlists: int, out_dir: Path, seed: int = 0,
                    progress: Callable[[int], None] | None = None,
                    scenes: int | None = None) -> list[Path]:
    """Write `n_playlists` as MPD slices of 1,000 into `out_dir` (the playlists `iter_playlists`
    yields); returns the files written. `progress(n)` is called after each slice of n playlists."""
    out_dir.mkdir(parents=True, exist_ok=True)
    raw = _iter_raw(n_playlists, seed, build_catalog(n_playlists, seed, scenes), 0)
    written = []
    for lo in range(0, n_playlists, SLICE_SIZE):
        hi = min(lo + SLICE_SIZE, n_playlists) - 1
        info = json.dumps({"generated_on": "2017-12-03 08:41:42.057563", "slice": f"{lo}-{hi}",
                           "version": "v1", "generator": f"playlist2vec seed={seed}"})
        playlists = ",".join(_playlist_json(*next(raw)) for _ in range(hi - lo + 1))
        path = out_dir / slice_name(lo, hi)
        path.write_text(f'{{"info":{info},"playlists":[{playlists}]}}', encoding="utf-8")
        written.append(path)
        if progress is not None:
            progress(hi - lo + 1)
    return written
