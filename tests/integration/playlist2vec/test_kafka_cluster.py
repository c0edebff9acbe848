"""A local 3-broker Kafka cluster (`stack up --brokers 3`): the streaming job keeps its
guarantees when a broker is `kill -9`ed in the middle of a stream.

Every acknowledged event (acks=all, min ISR 2) is in the topic exactly once, and MongoDB ends
equal to the oracle replayed from the topic: nothing lost, nothing applied twice or out of
order. CI runs 2,000 events; `CLUSTER_EVENTS=10000 pytest -m cluster` runs the issue's 10,000.
"""

from __future__ import annotations

import json
import os
import random
import signal
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from prometheus_client import CollectorRegistry

from playlist2vec import store
from playlist2vec.chaos import Oracle, mismatches, topic_records
from playlist2vec.children import wait_for
from playlist2vec.producer import Producer
from playlist2vec.settings import Settings
from playlist2vec.stack import LocalStack
from playlist2vec.stack.kafka import cluster_bootstrap
from streaming import job
from streaming.bench import seed_model, vocabulary
from streaming.metrics import StreamMetrics
from tests.conftest import private_settings
from tests.integration.playlist2vec.cluster_events import edits
from tests.support.ports import free_run

pytestmark = [pytest.mark.integration, pytest.mark.spark, pytest.mark.cluster]

EVENTS = int(os.environ.get("CLUSTER_EVENTS", "2000"))
RATE = 1000.0  # events/s
VERSION = "m1"


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Settings, LocalStack]]:
    base = free_run(6)
    settings = private_settings(tmp_path_factory.mktemp("p2v-cluster"),
                                kafka_bootstrap=cluster_bootstrap(base, 3),
                                kafka_controller_port=base + 1, mongo_heap="1g",
                                kafka_heap="384m")
    stack = LocalStack(settings)
    try:
        stack.up()
        yield settings, stack
    finally:
        stack.down()


def test_kill_9_of_a_broker_mid_stream_loses_and_duplicates_nothing(
        cluster: tuple[Settings, LocalStack], spark: Any, tmp_path: Path) -> None:
    settings, stack = cluster
    db = store.database(settings)
    vocab = vocabulary(500)
    seed_model(db, VERSION, vocab, np.random.default_rng(1).normal(size=(500, 16)).astype(np.float32),
               settings.vector_subtype)
    events = edits(EVENTS, random.Random(5), vocab)
    running = job.start(spark, settings, job.StreamOptions(
        checkpoint=tmp_path / "checkpoint", trigger="200 milliseconds", max_offsets_per_trigger=2_000),
        StreamMetrics(CollectorRegistry()))
    published = threading.Event()
    killed_at = EVENTS // 3

    def publish() -> int:
        with Producer(settings, {"acks": "all", "enable.idempotence": True, "linger.ms": 5,
                                 "message.timeout.ms": 120_000}) as producer:
            started = time.monotonic()
            for i, event in enumerate(events):
                if i == killed_at:
                    producer.flush()
                    published.set()  # the kill happens with records in flight after this
                producer.send(settings.playlist_topic, key=event.key, value=event.to_json())
                ahead = i / RATE - (time.monotonic() - started)
                if ahead > 0:
                    time.sleep(ahead)  # the publishing schedule, not a wait for a result
            producer.flush()
            return producer.acked

    try:
        with ThreadPoolExecutor(1) as pool:
            acked = pool.submit(publish)
            assert published.wait(120), "the first third was not acknowledged"
            victim = "kafka-1"  # the first bootstrap address and a controller voter
            os.kill(stack.pid(victim) or 0, signal.SIGKILL)
            wait_for(f"{victim} gone", lambda: stack.pid(victim) is None, 30)
            assert acked.result(timeout=300) == EVENTS

        records = list(topic_records(settings, settings.playlist_topic))
        sent = sorted((e.pid, e.modified_at) for e in events)
        assert sorted((int(r.key), json.loads(r.value)["modified_at"]) for r in records) == sent, \
            "each acknowledged event once in the topic"
        oracle = Oracle(playlists={}, invalid=set())
        for r in records:
            oracle.apply(r.partition, r.offset, r.key, r.value, r.timestamp // 1000)
        assert not oracle.invalid
        wait_for("MongoDB equal to the replay of the topic",
                 lambda: mismatches(db, oracle, VERSION) == {"playlists": 0, "vectors": 0}, 240)
        assert running.query.isActive, "the job survived the broker's loss"
    finally:
        running.stop()
        db.client.drop_database(db.name)
        db.client.close()

