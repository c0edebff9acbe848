"""A small generated corpus shared by the batch integration tests."""

from __future__ import annotations

from pathlib import Path

import pytest

from batch.generate import generate_corpus

N_PLAYLISTS = 600


@pytest.fixture(scope="session")
def corpus_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("mpd")
    generate_corpus(N_PLAYLISTS, folder, seed=11)
    return folder
