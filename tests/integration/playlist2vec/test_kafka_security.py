"""Kafka with SASL/SCRAM on the local stack: every client the project creates (librdkafka
producers, kafka-python admin and consumers, Spark) logs in with the settings' credentials, a
wrong password is refused, and no secret shows on a command line."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from kafka import KafkaConsumer
from pydantic import SecretStr

from playlist2vec import kafka_security, store, topics, vectors
from playlist2vec.errors import StackError
from playlist2vec.producer import Producer
from playlist2vec.settings import Settings
from playlist2vec.stack import LocalStack
from tests.conftest import private_settings

pytestmark = pytest.mark.integration

PASSWORD = "s3cret-scram-pw"


@pytest.fixture(scope="module")
def scram_settings(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Settings]:
    """A private stack whose Kafka takes SCRAM-SHA-512 logins only."""
    settings = private_settings(tmp_path_factory.mktemp("p2v-scram"),
                                kafka_security_protocol="SASL_PLAINTEXT",
                                kafka_sasl_username="p2v", kafka_sasl_password=PASSWORD)
    stack = LocalStack(settings)
    try:
        stack.up()
        yield settings
    finally:
        stack.down()


def test_clients_log_in_with_the_settings_credentials(scram_settings: Settings) -> None:
    assert scram_settings.playlist_topic in topics.admin(scram_settings).list_topics()
    with Producer(scram_settings) as producer:
        for i in range(5):
            producer.send(scram_settings.playlist_topic, key=str(i).encode(), value=b"{}")
        producer.flush()
        assert producer.acked == 5
    consumer = KafkaConsumer(scram_settings.playlist_topic, **kafka_security.client_config(scram_settings),
                             auto_offset_reset="earliest", consumer_timeout_ms=20_000)
    keys = sorted(int(m.key) for _, m in zip(range(5), consumer, strict=False))
    consumer.close()
    assert keys == [0, 1, 2, 3, 4]


def test_a_wrong_password_is_refused(scram_settings: Settings) -> None:
    wrong = scram_settings.model_copy(update={"kafka_sasl_password": SecretStr("not-it")})
    with pytest.raises(StackError, match="unreachable"):
        topics.admin(wrong, timeout_ms=5_000)
    with pytest.raises(StackError, match=r"unreachable: .*[Aa]uthentication") as failure:
        Producer(wrong, connect_timeout_s=5.0)
    assert "not-it" not in str(failure.value)


def test_no_secret_on_a_command_line(scram_settings: Settings) -> None:
    stack = LocalStack(scram_settings)
    for name in ("kafka", "mongo"):
        pid = stack.pid(name)
        assert pid is not None
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
        assert PASSWORD.encode() not in cmdline
    assert oct((scram_settings.home / "kafka" / "server.properties").stat().st_mode & 0o777) == "0o600"


@pytest.mark.spark
def test_spark_reads_through_sasl(scram_settings: Settings, spark: Any) -> None:
    with Producer(scram_settings) as producer:
        for i in range(20):
            producer.send(scram_settings.dlq_topic, key=str(i).encode(), value=b"x")
        producer.flush()
    reader = spark.read.format("kafka").options(**kafka_security.spark_options(scram_settings))
    rows = reader.option("subscribe", scram_settings.dlq_topic).option("startingOffsets", "earliest").load()
    assert sorted(int(r.key) for r in rows.select("key").collect()) == list(range(20))


@pytest.mark.spark
def test_the_stream_job_runs_through_sasl(scram_settings: Settings, spark: Any, tmp_path: Path) -> None:
    scram_settings = scram_settings.model_copy(update={"playlist_topic": "sasl", "dlq_topic": "sasl.dlq"})
    topics.ensure_topics(scram_settings)
    from prometheus_client import CollectorRegistry

    from streaming import job
    from streaming.bench import seed_model
    from streaming.metrics import StreamMetrics

    with store.opened(scram_settings) as db:
        uris = [f"spotify:track:sasl{i:018d}" for i in range(4)]
        matrix = np.eye(4, dtype=np.float32)
        seed_model(db, "sasl-model", uris, matrix, scram_settings.vector_subtype)
        with Producer(scram_settings) as producer:
            for pid in range(3):
                body = {"pid": pid, "name": "n", "tracks": uris[pid:pid + 2], "modified_at": 1_700_000_000}
                producer.send(scram_settings.playlist_topic, key=str(pid).encode(),
                              value=json.dumps(body).encode())
            producer.send(scram_settings.playlist_topic, key=b"9", value=b"{broken")
            producer.flush()
        running = job.start(spark, scram_settings,
                            job.StreamOptions(checkpoint=tmp_path / "cp", trigger="1 second",
                                              max_offsets_per_trigger=100, available_now=True),
                            StreamMetrics(CollectorRegistry()))
        assert running.query.awaitTermination(240)
        running.close()
        assert running.query.exception() is None
        stored = {d["_id"]["p"]: d for d in db[store.PLAYLIST_VECTORS].find({"_id.m": "sasl-model"})}
        assert sorted(stored) == [0, 1, 2]
        np.testing.assert_allclose(vectors.decode(stored[1]["vector"]), [0, 0.5, 0.5, 0])
        dead = KafkaConsumer(scram_settings.dlq_topic, **kafka_security.client_config(scram_settings),
                             auto_offset_reset="earliest", consumer_timeout_ms=20_000)
        assert next(iter(dead)).key == b"9"
        dead.close()
