"""`bench lyrics-fetch` runs in a scratch database and writes its numbers as JSON."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from playlist2vec import store
from playlist2vec.cli import main
from playlist2vec.settings import Settings

pytestmark = pytest.mark.integration


def test_bench_reports_throughput_and_leaves_no_database(settings: Settings, tmp_path: Path) -> None:
    out = tmp_path / "bench.json"
    code = main(["--mongo-uri", settings.mongo_uri.get_secret_value(), "--mongo-db", settings.mongo_db,
                 "bench", "lyrics-fetch", "--songs", "60", "--latency-ms", "20", "--concurrency", "6",
                 "--rate", "0", "--output", str(out)])
    assert code == 0
    document = json.loads(out.read_text())
    assert document["benchmark"] == "lyrics-fetch" and document["options"]["songs"] == 60
    result = document["results"]
    assert result["found"] == 60 and 2 <= result["max_in_flight"] <= 6
    # 6 at a time, 20 ms each: no more than 18,000 songs/min (how close it gets depends on the machine)
    assert 0 < result["songs_per_min"] <= 18_000 and result["cpu_ms_per_song"] > 0
    with store.connect(settings.mongo_uri.get_secret_value()) as client:
        assert not [n for n in client.list_database_names() if "_bench_lyrics_" in n]
