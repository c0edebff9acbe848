"""`playlist2vec produce` in-process against the private Kafka: topics created, events and counts."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import pytest

from playlist2vec.cli import main
from playlist2vec.errors import InvalidInput
from playlist2vec.events import parse_event
from playlist2vec.settings import Settings

pytestmark = pytest.mark.integration


def write_slice(folder: Path, n: int) -> Path:
    playlists = [{"pid": pid, "name": f"list {pid}", "collaborative": "false", "modified_at": 1_500_000_000,
                  "num_followers": 2, "num_tracks": 3,
                  "tracks": [{"pos": i, "track_uri": f"spotify:track:{pid:03d}{i:019d}",
                              "track_name": f"t{i}",
                              "artist_name": "a", "artist_uri": "spotify:artist:x", "album_name": "b",
                              "album_uri": "spotify:album:y", "duration_ms": 1000 + i} for i in range(3)]}
                 for pid in range(n)]
    path = folder / "mpd.slice.0-9.json"
    path.write_text(json.dumps({"info": {"slice": "0-9"}, "playlists": playlists}))
    return path


def test_produce_publishes_creations_edits_deletes_and_invalid_events(
        settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str], helpers: SimpleNamespace) -> None:
    for name, value in settings.to_env().items():
        monkeypatch.setenv(name, value)
    path = write_slice(tmp_path, 10)
    code = main(["produce", "--input", str(path), "--edits", "2", "--deletes", "0.2", "--invalid", "0.1",
                 "--partitions", "2", "--rate", "2000", "--seed", "5"])
    assert code == 0
    summary = capsys.readouterr().out
    assert summary.startswith("published ") and "create=10" in summary and "delete=2" in summary

    total = int(summary.split()[1])
    records = helpers.read_topic(settings, settings.playlist_topic, total)
    assert len(records) == total
    valid = invalid = 0
    for r in records:
        try:
            parse_event(r.key, r.value, r.timestamp // 1000)
            valid += 1
        except InvalidInput:
            invalid += 1
    assert valid == 10 + 20 + 2
    assert f"invalid={invalid}" in summary if invalid else "invalid" not in summary


def test_produce_refuses_a_missing_input(settings: Settings, monkeypatch: pytest.MonkeyPatch,
                                         tmp_path: Path) -> None:
    for name, value in settings.to_env().items():
        monkeypatch.setenv(name, value)
    (tmp_path / "empty").mkdir()
    assert main(["produce", "--input", str(tmp_path / "empty")]) != 0
