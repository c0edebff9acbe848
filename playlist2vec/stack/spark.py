"""The local Spark standalone cluster: a master and N workers, run from the pyspark install.

`spark-class org.apache.spark.deploy.master.Master` / `...deploy.worker.Worker` as background
processes on 127.0.0.1, the master at the host:port of P2V_SPARK_MASTER (`spark://127.0.0.1:
7077` when that names no local master), its web UI (and the JSON status readiness reads) one
port above. Each worker offers 1 core; its executors are separate JVMs with their own Python
workers, as on a real cluster. Jobs reach it through the same session factory with
P2V_SPARK_MASTER=spark://127.0.0.1:<port> (the connector jars go to executors through
`spark.jars`); a checkpoint under P2V_HOME is a path every process on this machine sees.
"""

from __future__ import annotations

import json
import os
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from playlist2vec.errors import StackError
from playlist2vec.settings import Settings
from playlist2vec.stack.process import ManagedProcess

HOST = "127.0.0.1"
DEFAULT_MASTER = f"spark://{HOST}:7077"
MASTER_CLASS = "org.apache.spark.deploy.master.Master"
WORKER_CLASS = "org.apache.spark.deploy.worker.Worker"
WORKER_MEMORY = "2g"  # per worker; an executor takes Spark's default 1g of it
DAEMON_MEMORY = "512m"


def master_url(settings: Settings) -> str:
    """The local master's URL: P2V_SPARK_MASTER when it names one on 127.0.0.1, else the default."""
    parts = urlsplit(settings.spark_master)
    if parts.scheme == "spark" and parts.hostname == HOST and parts.port:
        return settings.spark_master
    return DEFAULT_MASTER


def spark_class_script() -> str:
    """pyspark's own `bin/spark-class` (on PATH only when the venv is activated)."""
    try:
        import pyspark
    except ImportError:
        raise StackError("pyspark is not installed: it ships Spark's launch scripts") from None
    script = Path(pyspark.__file__).parent / "bin" / "spark-class"
    if not script.exists():
        raise StackError(f"{script} is missing: reinstall pyspark")
    return str(script)


@dataclass(frozen=True)
class SparkCluster:
    """The master and workers of one P2V_HOME (workers found by their pid files, so `down` and
    `status` need not be told how many `up` started)."""

    home: Path
    url: str

    @property
    def port(self) -> int:
        return urlsplit(self.url).port or 7077

    @property
    def ui_port(self) -> int:
        return self.port + 1

    def _process(self, name: str) -> ManagedProcess:
        return ManagedProcess(name, self.home / "run" / f"{name}.pid", self.home / "logs" / f"{name}.log",
                              marker=str(self.home / "spark" / name) + "/")

    @property
    def master(self) -> ManagedProcess:
        return self._process("spark-master")

    def workers(self) -> list[ManagedProcess]:
        return [self._process(p.stem) for p in sorted((self.home / "run").glob("spark-worker-*.pid"))]

    def processes(self) -> list[ManagedProcess]:
        found = [self.master, *self.workers()]
        return [p for p in found if p.pid_file.exists()]

    def start(self, workers: int) -> None:
        """Start the master (unless running) and workers 1..`workers` that are not running."""
        spark_class = spark_class_script()
        if not self.master.alive():
            self._start(spark_class, self.master, MASTER_CLASS, "--host", HOST, "--port", str(self.port),
                        "--webui-port", str(self.ui_port))
        for index in range(1, workers + 1):
            worker = self._process(f"spark-worker-{index}")
            if not worker.alive():
                work_dir = self.home / "spark" / worker.name / "work"
                self._start(spark_class, worker, WORKER_CLASS, "--host", HOST, "--cores", "1",
                            "--memory", WORKER_MEMORY, "--webui-port", "0", "--work-dir",
                            str(work_dir), self.url)

    def _start(self, spark_class: str, process: ManagedProcess, main_class: str, *args: str) -> None:
        root = self.home / "spark" / process.name
        root.mkdir(parents=True, exist_ok=True)
        # the properties file puts the marker on the command line, from bash to the JVM it execs
        properties = root / "spark.conf"
        properties.write_text("spark.master.rest.enabled false\n")  # no fixed port 6066
        env = {**os.environ, "SPARK_LOCAL_IP": HOST, "SPARK_DAEMON_MEMORY": DAEMON_MEMORY}
        process.start([spark_class, main_class, *args, "--properties-file", str(properties)], cwd=root,
                      env=env)

    def alive_workers(self) -> int | None:
        """Workers the master counts alive (None while its status page does not answer)."""
        try:
            with urllib.request.urlopen(f"http://{HOST}:{self.ui_port}/json/", timeout=2) as answer:
                return int(json.load(answer)["aliveworkers"])
        except (urllib.error.URLError, OSError, ValueError, KeyError):
            return None
