"""The batch run's Prometheus textfile."""

from __future__ import annotations

from pathlib import Path

from prometheus_client import CollectorRegistry

from batch.metrics import BatchMetrics


def test_a_run_is_published_as_a_textfile(tmp_path: Path) -> None:
    registry = CollectorRegistry()
    metrics = BatchMetrics(registry)
    metrics.record({"fit": 12.5}, {"tracks": 40}, {"playlists": 7, "bad_records": 1}, 33, True)
    assert registry.get_sample_value("p2v_batch_stage_duration_seconds", {"stage": "fit"}) == 12.5
    assert registry.get_sample_value("p2v_batch_documents_written", {"collection": "tracks"}) == 40
    assert registry.get_sample_value("p2v_batch_last_run_success") == 1
    metrics.write(tmp_path / "m" / "batch.prom")
    text = (tmp_path / "m" / "batch.prom").read_text()
    assert "p2v_batch_vocabulary_size 33.0" in text and "p2v_batch_bad_records 1.0" in text
