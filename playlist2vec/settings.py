"""Settings: read once at the entry point from P2V_* variables (or a mapping) and CLI flags, validated."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from playlist2vec.errors import ConfigError
from playlist2vec.events import MAX_CLOCK_SKEW_S, MAX_EVENT_BYTES
from playlist2vec.foldin import PENALTY

ENV_PREFIX = "P2V_"
KafkaProtocol = Literal["PLAINTEXT", "SASL_PLAINTEXT", "SASL_SSL", "SSL"]
KafkaSaslMechanism = Literal["SCRAM-SHA-512", "SCRAM-SHA-256", "PLAIN"]


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
    kafka_security_protocol: KafkaProtocol = Field(
        "PLAINTEXT", description="Kafka security protocol: PLAINTEXT, SASL_PLAINTEXT, SASL_SSL or SSL"
    )
    kafka_sasl_mechanism: KafkaSaslMechanism = Field(
        "SCRAM-SHA-512", description="Kafka SASL mechanism: SCRAM-SHA-512, SCRAM-SHA-256 or PLAIN"
    )
    kafka_sasl_username: str | None = Field(None, description="Kafka SASL user (SASL_* protocols)")
    kafka_sasl_password: SecretStr | None = Field(
        None, description="Kafka SASL password (SASL_* protocols; never logged)"
    )
    kafka_ssl_cafile: Path | None = Field(
        None, description="PEM CA bundle of the brokers' certificates (SSL protocols; default: system CAs)"
    )
    mongo_uri: SecretStr = Field(
        SecretStr("mongodb://127.0.0.1:27017"), description="MongoDB (or compatible) server"
    )
    mongo_db: str = Field("playlist2vec", description="database name")
    spark_master: str = Field("local[*]", description="Spark master URL")
    http_addr: str = Field("127.0.0.1:8000", description="serving bind address")
    stream_metrics_addr: str = Field("127.0.0.1:9108", description="streaming job's Prometheus endpoint")
    probe_metrics_addr: str = Field("127.0.0.1:9110", description="canary probe's Prometheus endpoint")
    admin_token: SecretStr | None = Field(
        None, description="bearer token for admin routes (unset: admin routes refuse)"
    )
    stack: str = Field(
        "local", description="`local`: stack up/down manages embedded services; `external`: only checks them"
    )
    kafka_controller_port: int = Field(9093, description="local Kafka KRaft controller port")
    kafka_heap: str = Field("512m", description="local Kafka -Xmx")
    mongo_heap: str = Field(
        "4g", description="local MongoDB-wire server -Xmx (it keeps all data and its oplog in memory)"
    )
    mongo_oplog_entries: int = Field(
        1_000_000,
        gt=0,
        description="local MongoDB-wire server: change events kept in its oplog (a change stream "
        "resuming from before them gets error 286, ChangeStreamHistoryLost)",
    )
    mongo_snapshot_mb: int = Field(
        128,
        gt=0,
        description="local MongoDB-wire server: journal size (MB, at least the last snapshot's) "
        "that triggers a snapshot, which bounds the replay at start",
    )
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
    stream_driver_java_options: str = Field(
        "-XX:TieredStopAtLevel=1",
        description="JVM options of the streaming job's Spark driver (in local mode its executor "
        "too); the default compiles with C1 only, which spared a third of its CPU",
    )

    fold_in_min_support: int = Field(
        0, ge=0,
        description="playlists a track the model never saw must appear in (beside known tracks) "
                    "before its provisional vector is written and used (3 is a good start); 0, "
                    "the default, turns fold-in off: it costs the stream one MongoDB write per "
                    "unseen track and batch",
    )

    fold_in_idle_hours: float = Field(
        168.0, gt=0,
        description="a provisional track below the minimum support that no event has touched for "
                    "this long is forgotten (the stream prunes hourly)",
    )

    fold_in_penalty: float = Field(
        PENALTY, ge=0, le=2,
        description="serving: subtracted from a provisional track's cosine when recommendations "
                    "are ranked (it would otherwise crowd out trained tracks)",
    )

    http_max_body_bytes: int = Field(
        1 << 20, gt=0, description="serving: largest request body; a larger one is answered 413"
    )
    http_mongo_timeout: float = Field(
        2.0, gt=0,
        description="serving: seconds a request may wait for MongoDB before it is answered 503 "
                    "(or without names, where names are all it needs)",
    )
    router_shard_timeout: float = Field(
        1.0, gt=0, description="router: seconds a shard may take before the answer goes without it "
                               "(`partial: true`)",
    )
    live_quality: bool = Field(
        False, description="serving: score live edits (live recall@500 per model; a third change stream)"
    )
    follower_max_lag: float = Field(
        60.0, gt=0,
        description="serving: `/readyz` fails when a change stream has not been read for, or "
                    "lags MongoDB by, more seconds than this",
    )
    max_event_bytes: int = Field(
        MAX_EVENT_BYTES, gt=0,
        description="cap on one playlist event's key + value bytes; a larger one is dead-lettered "
                    "`too_large`",
    )
    max_clock_skew: int = Field(
        MAX_CLOCK_SKEW_S, ge=0,
        description="seconds an event's `modified_at` may be ahead of the validator's clock "
                    "(beyond: dead-lettered `future_timestamp`)",
    )

    @field_validator("kafka_bootstrap")
    @classmethod
    def _bootstrap_is_host_ports(cls, value: str) -> str:
        for part in value.split(","):
            split_addr(part.strip())
        return value

    @model_validator(mode="after")
    def _sasl_has_credentials(self) -> Settings:
        if self.kafka_sasl and not (self.kafka_sasl_username and self.kafka_sasl_password):
            raise ValueError("P2V_KAFKA_SASL_USERNAME and P2V_KAFKA_SASL_PASSWORD are required "
                             f"with P2V_KAFKA_SECURITY_PROTOCOL={self.kafka_security_protocol}")
        return self

    @field_validator("http_addr", "stream_metrics_addr", "probe_metrics_addr")
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
            if not first["loc"]:  # a rule across settings names them itself
                raise ConfigError(f"bad settings: {first['msg'].removeprefix('Value error, ')}") from None
            name = ENV_PREFIX + str(first["loc"][0]).upper()
            raise ConfigError(f"bad setting {name}: {first['msg']}") from None

    def with_flags(self, **flags: Any) -> Settings:
        """A copy with the non-None command-line flags applied, validated as at load; a bad
        value is a ConfigError naming its flag (`--http-addr: ...`)."""
        values = {name: value for name, value in flags.items() if value is not None}
        if not values:
            return self
        try:
            return type(self).model_validate(self.model_dump() | values)
        except ValidationError as exc:
            first = exc.errors()[0]
            flag = "--" + str(first["loc"][0]).replace("_", "-") if first["loc"] else "flags"
            raise ConfigError(f"{flag}: {first['msg'].removeprefix('Value error, ')}") from None

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
    def kafka_sasl(self) -> bool:
        return self.kafka_security_protocol.startswith("SASL_")

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
