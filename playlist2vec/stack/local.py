"""The embedded default: Kafka 4 (KRaft: one node, or a replicated cluster) and the MongoDB-wire
server as local background JVMs."""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
import subprocess
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from playlist2vec import topics
from playlist2vec.errors import StackError
from playlist2vec.settings import Settings
from playlist2vec.stack import jars, kafka, spark
from playlist2vec.stack.base import ServiceStatus, Stack, kafka_healthy, mongo_healthy, port_in_use
from playlist2vec.stack.process import ManagedProcess

log = logging.getLogger(__name__)

READY_TIMEOUT_S = 90.0
HOST = "127.0.0.1"
LAUNCHER_CLASS = "p2v.mongo.MongoLauncher"  # deploy/mongo/


class LocalStack(Stack):
    """Kafka and the MongoDB-wire server; `spark_workers` > 0 adds a Spark standalone master
    with that many workers (`playlist2vec stack up --spark-workers N`)."""

    def __init__(self, settings: Settings, spark_workers: int = 0) -> None:
        super().__init__(settings)
        home = settings.home.resolve()
        self.home = home
        self.spark_workers = spark_workers
        self.spark = spark.SparkCluster(home, spark.master_url(settings))
        self.kafka_nodes = kafka.nodes(settings, home)
        self.mongo = ManagedProcess(
            "mongo", home / "run" / "mongo.pid", home / "logs" / "mongo.log", marker=str(home / "mongo")
        )

    def processes(self) -> dict[str, ManagedProcess]:
        """The services of these settings, then any other this home's `up` left running (so
        `down` stops a 3-broker cluster whatever P2V_KAFKA_BOOTSTRAP says now)."""
        found = {node.process.name: node.process for node in self.kafka_nodes}
        found["mongo"] = self.mongo
        for pid_file in sorted((self.home / "run").glob("kafka*.pid")):
            name = pid_file.stem
            found.setdefault(name, ManagedProcess(name, pid_file, self.home / "logs" / f"{name}.log",
                                                  marker=str(self.home / "kafka")))
        return found | {p.name: p for p in self.spark.processes()}

    def pid(self, service: str) -> int | None:
        process = self.processes().get(service)
        return process.pid() if process else None

    def status(self) -> list[ServiceStatus]:
        return self._services_status() + self._spark_status()

    def _spark_status(self) -> list[ServiceStatus]:
        running = self.spark.processes()
        if not running:
            return []
        alive = self.spark.alive_workers()
        detail = f"{alive} workers alive" if alive is not None else "master not answering"
        return [ServiceStatus(p.name, self.spark.url if p.name == "spark-master" else "-",
                              p.alive() and alive is not None, p.pid(),
                              detail if p.name == "spark-master" else "") for p in running]

    def _services_status(self) -> list[ServiceStatus]:
        if len(self.kafka_nodes) == 1:
            return super().status()
        statuses = []
        for node in self.kafka_nodes:
            one = self.settings.model_copy(update={"kafka_bootstrap": node.address})
            ok, detail = kafka_healthy(one)
            statuses.append(ServiceStatus(node.process.name, node.address, ok, node.process.pid(), detail))
        mongo_ok, mongo_detail = mongo_healthy(self.settings)
        return [*statuses, ServiceStatus("mongo", f"{HOST}:{self.settings.mongo_port}", mongo_ok,
                                         self.mongo.pid(), mongo_detail)]

    # -- up -------------------------------------------------------------------------------

    def up(self) -> list[ServiceStatus]:
        self._check_ports()
        jars.ensure_jars(self.settings)
        java = jars.require("java")
        if not self.mongo.alive():
            self._start_mongo(java)
        self._start_kafka(java)
        self._wait("mongo", self.mongo, lambda: mongo_healthy(self.settings)[0])
        for node in self.kafka_nodes:
            one = self.settings.model_copy(update={"kafka_bootstrap": node.address})
            self._wait(node.process.name, node.process, lambda one=one: kafka_healthy(one)[0])  # type: ignore[misc]
        topics.ensure_topics(self.settings)
        if self.spark_workers:
            self.spark.start(self.spark_workers)
            self._wait("spark-master", self.spark.master,
                       lambda: (self.spark.alive_workers() or 0) >= self.spark_workers)
        return self.status()

    def _check_ports(self) -> None:
        wanted: dict[str, tuple[ManagedProcess, list[int]]] = {
            node.process.name: (node.process, [node.port, node.controller_port])
            for node in self.kafka_nodes}
        wanted["mongo"] = (self.mongo, [self.settings.mongo_port])
        if self.spark_workers:
            wanted["spark-master"] = (self.spark.master, [self.spark.port, self.spark.ui_port])
        for name, (process, ports) in wanted.items():
            if process.alive():
                continue
            for port in ports:
                if port_in_use(HOST, port):
                    raise StackError(
                        f"port {port} for {name} is busy (another process); "
                        f"free it or choose other ports in the P2V_* settings"
                    )

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
                # what survives a young collection here is stored data (documents, oplog
                # records), kept for good: promote it at once instead of copying it between
                # survivor spaces, and give the young generation the whole heap to size from.
                # Young-collection time per `bench stream` run 5.0-5.5 s -> 3.1-3.7 s
                # (either flag alone: no gain)
                f"-Xms{self.settings.mongo_heap}",
                "-XX:MaxTenuringThreshold=0",
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
        cluster = self.kafka_nodes
        shared_id = kafka.cluster_id(self.home)
        for node in cluster:
            if not node.process.alive():
                kafka.start_node(self.settings, java, node, cluster, shared_id)

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
        # Kafka first: its shutdown is the slow one and nothing depends on Mongo for it. The
        # brokers of a cluster stop together: one by one, the last would wait for a quorum
        # that is already gone.
        processes = self.processes()
        # workers before their master: a worker losing its master retries for a while
        stopped = [p.name for p in sorted(self.spark.processes(), key=lambda p: p.name == "spark-master")
                   if p.stop()]
        processes = {name: p for name, p in processes.items() if not name.startswith("spark")}
        brokers = [p for name, p in processes.items() if name.startswith("kafka")]
        with ThreadPoolExecutor(max(1, len(brokers))) as pool:
            stopped += [p.name for p, done in zip(brokers, pool.map(ManagedProcess.stop, brokers),
                                                 strict=True) if done]
        return stopped + [p.name for p in processes.values() if p not in brokers and p.stop()]

    def logs(self, service: str, lines: int) -> str:
        processes = self.processes()
        if service not in processes:
            raise StackError(f"unknown service {service!r}: choose {', '.join(processes)}")
        return processes[service].tail(lines)


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

