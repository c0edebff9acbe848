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


def ensure_topics(settings: Settings, partitions: int = 4) -> list[str]:
    """Create the playlist and DLQ topics if missing; returns the names created."""
    wanted = [
        NewTopic(
            settings.playlist_topic,
            partitions,
            1,
            # records over the event byte cap must reach the job (as dead letters), not be refused
            topic_configs={"cleanup.policy": "compact", "min.compaction.lag.ms": "60000",
                           "max.message.bytes": str(MAX_RECORD_BYTES)},
        ),
        NewTopic(settings.dlq_topic, partitions, 1, topic_configs={"retention.ms": str(7 * 86_400_000)}),
    ]
    client = admin(settings)
    try:
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
