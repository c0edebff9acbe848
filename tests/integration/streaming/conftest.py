"""Streaming fixtures: a tiny active model with a known answer, and helpers to read the results."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest
from kafka import KafkaConsumer, TopicPartition

from playlist2vec import store, vectors
from playlist2vec.settings import Settings
from streaming.bench import seed_model
from tests.support.waiting import gather


@dataclass(frozen=True)
class TinyModel:
    version: str
    uris: list[str]
    matrix: np.ndarray

    def mean(self, tracks: Sequence[str]) -> tuple[np.ndarray | None, int]:
        """The expected playlist vector, computed here with numpy (not with the code under test)."""
        index = {u: i for i, u in enumerate(self.uris)}
        rows = [self.matrix[index[t]] for t in tracks if t in index]
        return (np.mean(np.stack(rows).astype(np.float64), axis=0) if rows else None), len(rows)


@pytest.fixture(scope="session")
def make_model(stack_settings: Settings) -> Callable[..., TinyModel]:
    def make(db: Any, version: str, n_tracks: int = 40, dim: int = 8, seed: int = 0,
             status: str = "active") -> TinyModel:
        uris = [f"spotify:track:{version}{i:018d}"[:36] for i in range(n_tracks)]
        matrix = np.random.default_rng(seed).normal(size=(n_tracks, dim)).astype(np.float32)
        seed_model(db, version, uris, matrix, stack_settings.vector_subtype, status)
        return TinyModel(version, uris, matrix)

    return make


def assert_vector(doc: dict[str, Any], model: TinyModel, tracks: Sequence[str]) -> None:
    expected, n_known = model.mean(tracks)
    assert doc["_id"]["m"] == model.version
    assert doc["n_tracks"] == len(tracks) and doc["n_known"] == n_known
    if expected is None:
        assert "vector" not in doc
    else:
        np.testing.assert_allclose(vectors.decode(doc["vector"]), expected, rtol=1e-5, atol=1e-6)


def read_topic(settings: Settings, topic: str, at_least: int, timeout_s: float = 30.0) -> list[Any]:
    """Every record of `topic` (waiting up to `timeout_s` for `at_least` of them)."""
    consumer = KafkaConsumer(bootstrap_servers=settings.kafka_bootstrap.split(","),
                             enable_auto_commit=False, consumer_timeout_ms=1_000)
    try:
        parts = [TopicPartition(topic, p) for p in consumer.partitions_for_topic(topic) or ()]
        consumer.assign(parts)
        consumer.seek_to_beginning(*parts)
        # iterating the consumer yields what arrives within its 1 s timeout
        return gather(lambda _: list(consumer), at_least, timeout_s)
    finally:
        consumer.close()


def docs(db: Any, collection: str, pids: Iterable[int]) -> dict[int, dict[str, Any]]:
    return {d["_id"]: d for d in db[collection].find({"_id": {"$in": list(pids)}})}


def vector_docs(db: Any, version: str, pids: Iterable[int]) -> dict[int, dict[str, Any]]:
    """pid -> the `playlist_vectors` document of model `version`."""
    keys = [{"m": version, "p": pid} for pid in pids]
    return {d["_id"]["p"]: d for d in db[store.PLAYLIST_VECTORS].find({"_id": {"$in": keys}})}


@pytest.fixture(scope="session")
def helpers() -> SimpleNamespace:
    """The functions above, for test modules (which cannot import this conftest)."""
    return SimpleNamespace(assert_vector=assert_vector, read_topic=read_topic, docs=docs,
                           vector_docs=vector_docs)
