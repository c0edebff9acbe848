"""The stack contract: what `stack up|down|status` can do, whoever runs the services."""

from __future__ import annotations

import abc
import logging
import socket
from dataclasses import dataclass

from kafka import KafkaConsumer
from kafka.errors import KafkaError
from pymongo.errors import PyMongoError

from playlist2vec import kafka_security, store
from playlist2vec.errors import StackError
from playlist2vec.settings import Settings

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ServiceStatus:
    name: str
    address: str
    healthy: bool
    pid: int | None = None
    detail: str = ""


def kafka_healthy(settings: Settings, timeout_s: float = 3.0) -> tuple[bool, str]:
    """Whether the brokers answer a metadata request."""
    try:
        consumer = KafkaConsumer(
            **kafka_security.client_config(settings),
            enable_auto_commit=False,
            request_timeout_ms=int(timeout_s * 1000) + 1000,
        )
    except (KafkaError, ValueError) as exc:
        return False, str(exc)
    try:
        topics = consumer.topics()
        return True, f"{len(topics)} topics"
    except KafkaError as exc:
        return False, str(exc)
    finally:
        consumer.close()


def mongo_healthy(settings: Settings, timeout_s: float = 3.0) -> tuple[bool, str]:
    """Whether the MongoDB server answers `ping`."""
    try:
        with store.connect(settings.mongo_uri.get_secret_value(),
                           serverSelectionTimeoutMS=int(timeout_s * 1000)) as client:
            client.admin.command("ping")
        return True, "ping ok"
    except PyMongoError as exc:
        return False, type(exc).__name__


def port_in_use(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(0.5)
        return sock.connect_ex((host, port)) == 0


class Stack(abc.ABC):
    """Start, stop and check the services the pipeline needs."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    @abc.abstractmethod
    def up(self) -> list[ServiceStatus]:
        """Make the services available (idempotent); returns their status."""

    @abc.abstractmethod
    def down(self) -> list[str]:
        """Stop what `up` started, nothing else; returns what was stopped."""

    def status(self) -> list[ServiceStatus]:
        kafka_ok, kafka_detail = kafka_healthy(self.settings)
        mongo_ok, mongo_detail = mongo_healthy(self.settings)
        return [
            ServiceStatus("kafka", self.settings.kafka_bootstrap, kafka_ok, self.pid("kafka"), kafka_detail),
            ServiceStatus(
                "mongo",
                f"127.0.0.1:{self.settings.mongo_port}"
                if self.settings.stack == "local"
                else "(from P2V_MONGO_URI)",
                mongo_ok,
                self.pid("mongo"),
                mongo_detail,
            ),
        ]

    def pid(self, service: str) -> int | None:
        return None

    def logs(self, service: str, lines: int) -> str:
        raise StackError("external services keep their own logs (P2V_STACK=external)")
