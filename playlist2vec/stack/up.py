"""`stack up`: bring up the stack its options ask for (a Kafka cluster of several brokers, a local
Spark standalone cluster) and say which settings the other commands then need."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

from playlist2vec.errors import ConfigError
from playlist2vec.settings import Settings
from playlist2vec.stack import for_settings, kafka, spark
from playlist2vec.stack.base import ServiceStatus, Stack
from playlist2vec.stack.local import LocalStack


@dataclass(frozen=True)
class UpOptions:
    kafka_bootstrap: str  # the brokers to start: P2V_KAFKA_BOOTSTRAP, or one derived from --brokers
    spark_workers: int = 0  # also a local Spark standalone master with this many 1-core workers

    @classmethod
    def from_settings(cls, settings: Settings, *, brokers: int | None = None,
                      spark_workers: int = 0) -> UpOptions:
        """`stack up`'s options; a bootstrap list at odds with --brokers, or Spark workers on an
        external stack, fail here, before anything starts."""
        if spark_workers and settings.stack != "local":
            raise ConfigError("--spark-workers starts local processes: not with P2V_STACK=external")
        return cls(bootstrap_for(settings, brokers), spark_workers)


@dataclass(frozen=True)
class UpReport:
    statuses: list[ServiceStatus]
    seconds: float  # from the call to every service ready
    logs_dir: Path
    exports: dict[str, str] = field(default_factory=dict)  # P2V_* the other commands need set


def bootstrap_for(settings: Settings, brokers: int | None) -> str:
    """A bootstrap list of `brokers` local addresses: P2V_KAFKA_BOOTSTRAP when it lists that
    many, derived from its one address otherwise."""
    listed = settings.kafka_bootstrap.split(",")
    if brokers is None or brokers == len(listed):
        return settings.kafka_bootstrap
    if len(listed) != 1:
        raise ConfigError(f"--brokers {brokers} but P2V_KAFKA_BOOTSTRAP lists {len(listed)} addresses")
    return kafka.cluster_bootstrap(settings.kafka_port, brokers)


def bring_up(settings: Settings, options: UpOptions) -> UpReport:
    """Start the services (idempotent) and wait until they are ready."""
    started = time.monotonic()
    wanted = settings.model_copy(update={"kafka_bootstrap": options.kafka_bootstrap})
    stack: Stack = (LocalStack(wanted, options.spark_workers) if options.spark_workers
                    else for_settings(wanted))
    statuses = stack.up()
    exports: dict[str, str] = {}
    if options.kafka_bootstrap != settings.kafka_bootstrap:
        exports["P2V_KAFKA_BOOTSTRAP"] = options.kafka_bootstrap
    if options.spark_workers and spark.master_url(wanted) != wanted.spark_master:
        exports["P2V_SPARK_MASTER"] = spark.master_url(wanted)
    return UpReport(statuses, time.monotonic() - started, wanted.logs_dir, exports)
