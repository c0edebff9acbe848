"""The embedded default: Kafka 4 (KRaft, one node) and the MongoDB-wire server as local background JVMs."""

from __future__ import annotations

import base64
import hashlib
import logging
import os
import shutil
import subprocess
import time
import uuid
from collections.abc import Callable
from pathlib import Path

from playlist2vec import kafka_security, topics
from playlist2vec.errors import StackError
from playlist2vec.settings import Settings, split_addr
from playlist2vec.stack import jars
from playlist2vec.stack.base import ServiceStatus, Stack, kafka_healthy, mongo_healthy, port_in_use
from playlist2vec.stack.process import ManagedProcess

log = logging.getLogger(__name__)

READY_TIMEOUT_S = 90.0
HOST = "127.0.0.1"
LAUNCHER_CLASS = "p2v.mongo.MongoLauncher"  # deploy/mongo/


def kafka_properties(settings: Settings, data_dir: Path) -> str:
    """server.properties for a combined broker+controller on loopback, sized for tests.

    With a SASL protocol in the settings, the client listener takes SCRAM logins (the broker
    itself logs in as the configured user, whose credentials `scram_argument` adds at format
    time); TLS is not emulated locally.
    """
    port, controller = settings.kafka_port, settings.kafka_controller_port
    listener = "SASL_PLAINTEXT" if settings.kafka_sasl else "PLAINTEXT"
    lines = [
        "process.roles=broker,controller",
        "node.id=1",
        f"controller.quorum.voters=1@{HOST}:{controller}",
        f"listeners={listener}://{HOST}:{port},CONTROLLER://{HOST}:{controller}",
        f"advertised.listeners={listener}://{HOST}:{port}",
        "controller.listener.names=CONTROLLER",
        f"inter.broker.listener.name={listener}",
        f"listener.security.protocol.map=CONTROLLER:PLAINTEXT,{listener}:{listener}",
        f"log.dirs={data_dir}",
        "num.partitions=4",
        "offsets.topic.replication.factor=1",
        "offsets.topic.num.partitions=4",
        "transaction.state.log.replication.factor=1",
        "transaction.state.log.min.isr=1",
        "share.coordinator.state.topic.replication.factor=1",
        "share.coordinator.state.topic.min.isr=1",
        "group.initial.rebalance.delay.ms=0",
        "auto.create.topics.enable=false",
        "log.cleaner.backoff.ms=5000",
        # one event may be as large as the contract's byte cap allows (plus Kafka's framing)
        "message.max.bytes=4194304",
    ]
    if settings.kafka_sasl:
        mechanism = settings.kafka_sasl_mechanism
        assert settings.kafka_sasl_username is not None and settings.kafka_sasl_password is not None
        login = kafka_security.jaas_config(mechanism, settings.kafka_sasl_username,
                                           settings.kafka_sasl_password.get_secret_value())
        lines += [
            f"sasl.enabled.mechanisms={mechanism}",
            f"sasl.mechanism.inter.broker.protocol={mechanism}",
            f"listener.name.sasl_plaintext.{mechanism.lower()}.sasl.jaas.config={login}",
        ]
    return "\n".join([*lines, ""])


def scram_argument(settings: Settings) -> list[str]:
    """StorageTool's `--add-scram` for the configured SASL user (none without SASL)."""
    if not settings.kafka_sasl:
        return []
    if settings.kafka_security_protocol != "SASL_PLAINTEXT" or not settings.kafka_sasl_mechanism.startswith(
            "SCRAM"):
        raise StackError("the local stack emulates SASL_PLAINTEXT with SCRAM only (no TLS, no PLAIN): "
                         "point P2V_KAFKA_BOOTSTRAP at a real cluster with P2V_STACK=external")
    assert settings.kafka_sasl_password is not None
    user, password = settings.kafka_sasl_username, settings.kafka_sasl_password.get_secret_value()
    return ["--add-scram", f"{settings.kafka_sasl_mechanism}=[name={user},password={password}]"]


