"""Prometheus metrics of a batch run (`p2v_batch_*`), written as a textfile at the end of the run.

A batch job is not scraped while it runs; its last run is published as a node-exporter style
textfile (`P2V_HOME/metrics/batch.prom`) that a collector or a push step picks up.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from pathlib import Path

from prometheus_client import CollectorRegistry, Gauge, write_to_textfile


class BatchMetrics:
    """The batch series, on their own registry unless one is injected (tests)."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        self.stage_seconds = Gauge("p2v_batch_stage_duration_seconds", "Wall time of each stage of "
                                   "the last run, seconds", ["stage"], registry=self.registry)
        self.documents = Gauge("p2v_batch_documents_written", "Documents written by the last run",
                               ["collection"], registry=self.registry)
        self.vocabulary = Gauge("p2v_batch_vocabulary_size", "Tracks with a vector in the last "
                                "trained model", registry=self.registry)
        self.playlists = Gauge("p2v_batch_corpus_playlists", "Valid playlists read by the last run",
                               registry=self.registry)
        self.bad_records = Gauge("p2v_batch_bad_records", "Malformed records skipped by the last run",
                                 registry=self.registry)
        self.success = Gauge("p2v_batch_last_run_success", "1 if the last run activated its model",
                             registry=self.registry)
        self.finished = Gauge("p2v_batch_last_run_timestamp_seconds", "When the last run ended "
                              "(Unix seconds)", registry=self.registry)

    def record(self, stage_seconds: Mapping[str, float], written: Mapping[str, int],
               corpus: Mapping[str, int], vocabulary: int, success: bool) -> None:
        for stage, seconds in stage_seconds.items():
            self.stage_seconds.labels(stage).set(seconds)
        for collection, count in written.items():
            self.documents.labels(collection).set(count)
        self.playlists.set(corpus.get("playlists", 0))
        self.bad_records.set(corpus.get("bad_records", 0))
        self.vocabulary.set(vocabulary)
        self.success.set(1 if success else 0)
        self.finished.set(time.time())

    def write(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        write_to_textfile(str(path), self.registry)
