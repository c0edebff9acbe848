"""Publishing to Kafka with librdkafka (confluent-kafka): a producer that loses nothing silently.

Every record sent gets a delivery report; `flush` waits for all of them and raises StackError
if the broker refused any record or librdkafka gave up on it (after `message.timeout.ms`, which
bounds how long any record can stay unreported). Keys go to partitions as the Java clients,
kafka-python and Spark send them (murmur2), so all producers of a topic agree on a key's
partition.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from types import TracebackType
from typing import Any

from confluent_kafka import KafkaError, KafkaException, Message
from confluent_kafka import Producer as Client

from playlist2vec import kafka_security
from playlist2vec.errors import StackError
from playlist2vec.settings import Settings

# librdkafka's own log lines (served by poll); the CLI shows them at DEBUG only, as kafka-python's
LOG = logging.getLogger("librdkafka")
CONNECT_TIMEOUT_S = 10.0
POLL_S = 0.1  # a full local queue or a flush waits in steps this long (Ctrl-C stays responsive)


class Producer:
    """A confluent-kafka producer from the settings plus librdkafka `options` (`acks`,
    `linger.ms`, `message.max.bytes`, ...), connected before it is returned: unreachable Kafka
    (or refused credentials) raise StackError within `connect_timeout_s`. `acked` counts the
    records the broker acknowledged. After a refused record the producer is spent: every later
    `send` or `flush` raises that failure again (make a new one to go on)."""

    def __init__(self, settings: Settings, options: Mapping[str, Any] | None = None,
                 topic: str | None = None, connect_timeout_s: float = CONNECT_TIMEOUT_S) -> None:
        self.acked = 0
        self._failure: str | None = None
        self._last_error: KafkaError | None = None
        self._client = Client(kafka_security.librdkafka_config(settings) | {
            "partitioner": "murmur2_random", "logger": LOG, "error_cb": self._on_error,
            "on_delivery": self._on_delivery, **(options or {})})
        try:
            self._client.list_topics(topic, timeout=connect_timeout_s)  # `topic`: its metadata too
        except KafkaException as exc:
            self._client.poll(0)  # serves the error callbacks: the last one says why
            cause = self._last_error or exc.args[0]
            self.close()
            raise StackError(f"Kafka at {settings.kafka_bootstrap} unreachable: {cause.str()}") from None

    def _on_error(self, error: KafkaError) -> None:
        self._last_error = error

    def _on_delivery(self, error: KafkaError | None, message: Message) -> None:
        if error is None:
            self.acked += 1
        elif self._failure is None:
            self._failure = f"publishing to {message.topic()} failed: {error.str()}"

    @property
    def failed(self) -> bool:
        """Whether a record was refused (the producer is spent)."""
        return self._failure is not None

    def _raise_failure(self) -> None:
        if self._failure is not None:
            raise StackError(self._failure)

    def send(self, topic: str, value: bytes | None = None, key: bytes | None = None,
             headers: Sequence[tuple[str, bytes]] | None = None, partition: int | None = None) -> None:
        """Queue one record (waiting while librdkafka's queue is full). Raises StackError if the
        record cannot be sent (too large, unknown partition) or an earlier one was refused."""
        self._raise_failure()
        header_list: list[tuple[str, str | bytes | None]] | None = None if headers is None else list(headers)
        while True:
            try:
                self._client.produce(topic, value, key, headers=header_list,
                                     partition=-1 if partition is None else partition)
                break
            except BufferError:
                self._client.poll(POLL_S)  # delivery reports free the queue
            except KafkaException as exc:
                raise StackError(f"publishing to {topic} failed: {exc.args[0].str()}") from None
        self._client.poll(0)

    def flush(self) -> None:
        """Wait for the delivery report of every record sent; StackError if any was not acknowledged."""
        while self._client.flush(POLL_S) > 0:
            pass
        self._raise_failure()

    def close(self) -> None:
        """Release the client. Records not flushed yet are dropped (flush first: failures surface
        there), so closing after an error never waits for an unreachable broker."""
        self._client.purge()
        self._client.flush(0)
        self._client.close()

    def __enter__(self) -> Producer:
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 traceback: TracebackType | None) -> None:
        self.close()
