"""Kafka topics of the contract: `playlists` (log-compacted) and its dead-letter topic."""

from __future__ import annotations

import contextlib
import logging

from kafka.admin import KafkaAdminClient, NewTopic
from kafka.errors import KafkaError, TopicAlreadyExistsError

from playlist2vec import kafka_security
from playlist2vec.errors import StackError
from playlist2vec.settings import Settings

log = logging.getLogger(__name__)

MAX_RECORD_BYTES = 8 * 1024 * 1024


def admin(settings: Settings, timeout_ms: int = 10_000) -> KafkaAdminClient:
    try:
        return KafkaAdminClient(
            **kafka_security.client_config(settings),
            client_id="playlist2vec-admin",
            request_timeout_ms=timeout_ms,
        )
    except KafkaError as exc:
        raise StackError(f"Kafka at {settings.kafka_bootstrap} unreachable: {exc}") from None


def replication(brokers: int) -> tuple[int, int]:
    """(replication factor, min.insync.replicas) for a cluster of `brokers`: 3 and 2 from three
    brokers on, so one broker may be lost without losing an acks=all record or refusing one."""
    factor = min(3, brokers)
    return factor, 2 if factor >= 3 else 1


def ensure_topics(settings: Settings, partitions: int = 4) -> list[str]:
    """Create the playlist and DLQ topics if missing (replicated as `replication` says for the
    cluster's size); returns the names created."""
    client = admin(settings)
    try:
        factor, min_isr = replication(len(client.describe_cluster()["brokers"]))
        durable = {"min.insync.replicas": str(min_isr)}
        wanted = [
            NewTopic(
                settings.playlist_topic,
                partitions,
                factor,
                # records over the event byte cap must reach the job (as dead letters), not be refused
                topic_configs={"cleanup.policy": "compact", "min.compaction.lag.ms": "60000",
                               "max.message.bytes": str(MAX_RECORD_BYTES), **durable},
            ),
            NewTopic(settings.dlq_topic, partitions, factor,
                     topic_configs={"retention.ms": str(7 * 86_400_000), **durable}),
        ]
        existing = set(client.list_topics())
        missing = [t for t in wanted if t.name not in existing]
        if missing:
            # created concurrently by another process: what we wanted anyway
            with contextlib.suppress(TopicAlreadyExistsError):
                client.create_topics(missing)
            log.info("created topics %s", [t.name for t in missing])
        return [t.name for t in missing]
    finally:
        client.close()
