"""deploy/compose.yaml: `docker compose config` accepts it, and the cluster it describes hangs
together (brokers, replica set, Spark, the jobs' settings, router, shards and scrape targets)."""

from __future__ import annotations

import json
import os
import re
import subprocess
from functools import cache
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pyspark
import pytest
import yaml

from playlist2vec.settings import ENV_PREFIX, Settings, split_addr

DEPLOY = Path(__file__).resolve().parents[3] / "deploy"
COMPOSE = DEPLOY / "compose.yaml"
SECRETS = {"GRAFANA_ADMIN_PASSWORD": "test-only"}


def compose(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    # The docker CLI with the compose v2 plugin; no Docker daemon is needed for `config`.
    environ = {k: v for k, v in os.environ.items() if k not in SECRETS} | (env or {})
    result = subprocess.run(["docker", "compose", "-f", str(COMPOSE), *args], capture_output=True,
                            text=True, timeout=60, env=environ, check=False)
    assert "is not a docker command" not in result.stderr, "the docker compose plugin is missing"
    return result


@cache
def resolved() -> dict[str, Any]:
    result = compose("--profile", "jobs", "config", "--format", "json", env=SECRETS)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def services() -> dict[str, Any]:
    return resolved()["services"]


def p2v_services() -> dict[str, dict[str, str]]:
    """Environment of every service that runs playlist2vec code."""
    return {name: s["environment"] for name, s in services().items()
            if s.get("image") == "playlist2vec:latest" and "environment" in s}


def test_compose_config_is_valid() -> None:
    result = compose("config", "-q", env=SECRETS)
    assert result.returncode == 0, result.stderr


def test_grafana_password_must_be_given_not_defaulted() -> None:
    result = compose("config", "-q")
    assert result.returncode != 0
    assert "GRAFANA_ADMIN_PASSWORD" in result.stderr


def test_kafka_is_a_three_node_kraft_quorum_that_survives_one_broker() -> None:
    brokers = {n: s["environment"] for n, s in services().items() if n.startswith("kafka-")
               and "KAFKA_NODE_ID" in s.get("environment", {})}
    assert len(brokers) == 3
    voters = {f"{env['KAFKA_NODE_ID']}@{name}:9093" for name, env in brokers.items()}
    for env in brokers.values():
        assert set(env["KAFKA_CONTROLLER_QUORUM_VOTERS"].split(",")) == voters
        assert env["KAFKA_PROCESS_ROLES"] == "broker,controller"
        assert int(env["KAFKA_MIN_INSYNC_REPLICAS"]) == 2
        assert int(env["KAFKA_OFFSETS_TOPIC_REPLICATION_FACTOR"]) == 3
    assert len({env["CLUSTER_ID"] for env in brokers.values()}) == 1
    init = " ".join(services()["kafka-init"]["command"])
    assert init.count("--replication-factor 3") == 2


def test_replica_set_members_are_the_mongo_services_and_the_uri_names_them() -> None:
    members = {n for n, s in services().items() if s.get("image", "").startswith("mongo:")
               and "--replSet" in (s.get("command") or [])}
    assert len(members) == 3
    script = (DEPLOY / "mongo-rs" / "initiate.js").read_text()
    assert set(re.findall(r'host: "([\w-]+):27017"', script)) == members
    for name, env in p2v_services().items():
        uri = urlsplit(env["P2V_MONGO_URI"])
        assert {h.split(":")[0] for h in uri.netloc.split(",")} == members, name
        assert parse_qs(uri.query)["replicaSet"] == ["rs0"]
    assert services()["stream"]["depends_on"]["mongo-init"]["condition"] == \
        "service_completed_successfully"


def test_every_playlist2vec_service_gets_valid_settings_for_an_external_stack() -> None:
    assert {"stream", "train", "serve-1", "serve-2"} <= p2v_services().keys()
    fields = set(Settings.model_fields)
    for name, env in p2v_services().items():
        p2v = {k: v for k, v in env.items() if k.startswith(ENV_PREFIX)}
        unknown = {k for k in p2v if k[len(ENV_PREFIX):].lower() not in fields}
        assert not unknown, f"{name}: no such setting {sorted(unknown)}"
        settings = Settings.load(p2v)
        assert settings.stack == "external" and settings.vector_subtype == 9
        assert settings.spark_master == "spark://spark-master:7077"
        assert split_addr(settings.http_addr)[0] == "0.0.0.0"  # reachable from other containers


def test_the_streaming_job_is_submitted_to_the_cluster_with_the_matching_connector() -> None:
    for job in ("stream", "train"):
        argv = services()[job]["entrypoint"] + services()[job]["command"]
        assert "spark-submit" in argv
        assert argv[argv.index("--master") + 1] == "spark://spark-master:7077"
        connector = argv[argv.index("--packages") + 1]
        assert connector == f"org.apache.spark:spark-sql-kafka-0-10_2.13:{pyspark.__version__}"
        script = argv[argv.index(connector) + 1:]
        assert any(a.endswith("p2v_job.py") for a in script)
    assert services()["stream"]["command"] == ["stream"]
    workers = [s for n, s in services().items() if n.startswith("spark-worker")]
    assert len(workers) == 2
    assert all("spark://spark-master:7077" in w["command"] for w in workers)


def test_the_job_entry_point_is_in_the_image() -> None:
    dockerfile = (DEPLOY / "Dockerfile").read_text()
    assert "COPY deploy/spark/p2v_job.py ./jobs/" in dockerfile
    assert "/opt/playlist2vec" in dockerfile
    assert (DEPLOY / "spark" / "p2v_job.py").exists()


def test_published_ports_bind_loopback_only() -> None:
    published = [(n, p) for n, s in services().items() for p in s.get("ports", [])]
    assert published
    for name, port in published:
        assert port["host_ip"] == "127.0.0.1", name


def serving_replicas() -> set[str]:
    return {n for n, s in services().items() if (s.get("command") or [""])[0] == "serve"}


def test_serving_replicas_keep_separate_resume_tokens() -> None:
    instances = [services()[n]["environment"].get("P2V_SERVING_INSTANCE") for n in serving_replicas()]
    assert None not in instances and len(set(instances)) == len(instances)


def test_training_corpus_is_visible_to_the_driver_and_every_executor() -> None:
    argv = services()["train"]["command"]
    corpus = argv[argv.index("--input") + 1]
    for name in ["train"] + [n for n in services() if n.startswith("spark-worker")]:
        targets = {v["target"] for v in services()[name].get("volumes", [])}
        assert corpus in targets, name


def test_the_router_asks_every_shard_and_the_shards_cover_every_pid_once() -> None:
    assert len(serving_replicas()) == 2
    argv = services()["api"]["command"]
    assert argv[0] == "route"
    urls = {argv[i + 1] for i, a in enumerate(argv) if a == "--shard"}
    assert urls == {f"http://{n}:{split_addr(services()[n]['environment']['P2V_HTTP_ADDR'])[1]}"
                    for n in serving_replicas()}
    shards = sorted(c[c.index("--shard") + 1] for c in
                    (services()[n]["command"] for n in serving_replicas()))
    assert shards == [f"{i}/{len(shards)}" for i in range(len(shards))]


def test_prometheus_scrapes_the_streaming_job_every_replica_and_the_probe_where_they_listen() -> None:
    config = yaml.safe_load((DEPLOY / "prometheus" / "prometheus.yml").read_text())
    jobs = {j["job_name"]: {t for c in j["static_configs"] for t in c["targets"]}
            for j in config["scrape_configs"]}
    stream_env = services()["stream"]["environment"]
    assert jobs["p2v-stream"] == {f"stream:{split_addr(stream_env['P2V_STREAM_METRICS_ADDR'])[1]}"}
    assert jobs["p2v-serving"] == {
        f"{n}:{split_addr(services()[n]['environment']['P2V_HTTP_ADDR'])[1]}" for n in serving_replicas()}
    router_env = services()["api"]["environment"]
    assert jobs["p2v-router"] == {f"api:{split_addr(router_env['P2V_HTTP_ADDR'])[1]}"}
    probe_env = services()["probe"]["environment"]
    assert jobs["p2v-probe"] == {f"probe:{split_addr(probe_env['P2V_PROBE_METRICS_ADDR'])[1]}"}
    mounts = {v["target"]: v["source"] for v in services()["prometheus"]["volumes"]}
    assert Path(mounts["/etc/prometheus"]) == DEPLOY / "prometheus"


@pytest.mark.parametrize("service", ["grafana", "api", "mongo-init", "prometheus"])
def test_mounted_config_files_exist(service: str) -> None:
    for volume in services()[service].get("volumes", []):
        if volume["type"] == "bind":
            assert Path(volume["source"]).exists(), volume["source"]
