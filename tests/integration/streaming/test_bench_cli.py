"""`playlist2vec bench stream` end to end at a tiny size: the real job process, a sane report."""

from __future__ import annotations

import json
import socket
from pathlib import Path

import pytest

from playlist2vec import store
from playlist2vec.cli import main
from playlist2vec.settings import Settings
from streaming.bench import child_env

pytestmark = [pytest.mark.integration, pytest.mark.spark]


def _free_addr() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return f"127.0.0.1:{sock.getsockname()[1]}"


def test_bench_stream_accounts_for_every_event(settings: Settings, tmp_path: Path,
                                               monkeypatch: pytest.MonkeyPatch,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    for name, value in child_env(settings).items():
        monkeypatch.setenv(name, value)
    output = tmp_path / "stream.json"
    code = main(["bench", "stream", "--events", "300", "--rate", "1000", "--vocab-size", "500",
                 "--metrics-addr", _free_addr(), "--output", str(output)])
    assert code == 0
    report = json.loads(output.read_text())
    assert f"written to {output}" in capsys.readouterr().out
    assert report["complete"] and report["events"] == report["events_measured"] == 300
    assert 0 <= report["latency_p50_s"] <= report["latency_p95_s"] <= report["latency_p99_s"] \
        <= report["latency_max_s"] < 600
    assert report["throughput_per_s"] > 0 and report["publish_rate_per_s"] > 0
    assert report["batches"] >= 1 and report["mean_batch_s"] > 0
    assert report["drain_throughput_per_s"] > 0 and report["all_written_after_last_publish_s"] >= 0
    # the bench cleans up its own database and leaves the test's untouched
    names = store.connect(settings.mongo_uri.get_secret_value()).list_database_names()
    assert not [n for n in names if n.startswith(f"{settings.mongo_db}_bench_")]
