from __future__ import annotations

import base64
from pathlib import Path

import pytest

from playlist2vec.errors import StackError
from playlist2vec.settings import Settings
from playlist2vec.stack import kafka


def test_cluster_ids_are_kraft_uuids_that_never_look_like_options() -> None:
    ids = {kafka._random_cluster_id() for _ in range(2000)}  # ~30 would start with "-" unchecked
    assert len(ids) == 2000
    assert not any(i.startswith("-") for i in ids)
    assert all(len(base64.urlsafe_b64decode(i + "==")) == 16 for i in ids)


def test_kafka_properties_bind_loopback_on_the_configured_ports() -> None:
    settings = Settings.load({}, kafka_bootstrap="127.0.0.1:19092", kafka_controller_port=19093)
    props = dict(
        line.split("=", 1) for line in kafka.kafka_properties(settings, Path("/data"), *one_node(settings))
        .splitlines() if line)
    assert props["listeners"] == "PLAINTEXT://127.0.0.1:19092,CONTROLLER://127.0.0.1:19093"
    assert props["controller.quorum.voters"] == "1@127.0.0.1:19093"
    assert props["log.dirs"] == "/data"
    assert props["auto.create.topics.enable"] == "false"
    assert props["offsets.topic.replication.factor"] == "1"
    assert props["min.insync.replicas"] == "1"


def one_node(settings: Settings) -> tuple[kafka.KafkaNode, list[kafka.KafkaNode]]:
    cluster = kafka.nodes(settings, Path("/home"))
    return cluster[0], cluster


def test_three_addresses_are_a_replicated_three_node_quorum() -> None:
    bootstrap = kafka.cluster_bootstrap(19092, 3)
    assert bootstrap == "127.0.0.1:19092,127.0.0.1:19094,127.0.0.1:19096"
    settings = Settings.load({}, kafka_bootstrap=bootstrap, kafka_controller_port=19093)
    cluster = kafka.nodes(settings, Path("/home"))
    assert [(n.process.name, n.port, n.controller_port) for n in cluster] == [
        ("kafka-1", 19092, 19093), ("kafka-2", 19094, 19095), ("kafka-3", 19096, 19097)]
    assert len({n.root for n in cluster}) == 3
    props = dict(line.split("=", 1) for line in kafka.kafka_properties(
        settings, Path("/d2"), cluster[1], cluster).splitlines() if line)
    assert props["node.id"] == "2"
    assert props["controller.quorum.voters"] == \
        "1@127.0.0.1:19093,2@127.0.0.1:19095,3@127.0.0.1:19097"
    assert props["listeners"] == "PLAINTEXT://127.0.0.1:19094,CONTROLLER://127.0.0.1:19095"
    for key in ("offsets.topic.replication.factor", "transaction.state.log.replication.factor",
                "default.replication.factor"):
        assert props[key] == "3"
    assert props["min.insync.replicas"] == props["transaction.state.log.min.isr"] == "2"


def test_a_remote_broker_address_is_refused() -> None:
    settings = Settings.load({}, kafka_bootstrap="127.0.0.1:9092,kafka-2:9092")
    with pytest.raises(StackError, match=r"runs Kafka on 127\.0\.0\.1 only"):
        kafka.nodes(settings, Path("/home"))
