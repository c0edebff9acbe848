"""Dead letters: rejected events, sent to the DLQ topic with their original bytes and the reason."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from kafka import KafkaProducer

ACK_TIMEOUT_S = 30.0


@dataclass(frozen=True)
class DeadLetter:
    key: bytes | None
    value: bytes | None
    headers: list[tuple[str, bytes]]


def build_dead_letters(rows: Iterable[Mapping[str, Any]], topic: str) -> list[DeadLetter]:
    """The original key/value of each rejected row; reason and origin travel as headers."""
    return [
        DeadLetter(key=row["key"], value=row["value"], headers=[
            ("reason", row["reason"].encode()),
            ("source", f"{topic}/{row['partition']}/{row['offset']}".encode()),
        ])
        for row in rows
    ]


def publish(producer: KafkaProducer, topic: str, letters: Iterable[DeadLetter]) -> int:
    """Send and wait for the broker's acknowledgement, so a batch commits only after its letters."""
    futures = [producer.send(topic, key=letter.key, value=letter.value, headers=letter.headers)
               for letter in letters]
    producer.flush()
    for future in futures:
        future.get(timeout=ACK_TIMEOUT_S)  # raises the broker's error instead of losing a letter
    return len(futures)
