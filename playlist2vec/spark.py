"""The SparkSession factory: master from settings, the Kafka connector jars on the classpath."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from playlist2vec.errors import StackError
from playlist2vec.settings import Settings

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

CONNECTOR_MODULE = "spark-kafka"  # deploy/jvm/spark-kafka: the connector and its runtime jars


def connector_jars(settings: Settings) -> list[Path]:
    """The resolved connector jars, or StackError saying how to get them."""
    folder = settings.jars_dir / CONNECTOR_MODULE
    jars = sorted(folder.glob("*.jar"))
    if not jars:
        raise StackError(f"no Spark Kafka connector jars in {folder}: run `playlist2vec stack jars`")
    return jars


def is_local_cluster(master: str) -> bool:
    """Whether `master` is a standalone master on this machine (`stack up --spark-workers`)."""
    parts = urlsplit(master)
    return parts.scheme == "spark" and parts.hostname in ("127.0.0.1", "localhost")


def session(
    settings: Settings, app_name: str, kafka: bool = True, conf: dict[str, str] | None = None
) -> SparkSession:
    """A SparkSession (reused if one is running) tuned for a small local machine.

    Local mode and a standalone cluster on this machine get few shuffle partitions, the driver
    memory from settings and a loopback driver; a remote cluster master keeps Spark's own
    defaults except what `conf` sets.
    """
    from pyspark.sql import SparkSession

    # Executors must run the same interpreter as the driver (our venv, with numpy and pymongo).
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    builder = SparkSession.builder.appName(app_name).master(settings.spark_master)
    local = settings.spark_master.startswith("local")
    local_cluster = is_local_cluster(settings.spark_master)
    defaults = {
        "spark.ui.showConsoleProgress": "false",
        "spark.sql.session.timeZone": "UTC",
        "spark.sql.execution.arrow.pyspark.enabled": "true",
    }
    if local or local_cluster:
        defaults |= {
            "spark.driver.memory": settings.spark_driver_memory,
            "spark.sql.shuffle.partitions": "4",
            "spark.default.parallelism": "4",
            "spark.ui.enabled": "false",
            "spark.driver.host": "127.0.0.1",
            "spark.driver.bindAddress": "127.0.0.1",
        }
    if local:
        defaults |= {
            "spark.sql.streaming.forceDeleteTempCheckpointLocation": "true",
            # local checkpoints without .crc side files: every micro-batch writes two small logs
            # (offsets, commits) and the checksummed file system costs ~30 ms more for each
            "spark.hadoop.fs.file.impl": "org.apache.hadoop.fs.RawLocalFileSystem",
            "spark.hadoop.fs.AbstractFileSystem.file.impl": "org.apache.hadoop.fs.local.RawLocalFs",
        }
    elif local_cluster:
        # executors of `stack up --spark-workers` run on this machine: they import the very
        # code the driver runs (a checkout, not only what is installed)
        defaults["spark.executorEnv.PYTHONPATH"] = str(Path(__file__).resolve().parents[1])
    # Under spark-submit (which sets PYSPARK_GATEWAY_PORT) the connector comes from --packages.
    if kafka and "PYSPARK_GATEWAY_PORT" not in os.environ:
        defaults["spark.jars"] = ",".join(str(p.resolve()) for p in connector_jars(settings))
    for key, value in (defaults | (conf or {})).items():
        builder = builder.config(key, value)
    return builder.getOrCreate()
