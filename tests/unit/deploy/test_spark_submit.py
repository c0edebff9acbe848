"""deploy/spark: the submit scripts build a spark-submit command with the matching Kafka connector
and the job entry point, and the entry point dispatches to the playlist2vec CLI."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pyspark
import pytest

SPARK = Path(__file__).resolve().parents[3] / "deploy" / "spark"
CONNECTOR = f"org.apache.spark:spark-sql-kafka-0-10_2.13:{pyspark.__version__}"
RECORDER = "import json, os, sys; print(json.dumps({'argv': sys.argv[1:], 'env': dict(os.environ)}))"


@pytest.fixture(scope="module")
def recorder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("submit") / "record.py"
    path.write_text(RECORDER)
    return path


def submit(recorder: Path, script: str, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    """Run a submit script with spark-submit replaced by a recorder of its argv and environment."""
    environ = {k: v for k, v in os.environ.items() if not k.startswith("P2V_")}
    # the scripts ask `python3` for the pyspark version: make it this interpreter
    environ["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{environ['PATH']}"
    environ["SPARK_SUBMIT"] = f"{sys.executable} {recorder}"
    environ.update(env)
    return subprocess.run(["bash", str(SPARK / script), *args], capture_output=True, text=True,
                          env=environ, timeout=60, check=False)


def recorded(result: subprocess.CompletedProcess[str]) -> tuple[list[str], dict[str, str]]:
    assert result.returncode == 0, result.stderr
    record = json.loads(result.stdout)
    return record["argv"], record["env"]


def conf(argv: list[str]) -> dict[str, str]:
    pairs = [argv[i + 1] for i, a in enumerate(argv) if a == "--conf"]
    return dict(p.split("=", 1) for p in pairs)


def test_standalone_submits_the_job_in_client_mode_with_the_connector(recorder: Path) -> None:
    argv, env = recorded(submit(recorder, "submit-standalone.sh", "spark://master:7077",
                                "stream", "--x", "1"))
    assert argv[argv.index("--master") + 1] == "spark://master:7077"
    assert argv[argv.index("--packages") + 1] == CONNECTOR
    assert argv[-4:] == [str(SPARK / "p2v_job.py"), "stream", "--x", "1"]
    assert conf(argv)["spark.driver.extraJavaOptions"] == "-XX:TieredStopAtLevel=1"
    trained, _ = recorded(submit(recorder, "submit-standalone.sh", "spark://master:7077", "train"))
    assert "spark.driver.extraJavaOptions" not in conf(trained)  # the fit wants C2's code
    # the SparkSession factory reads the master from settings: it must be the same cluster
    assert env["P2V_SPARK_MASTER"] == "spark://master:7077" and env["P2V_STACK"] == "external"


def test_k8s_submits_in_cluster_mode_with_image_secret_state_and_scrape_annotations(
        recorder: Path) -> None:
    argv, _ = recorded(submit(recorder, "submit-k8s.sh", "https://api:6443", "stream",
                              P2V_IMAGE="reg/p2v:1", P2V_KAFKA_BOOTSTRAP="kafka:9092"))
    settings = conf(argv)
    assert argv[argv.index("--master") + 1] == "k8s://https://api:6443"
    assert argv[argv.index("--deploy-mode") + 1] == "cluster"
    assert argv[argv.index("--packages") + 1] == CONNECTOR
    assert argv[-2:] == ["local:///opt/playlist2vec/jobs/p2v_job.py", "stream"]
    assert settings["spark.kubernetes.container.image"] == "reg/p2v:1"
    assert settings["spark.driver.extraJavaOptions"] == "-XX:TieredStopAtLevel=1"
    assert settings["spark.kubernetes.driverEnv.P2V_SPARK_MASTER"] == "k8s://https://api:6443"
    for side in ("spark.kubernetes.driverEnv", "spark.executorEnv"):
        assert settings[f"{side}.P2V_KAFKA_BOOTSTRAP"] == "kafka:9092"
    assert settings["spark.kubernetes.driver.secretKeyRef.P2V_MONGO_URI"] == "p2v-mongo:uri"
    home = settings["spark.kubernetes.driverEnv.P2V_HOME"]
    assert settings["spark.kubernetes.driver.volumes.persistentVolumeClaim.state.mount.path"] == home
    port = settings["spark.kubernetes.driverEnv.P2V_STREAM_METRICS_ADDR"].rsplit(":", 1)[1]
    assert settings["spark.kubernetes.driver.annotation.prometheus.io/port"] == port
    # the entry point the pods run is where the k8s image puts it
    assert "COPY deploy/spark/p2v_job.py ./jobs/" in (SPARK / "Dockerfile.k8s").read_text()
    assert "WORKDIR /opt/playlist2vec" in (SPARK / "Dockerfile.k8s").read_text()


@pytest.mark.parametrize(("script", "args", "message"), [
    ("submit-standalone.sh", [], "usage:"),
    ("submit-k8s.sh", ["https://api:6443", "stream"], "P2V_IMAGE"),
])
def test_missing_arguments_fail_with_a_message(recorder: Path, script: str, args: list[str],
                                               message: str) -> None:
    result = submit(recorder, script, *args)
    assert result.returncode != 0 and message in result.stderr
    assert result.stdout == ""  # spark-submit was never called


def test_job_entry_point_runs_the_playlist2vec_cli() -> None:
    ok = subprocess.run([sys.executable, str(SPARK / "p2v_job.py"), "plot", "--help"],
                        capture_output=True, text=True, timeout=120, check=False)
    assert ok.returncode == 0 and "Usage: playlist2vec plot" in ok.stdout
    bad = subprocess.run([sys.executable, str(SPARK / "p2v_job.py"), "no-such-command"],
                         capture_output=True, text=True, timeout=120, check=False)
    assert bad.returncode != 0 and "no-such-command" in bad.stderr
