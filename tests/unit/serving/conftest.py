"""A small model with a known geometry in a `MemorySource`, and the serving parts over it."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from prometheus_client import CollectorRegistry

from serving.loader import Loader
from serving.memory import MemorySource
from serving.metrics import ServingMetrics
from serving.options import ServeOptions
from serving.queries import Queries

DIM = 4


def axis(i: int, lean: int | None = None) -> np.ndarray:
    """Unit axis i, leaning a little towards axis `lean`: near axis i, nearest its twin."""
    vector = np.zeros(DIM, dtype=np.float32)
    vector[i] = 1.0
    if lean is not None:
        vector[lean] = 0.1
    return vector


def model_source(version: str = "m1") -> MemorySource:
    """Tracks a0, a1 (axis 0), b0, b1 (axis 1), c0, c1 (axis 2); playlists 100, 101 near axis
    0 and 200, 201 near axis 1, so each one's nearest neighbour is its twin."""
    source = MemorySource(active=version)
    add_model(source, version)
    return source


def add_model(source: MemorySource, version: str) -> None:
    uris = ["a0", "a1", "b0", "b1", "c0", "c1"]
    matrix = np.stack([axis(0), axis(0, 3), axis(1), axis(1, 3), axis(2), axis(2, 3)])
    source.tracks[version] = (uris, matrix)
    for pid, vector in {100: axis(0), 101: axis(0, 3), 200: axis(1), 201: axis(1, 3)}.items():
        source.add_playlist_vector(version, pid, vector)
    source.names |= {uri: {"track_name": uri.upper(), "artist_name": "x"} for uri in uris}
    source.playlists |= {100: {"_id": 100, "name": "first", "tracks": ["a0", "b0"]},
                         200: {"_id": 200, "name": "second", "tracks": ["b0", "b1"]}}


@pytest.fixture
def metrics() -> ServingMetrics:
    return ServingMetrics(CollectorRegistry())


@pytest.fixture
def source() -> MemorySource:
    return model_source()


@pytest.fixture
def options(tmp_path: Path) -> ServeOptions:
    return ServeOptions(indexes_dir=tmp_path / "indexes", strategy="exact")


@pytest.fixture
def loader(source: MemorySource, options: ServeOptions, metrics: ServingMetrics) -> Loader:
    return Loader(source, Queries(source), options, metrics)
