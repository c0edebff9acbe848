"""A small seeded chaos round on the real stack: kill -9 of the stream job, the server, Kafka and
MongoDB while poison events flow, and nothing is lost (the full run is `playlist2vec chaos`)."""

from __future__ import annotations

from pathlib import Path

import pytest

from playlist2vec.chaos import ChaosOptions, run_chaos
from tests.conftest import private_settings

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def test_a_seeded_round_of_faults_loses_nothing(tmp_path: Path) -> None:
    settings = private_settings(tmp_path / "home", fold_in_min_support=3)  # fold-in under faults too
    options = ChaosOptions(events=1_500, rounds=4, seed=13, rate=300, playlists=200,
                           settle_timeout_s=240, report=tmp_path / "report.json")
    report = run_chaos(settings, options, say=lambda _: None)
    assert {victim for _, victim in report.faults} == {"stream", "serve", "kafka", "mongo"}
    assert report.invalid > 0
    assert report.passed, report.summary()
    assert (tmp_path / "report.json").exists()
