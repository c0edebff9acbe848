"""The librdkafka producer against the local Kafka: every record acknowledged and counted, keys
on kafka-python's (Java's) partitions, headers kept, and a record the broker refuses raises."""

from __future__ import annotations

import pytest
from kafka import KafkaConsumer, TopicPartition
from kafka.admin import NewTopic
from kafka.partitioner.default import murmur2

from playlist2vec import kafka_security, topics
from playlist2vec.errors import StackError
from playlist2vec.producer import Producer
from playlist2vec.settings import Settings

pytestmark = pytest.mark.integration


def create_topic(settings: Settings, name: str, partitions: int, **configs: str) -> None:
    client = topics.admin(settings)
    try:
        client.create_topics([NewTopic(name, partitions, 1, topic_configs=configs)])
    finally:
        client.close()


def records(settings: Settings, topic: str, partitions: int, expected: int) -> list[object]:
    consumer = KafkaConsumer(**kafka_security.client_config(settings), enable_auto_commit=False,
                             consumer_timeout_ms=5_000)
    try:
        consumer.assign([TopicPartition(topic, p) for p in range(partitions)])
        consumer.seek_to_beginning()
        found: list[object] = []
        for record in consumer:
            found.append(record)
            if len(found) == expected:
                break
        return found
    finally:
        consumer.close()


def test_every_record_is_acknowledged_on_the_java_clients_partition(settings: Settings) -> None:
    create_topic(settings, settings.playlist_topic, 4)
    keys = [str(pid).encode() for pid in range(200)]
    with Producer(settings, {"acks": "all"}, topic=settings.playlist_topic) as producer:
        for key in keys:
            producer.send(settings.playlist_topic, key=key, value=b"{}", headers=[("reason", b"r " + key)])
        producer.send(settings.playlist_topic, key=b"tombstone")  # no value
        producer.flush()
        assert producer.acked == len(keys) + 1
    found = {r.key: r for r in records(settings, settings.playlist_topic, 4, len(keys) + 1)}  # type: ignore[attr-defined]
    assert sorted(found) == sorted([*keys, b"tombstone"])
    assert found[b"tombstone"].value is None  # type: ignore[attr-defined]
    for key in keys:
        assert found[key].partition == (murmur2(key) & 0x7FFFFFFF) % 4  # type: ignore[attr-defined]
        assert found[key].headers == [("reason", b"r " + key)]  # type: ignore[attr-defined]


def test_a_record_the_broker_refuses_raises_at_flush(settings: Settings) -> None:
    create_topic(settings, settings.dlq_topic, 1, **{"max.message.bytes": "1000"})
    with Producer(settings, {"message.timeout.ms": 10_000}) as producer:
        producer.send(settings.dlq_topic, value=b"small")
        producer.flush()
        producer.send(settings.dlq_topic, value=b"x" * 5_000)
        with pytest.raises(StackError, match=f"publishing to {settings.dlq_topic} failed: .*too large"):
            producer.flush()
        assert producer.acked == 1
        with pytest.raises(StackError, match="too large"):  # the failure stays: nothing is lost silently
            producer.send(settings.dlq_topic, value=b"next")


def test_a_record_over_the_producers_own_limit_raises_at_send(settings: Settings) -> None:
    with (Producer(settings, {"message.max.bytes": 10_000}) as producer,
          pytest.raises(StackError, match="too large")):
        producer.send(settings.dlq_topic, value=b"x" * 20_000)