class LocalStack(Stack):
    def __init__(self, settings: Settings) -> None:
        super().__init__(settings)
        home = settings.home.resolve()
        self.home = home
        self.kafka = ManagedProcess(
            "kafka", home / "run" / "kafka.pid", home / "logs" / "kafka.log", marker=str(home / "kafka")
        )
        self.mongo = ManagedProcess(
            "mongo", home / "run" / "mongo.pid", home / "logs" / "mongo.log", marker=str(home / "mongo")
        )

    def processes(self) -> dict[str, ManagedProcess]:
        return {"kafka": self.kafka, "mongo": self.mongo}

    def pid(self, service: str) -> int | None:
        return self.processes()[service].pid()

    # -- up -------------------------------------------------------------------------------

    def up(self) -> list[ServiceStatus]:
        self._check_ports()
        jars.ensure_jars(self.settings)
        java = jars.require("java")
        if not self.mongo.alive():
            self._start_mongo(java)
        if not self.kafka.alive():
            self._start_kafka(java)
        self._wait("mongo", self.mongo, lambda: mongo_healthy(self.settings)[0])
        self._wait("kafka", self.kafka, lambda: kafka_healthy(self.settings)[0])
        topics.ensure_topics(self.settings)
        return self.status()

    def _check_ports(self) -> None:
        wanted = {
            "kafka": [self.settings.kafka_port, self.settings.kafka_controller_port],
            "mongo": [self.settings.mongo_port],
        }
        for name, ports in wanted.items():
            if self.processes()[name].alive():
                continue
            for port in ports:
                if port_in_use(HOST, port):
                    raise StackError(
                        f"port {port} for {name} is busy (another process); "
                        f"free it or choose other ports in the P2V_* settings"
                    )
        split_addr(self.settings.kafka_bootstrap.split(",")[0])

    def start_mongo(self) -> None:
        """Start the MongoDB-wire server alone (unless running) and wait until it answers."""
        jars.ensure_jars(self.settings)
        if not self.mongo.alive():
            self._start_mongo(jars.require("java"))
        self._wait("mongo", self.mongo, lambda: mongo_healthy(self.settings)[0])

    def _start_mongo(self, java: str) -> None:
        root = self.home / "mongo"
        data = root / "db"
        data.mkdir(parents=True, exist_ok=True)
        classpath = jars.classpath(self.settings, "mongo")
        self.mongo.start(
            [
                java,
                f"-Xmx{self.settings.mongo_heap}",
                # G1: the serial collector stopped every write for 1-2 s once the data and
                # the oplog filled the heap's old generation
                "-XX:+UseG1GC",
                "-XX:MaxGCPauseMillis=50",
                "-cp",
                f"{classpath}:{_compiled_launcher(root, classpath)}",
                LAUNCHER_CLASS,
                HOST,
                str(self.settings.mongo_port),
                str(data),
                str(self.settings.mongo_oplog_entries),
                str(self.settings.mongo_snapshot_mb),
            ],
            cwd=root,
        )

    def _start_kafka(self, java: str) -> None:
        root = self.home / "kafka"
        data = root / "data"
        data.mkdir(parents=True, exist_ok=True)
        props = root / "server.properties"
        props.touch(mode=0o600)  # it may hold the broker's SASL login
        props.chmod(0o600)
        props.write_text(kafka_properties(self.settings, data))
        base = [
            java,
            "-cp",
            jars.classpath(self.settings, "kafka"),
            f"-Dlog4j2.configurationFile={jars.DEPLOY_DIR / 'kafka' / 'log4j2.yaml'}",
        ]
        if not (data / "meta.properties").exists():
            cluster_id = root / "cluster.id"
            if not cluster_id.exists():
                cluster_id.write_text(_random_cluster_id())
            fmt = subprocess.run(
                [
                    *base,
                    "kafka.tools.StorageTool",
                    "format",
                    "-t",
                    cluster_id.read_text().strip(),
                    "-c",
                    str(props),
                    "--ignore-formatted",
                    *scram_argument(self.settings),
                ],
                capture_output=True,
                text=True,
                check=False,
            )
            if fmt.returncode != 0:
                raise StackError(f"Kafka storage format failed: {(fmt.stderr or fmt.stdout).strip()[-300:]}")
        self.kafka.start(
            [
                *base[:1],
                f"-Xmx{self.settings.kafka_heap}",
                f"-Xms{self.settings.kafka_heap}",
                "-XX:+UseG1GC",
                "-XX:MaxGCPauseMillis=20",
                "-Djava.awt.headless=true",
                *base[1:],
                "kafka.Kafka",
                str(props),
            ],
            cwd=root,
        )

    def _wait(self, name: str, proc: ManagedProcess, ready: Callable[[], bool]) -> None:
        deadline = time.monotonic() + READY_TIMEOUT_S
        while time.monotonic() < deadline:
            if ready():
                return
            if not proc.alive():
                last = proc.tail(5).replace("\n", " | ")
                raise StackError(f"{name} exited during start-up; log {proc.log_file}: {last[-400:]}")
            time.sleep(0.5)
        raise StackError(f"{name} not ready after {READY_TIMEOUT_S:.0f}s; see {proc.log_file}")

    # -- down -----------------------------------------------------------------------------

    def down(self) -> list[str]:
        # Kafka first: its shutdown is the slow one and nothing depends on Mongo for it.
        return [name for name, proc in self.processes().items() if proc.stop()]

    def logs(self, service: str, lines: int) -> str:
        if service not in self.processes():
            raise StackError(f"unknown service {service!r}: choose kafka or mongo")
        return self.processes()[service].tail(lines)


def _compiled_launcher(root: Path, classpath: str) -> Path:
    """deploy/mongo/*.java compiled once per source version under `root`.

    Compiled ahead rather than run from source, so restarts skip javac (seconds on a busy
    machine)."""
    sources = sorted((jars.DEPLOY_DIR / "mongo").glob("*.java"))
    digest = hashlib.sha256(b"".join(path.read_bytes() for path in sources)).hexdigest()[:16]
    classes = root / "launcher" / digest
    if (classes / LAUNCHER_CLASS.replace(".", "/")).with_suffix(".class").exists():
        return classes
    shutil.rmtree(root / "launcher", ignore_errors=True)
    building = root / "launcher" / f".{digest}.{os.getpid()}"
    building.mkdir(parents=True)
    proc = subprocess.run(
        [jars.require("javac"), "-d", str(building), "-cp", classpath, *map(str, sources)],
        capture_output=True,
        text=True,
        check=False,
    )
    if proc.returncode != 0:
        raise StackError(f"cannot compile deploy/mongo: {(proc.stderr or proc.stdout).strip()[-300:]}")
    building.rename(classes)
    return classes


def _random_cluster_id() -> str:
    """A KRaft cluster id: 16 random bytes, URL-safe base64 without padding (as StorageTool makes).

    Like Kafka's own Uuid.randomUuid, never one starting with "-": StorageTool's argument
    parser would read it as an option.
    """
    while True:
        cluster_id = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
        if not cluster_id.startswith("-"):
            return cluster_id
