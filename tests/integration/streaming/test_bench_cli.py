"""`playlist2vec bench stream` end to end at a tiny size: the real job process, a sane report."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from playlist2vec import store
from playlist2vec.cli import main
from playlist2vec.settings import Settings

pytestmark = [pytest.mark.integration, pytest.mark.spark]


def test_bench_stream_accounts_for_every_event(settings: Settings, tmp_path: Path,
                                               monkeypatch: pytest.MonkeyPatch,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    for name, value in settings.to_env().items():
        monkeypatch.setenv(name, value)
    output = tmp_path / "stream.json"
    code = main(["bench", "stream", "--events", "300", "--rate", "300", "--producers", "2",
                 "--vocab-size", "500", "--no-serve", "--warm-up", "1", "--output", str(output)])
    assert code == 0
    document = json.loads(output.read_text())
    assert capsys.readouterr().out.endswith(f"report: {output}\n")
    assert document["benchmark"] == "stream" and document["options"]["spark_master"] == "local[2]"
    report = document["results"]
    assert report["complete"] and report["events"] == report["events_measured"] == report["acked"] == 300
    assert report["warm_up_s"] == 1  # 300 warm-up events, written before the measured ones
    assert 0 <= report["kafka_to_mongo_p50_s"] <= report["kafka_to_mongo_p95_s"] \
        <= report["kafka_to_mongo_p99_s"] <= report["kafka_to_mongo_max_s"] < 600
    assert report["sustained_throughput_per_s"] > 0 and report["published_rate_per_s"] > 0
    assert report["batches"] >= 1 and report["mean_batch_s"] > 0
    # the bench cleans up its own database and leaves the test's untouched
    with store.connect(settings.mongo_uri.get_secret_value()) as client:
        names = client.list_database_names()
    assert not [n for n in names if n.startswith(f"{settings.mongo_db}_bench_")]
