"""Settings: read once at the entry point from P2V_* variables (or a mapping) and CLI flags, validated."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from playlist2vec.errors import ConfigError

ENV_PREFIX = "P2V_"


def split_addr(addr: str) -> tuple[str, int]:
    """`host:port` -> (host, port); raises ValueError on anything else."""
    host, sep, port = addr.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError(f"expected host:port, got {addr!r}")
    return host.strip("[]"), int(port)


class Settings(BaseSettings):
    """All run-time settings. Field `x` is read from `P2V_X`; a CLI flag overrides it."""

    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, frozen=True, extra="ignore")

    home: Path = Field(
        Path("./.p2v"), description="state: jars, service data, models, checkpoints, indexes, logs"
    )
    kafka_bootstrap: str = Field("127.0.0.1:9092", description="Kafka bootstrap servers")
    playlist_topic: str = Field("playlists", description="playlist events topic")
    dlq_topic: str = Field("playlists.dlq", description="rejected events, with the reason")
    mongo_uri: SecretStr = Field(
        SecretStr("mongodb://127.0.0.1:27017"), description="MongoDB (or compatible) server"
    )
    mongo_db: str = Field("playlist2vec", description="database name")
    spark_master: str = Field("local[*]", description="Spark master URL")
    http_addr: str = Field("127.0.0.1:8000", description="serving bind address")
    stream_metrics_addr: str = Field("127.0.0.1:9108", description="streaming job's Prometheus endpoint")
    admin_token: SecretStr | None = Field(
        None, description="bearer token for admin routes (unset: admin routes refuse)"
    )
    stack: str = Field(
        "local", description="`local`: stack up/down manages embedded services; `external`: only checks them"
    )
    kafka_controller_port: int = Field(9093, description="local Kafka KRaft controller port")
    kafka_heap: str = Field("512m", description="local Kafka -Xmx")
    mongo_heap: str = Field("1g", description="local MongoDB-wire server -Xmx")
    spark_driver_memory: str = Field("4g", description="driver memory for local Spark")
    index_strategy: str = Field(
        "annoy",
        description="serving index: `annoy`, `exact` (numpy), `hnsw` (extra `hnsw`) or `auto` (by size)",
    )
    serving_instance: str = Field(
        "serving", description="serving instance name: its resume tokens in `serving_state`"
    )
    stream_trigger: str = Field("250ms", description="streaming job's micro-batch trigger interval")
    stream_max_offsets_per_trigger: int = Field(
        20_000, gt=0, description="streaming job's cap on Kafka records per micro-batch"
    )

    @field_validator("kafka_bootstrap")
    @classmethod
    def _bootstrap_is_host_ports(cls, value: str) -> str:
        for part in value.split(","):
            split_addr(part.strip())
        return value

    @field_validator("http_addr", "stream_metrics_addr")
    @classmethod
    def _is_host_port(cls, value: str) -> str:
        split_addr(value)
        return value

    @field_validator("mongo_uri")
    @classmethod
    def _is_mongo_uri(cls, value: SecretStr) -> SecretStr:
        if not value.get_secret_value().startswith(("mongodb://", "mongodb+srv://")):
            raise ValueError("expected a mongodb:// or mongodb+srv:// URI")
        return value

    @field_validator("stack")
    @classmethod
    def _known_stack(cls, value: str) -> str:
        if value not in ("local", "external"):
            raise ValueError("expected `local` or `external`")
        return value

    @classmethod
    def load(cls, environ: Mapping[str, str] | None = None, **overrides: Any) -> Settings:
        """Settings from `environ` (default: os.environ) plus non-None overrides, or ConfigError."""
        environ = os.environ if environ is None else environ
        values: dict[str, Any] = {
            key[len(ENV_PREFIX) :].lower(): value
            for key, value in environ.items()
            if key.startswith(ENV_PREFIX) and value != ""
        }
        values.update({k: v for k, v in overrides.items() if v is not None})
        try:
            return cls.model_validate(values)
        except ValidationError as exc:
            first = exc.errors()[0]
            name = ENV_PREFIX + str(first["loc"][0]).upper() if first["loc"] else "settings"
            raise ConfigError(f"bad setting {name}: {first['msg']}") from None

    def to_env(self) -> dict[str, str]:
        """These settings as P2V_* variables, for child processes (secrets included: pass them
        only through the environment, never on a command line or into a log)."""
        env: dict[str, str] = {}
        for name, value in self.model_dump().items():
            if value is None:
                continue
            if isinstance(value, SecretStr):
                value = value.get_secret_value()
            env[ENV_PREFIX + name.upper()] = str(value)
        return env

    # Derived values, so no caller parses them twice.

    @property
    def kafka_port(self) -> int:
        return split_addr(self.kafka_bootstrap.split(",")[0])[1]

    @property
    def mongo_port(self) -> int:
        return urlsplit(self.mongo_uri.get_secret_value()).port or 27017

    @property
    def vector_subtype(self) -> int:
        """BSON subtype for stored vectors: 9 (binary vector) on a real server; 0 on the
        embedded mongo-java-server, which rejects subtype 9 (the payload is the same)."""
        return 0 if self.stack == "local" else 9

    @property
    def jars_dir(self) -> Path:
        return self.home / "jars"

    @property
    def logs_dir(self) -> Path:
        return self.home / "logs"

    @property
    def models_dir(self) -> Path:
        return self.home / "models"

    @property
    def checkpoints_dir(self) -> Path:
        return self.home / "checkpoints"

    @property
    def indexes_dir(self) -> Path:
        return self.home / "indexes"
