"""`playlist2vec bench stream` end to end at a tiny size: the real job process, a sane report."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from playlist2vec import store, topics
from playlist2vec.cli import main
from playlist2vec.settings import Settings
from streaming.bench import _cleaned_up
from tests.support.waiting import wait_until

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
    cpu = report["cpu_us_per_event"]  # every part of the system is charged, the stack's too
    assert {"spark_jvm", "spark_python_workers", "producers", "kafka", "mongo"} <= cpu.keys()
    assert cpu["total"] == pytest.approx(sum(v for k, v in cpu.items() if k != "total"), abs=len(cpu))
    assert cpu["spark_python_workers"] > 0 and cpu["mongo"] > 0 and report["cpu_cores_in_use"] > 0
    # the bench cleans up its own database and leaves the test's untouched
    with store.connect(settings.mongo_uri.get_secret_value()) as client:
        names = client.list_database_names()
    assert not [n for n in names if n.startswith(f"{settings.mongo_db}_bench_")]


def test_a_failed_run_leaves_neither_its_database_nor_its_topics(settings: Settings) -> None:
    bench = settings.model_copy(update={"mongo_db": f"{settings.mongo_db}_bench_failed",
                                        "playlist_topic": "bench-failed", "dlq_topic": "bench-failed.dlq"})
    topics.ensure_topics(bench)
    with store.opened(bench) as db, pytest.raises(RuntimeError, match="warm-up"), _cleaned_up(bench, db):
        db["playlist_vectors"].insert_one({"_id": 1})
        raise RuntimeError("the warm-up failed")
    with store.connect(settings.mongo_uri.get_secret_value()) as client:
        assert bench.mongo_db not in client.list_database_names()
    admin = topics.admin(bench)
    try:
        # a deletion is asynchronous in Kafka: the topics go within moments
        wait_until(lambda: not {"bench-failed", "bench-failed.dlq"} & set(admin.list_topics()), 30,
                   "the benchmark's topics deleted", interval_s=0.2)
    finally:
        admin.close()
