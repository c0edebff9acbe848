"""Malformed slices: a clear error naming the file, or skip-and-count."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from batch.generate import iter_playlists
from batch.reader import load_corpus
from playlist2vec.errors import InvalidInput

pytestmark = pytest.mark.spark  # the SparkSession only: no Kafka, no MongoDB


@pytest.fixture
def mixed(tmp_path: Path) -> Path:
    good = list(iter_playlists(30, seed=2))
    bad_record = [*good[20:], {"pid": "seven", "name": "x", "modified_at": 1, "tracks": []}]
    (tmp_path / "mpd.slice.0-19.json").write_text(json.dumps({"playlists": good[:20]}))
    (tmp_path / "mpd.slice.20-30.json").write_text(json.dumps({"playlists": bad_record}))
    (tmp_path / "mpd.slice.31-40.json").write_text('{"playlists": [{"pid": 1,')  # truncated
    return tmp_path


def test_without_skip_the_error_names_the_file_and_record(spark: Any, mixed: Path) -> None:
    with pytest.raises(InvalidInput, match=r"mpd\.slice\.20-30\.json: playlist #10: .*`\$\.pid`"):
        load_corpus(spark, str(mixed))


def test_a_broken_file_is_named(spark: Any, mixed: Path, tmp_path_factory: Any) -> None:
    only = tmp_path_factory.mktemp("broken")
    shutil.copy(mixed / "mpd.slice.31-40.json", only)
    with pytest.raises(InvalidInput, match=r"mpd\.slice\.31-40\.json: not valid JSON: Input data was"):
        load_corpus(spark, str(only))


def test_skip_bad_skips_and_counts(spark: Any, mixed: Path) -> None:
    corpus = load_corpus(spark, str(mixed), skip_bad=True)
    try:
        assert (corpus.n_playlists, corpus.bad_records, corpus.files) == (30, 2, 3)
        rows = {r["pid"]: r for r in corpus.playlists.collect()}
        # the good neighbours of the bad record, decoded one by one, as a clean file's are
        for playlist in iter_playlists(30, seed=2):
            row = rows[playlist["pid"]]
            assert row["tracks"] == [t["track_uri"] for t in sorted(playlist["tracks"],
                                                                    key=lambda t: t["pos"])]
            assert (row["name"], row["modified_at"]) == (playlist["name"], playlist["modified_at"])
    finally:
        corpus.release()


def test_tracks_are_ordered_by_pos(spark: Any, tmp_path: Path) -> None:
    playlist = {"pid": 5, "name": "n", "modified_at": 9, "tracks": [
        {"pos": 2, "track_uri": "c"}, {"pos": 0, "track_uri": "a"}, {"pos": 1, "track_uri": "b"}]}
    (tmp_path / "one.json").write_text(json.dumps({"playlists": [playlist]}))
    corpus = load_corpus(spark, str(tmp_path / "one.json"))
    try:
        assert corpus.playlists.first()["tracks"] == ["a", "b", "c"]
        assert corpus.tokens == 3
    finally:
        corpus.release()


def test_no_matching_files_is_an_input_error(spark: Any, tmp_path: Path) -> None:
    with pytest.raises(InvalidInput, match="no slice files match"):
        load_corpus(spark, str(tmp_path / "nothing-*.json"))


def test_fields_the_job_does_not_use_are_not_checked(spark: Any, tmp_path: Path) -> None:
    playlist = {"pid": 5, "name": "n", "modified_at": 9, "num_followers": "many",
                "collaborative": {"odd": True}, "tracks": [{"pos": 0, "track_uri": "a"}]}
    (tmp_path / "one.json").write_text(json.dumps({"playlists": [playlist]}))
    corpus = load_corpus(spark, str(tmp_path / "one.json"))
    try:
        assert (corpus.n_playlists, corpus.bad_records) == (1, 0)
    finally:
        corpus.release()
