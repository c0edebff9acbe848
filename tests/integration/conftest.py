"""The whole live path for tests that measure it from outside: a seeded active model, the
streaming job (in-process, on the session's SparkSession) and the HTTP server over them.

Known answer: 1,200 tracks in 12 clusters of 100 (six directions and their opposites); the
active model gives 30 % of the tracks a random vector instead, so a model with the clean
vectors is better and one with shuffled rows is worse.

Kafka -> stream -> MongoDB -> change stream -> index -> HTTP, all real; a test publishes with
the project's producer and reads answers and metrics as a user and Prometheus would.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from prometheus_client import CollectorRegistry

from playlist2vec import store, topics
from playlist2vec.settings import Settings
from serving.engine import ServeOptions
from serving.metrics import ServingMetrics
from serving.server import BackgroundServer, build_app
from streaming import job
from streaming.bench import seed_model
from streaming.metrics import StreamMetrics

VERSION = "m1"
CLUSTERS = 12  # +e_c and -e_c for c < 6: half of the clusters point away from the other half
PER_CLUSTER = 100
DIM = 16
NOISY = 0.3  # the active model's share of tracks with a random vector: a mediocre model


def cluster_of(index: int) -> int:
    return index // PER_CLUSTER


def clean_vectors(seed: int = 5) -> np.ndarray:
    """Track i of cluster c near +e_c (c < 6) or -e_(c-6): a model that knows every track."""
    rng = np.random.default_rng(seed)
    centres = np.concatenate([np.eye(DIM)[:CLUSTERS // 2], -np.eye(DIM)[:CLUSTERS // 2]])
    return (np.repeat(centres, PER_CLUSTER, axis=0)
            + rng.normal(0, 0.05, (CLUSTERS * PER_CLUSTER, DIM))).astype(np.float32)


def noisy_vectors(seed: int = 6) -> np.ndarray:
    """The clean vectors with `NOISY` of the rows replaced by random directions."""
    rng = np.random.default_rng(seed)
    matrix = clean_vectors()
    noisy = rng.random(len(matrix)) < NOISY
    matrix[noisy] = rng.normal(size=(int(noisy.sum()), DIM)).astype(np.float32)
    return matrix


@dataclass
class Pipeline:
    settings: Settings
    db: Any
    uris: list[str]
    matrix: np.ndarray
    url: str
    serving: ServingMetrics
    stream: job.RunningStream | None

    def stop_stream(self) -> None:
        if self.stream is not None:
            self.stream.stop()
            self.stream = None


@pytest.fixture
def pipeline(stack_settings: Settings, spark: Any, tmp_path: Path) -> Iterator[Pipeline]:
    """A running stream job and server over a fresh database and topic (stopped at the end)."""
    suffix = uuid.uuid4().hex[:8]
    settings = stack_settings.model_copy(update={
        "mongo_db": f"p2v_pipe_{suffix}", "playlist_topic": f"pipe_{suffix}",
        "dlq_topic": f"pipe_{suffix}.dlq", "fold_in_min_support": 3})
    topics.ensure_topics(settings, partitions=2)
    with store.opened(settings) as db:
        store.ensure_indexes(db)
        uris = [f"spotify:track:pipe{i:06d}" for i in range(CLUSTERS * PER_CLUSTER)]
        matrix = noisy_vectors()
        seed_model(db, VERSION, uris, matrix, settings.vector_subtype)
        running = job.start(spark, settings, job.StreamOptions(
            checkpoint=tmp_path / "checkpoint", trigger="200 milliseconds",
            max_offsets_per_trigger=5_000), StreamMetrics(CollectorRegistry()))
        serving = ServingMetrics(CollectorRegistry())
        app = build_app(settings, ServeOptions(indexes_dir=tmp_path / "indexes", strategy="exact",
                                               poll_wait=0.05, instance="pipe", live_quality=True),
                        serving)
        found = Pipeline(settings, db, uris, matrix, "", serving, running)
        try:
            with BackgroundServer(app) as url:
                found.url = url
                yield found
        finally:
            found.stop_stream()
            db.client.drop_database(db.name)
