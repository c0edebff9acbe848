"""Dead letters: rejected events, sent to the DLQ topic with their original bytes and the reason.

A letter keeps the original key and value up to a cap; beyond it the bytes are truncated and
`size` and `sha256` headers (`key_size`, `key_sha256` for a key) describe the original, so
the DLQ producer never refuses a letter, whatever arrived (the cap plus headers fits its
librdkafka `message.max.bytes` and Kafka's default 1 MiB record limit).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass

from playlist2vec.producer import Producer
from playlist2vec.settings import Settings

ACK_TIMEOUT_S = 30.0
VALUE_CAP = 512 * 1024
KEY_CAP = 4 * 1024
MAX_MESSAGE_BYTES = 1024 * 1024  # the producer's message.max.bytes: a capped letter always fits


@dataclass(frozen=True)
class DeadLetter:
    key: bytes | None
    value: bytes | None
    headers: list[tuple[str, bytes]]


def _text(value: str) -> bytes:
    return value.encode("utf-8", "backslashreplace")  # a reason may quote a lone surrogate


def _capped(data: bytes | None, cap: int, prefix: str) -> tuple[bytes | None, list[tuple[str, bytes]]]:
    if data is None or len(data) <= cap:
        return data, []
    return data[:cap], [(f"{prefix}size", str(len(data)).encode()),
                        (f"{prefix}sha256", hashlib.sha256(data).hexdigest().encode())]


def dead_letter(key: bytes | None, value: bytes | None, reason: str, topic: str, partition: int,
                offset: int) -> DeadLetter:
    """The letter of one rejected record; reason and origin (`topic/partition/offset`) as headers."""
    key, key_headers = _capped(key, KEY_CAP, "key_")
    value, value_headers = _capped(value, VALUE_CAP, "")
    headers = [("reason", _text(reason)), ("source", _text(f"{topic}/{partition}/{offset}")),
               *value_headers, *key_headers]
    return DeadLetter(key=key, value=value, headers=headers)


_PRODUCERS: dict[tuple[str, str], Producer] = {}


def producer(settings: Settings) -> Producer:
    return Producer(settings, {"acks": "all", "linger.ms": 5, "message.max.bytes": MAX_MESSAGE_BYTES,
                               "message.timeout.ms": int(ACK_TIMEOUT_S * 1000),
                               "client.id": "playlist2vec-stream-dlq"})


def shared_producer(settings: Settings) -> Producer:
    """One DLQ producer per executor process and Kafka cluster, reused by its tasks (a Python
    worker outlives its tasks); a producer spent by a refused letter is replaced."""
    key = (settings.kafka_bootstrap, settings.kafka_security_protocol)
    current = _PRODUCERS.get(key)
    if current is None or current.failed:
        if current is not None:
            current.close()
        _PRODUCERS[key] = current = producer(settings)
    return current


def publish(producer: Producer, topic: str, letters: Iterable[DeadLetter]) -> None:
    """Send and wait for the broker's acknowledgement, so a batch commits only after its letters
    (StackError instead of losing one)."""
    for letter in letters:
        producer.send(topic, key=letter.key, value=letter.value, headers=letter.headers)
    producer.flush()
