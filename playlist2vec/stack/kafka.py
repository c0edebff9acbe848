"""The local Kafka: one KRaft node, or a replicated cluster of nodes on loopback ports.

The topology is P2V_KAFKA_BOOTSTRAP: one node per address listed (all on 127.0.0.1), node i
(from 1) with its KRaft controller listener on P2V_KAFKA_CONTROLLER_PORT + 2(i - 1), every
node a broker and a voter of the controller quorum. With 3 or more nodes the internal topics
are replicated 3 times with min ISR 2 (as `topics.ensure_topics` makes the playlist topics), so
one broker can die without losing an acknowledged (acks=all) record or stopping producers.
"""

from __future__ import annotations

import base64
import subprocess
import uuid
from dataclasses import dataclass
from pathlib import Path

from playlist2vec import kafka_security
from playlist2vec.errors import StackError
from playlist2vec.settings import Settings, split_addr
from playlist2vec.stack import jars
from playlist2vec.stack.process import ManagedProcess

HOST = "127.0.0.1"


@dataclass(frozen=True)
class KafkaNode:
    node_id: int
    port: int
    controller_port: int
    root: Path
    process: ManagedProcess

    @property
    def address(self) -> str:
        return f"{HOST}:{self.port}"


def nodes(settings: Settings, home: Path) -> list[KafkaNode]:
    """The nodes P2V_KAFKA_BOOTSTRAP describes; one node keeps the single-node layout
    (`P2V_HOME/kafka`, service name `kafka`), more are `kafka-1`.. under `P2V_HOME/kafka/node-i`."""
    addresses = [split_addr(part.strip()) for part in settings.kafka_bootstrap.split(",")]
    if any(host != HOST for host, _ in addresses):
        raise StackError(f"the local stack runs Kafka on {HOST} only: P2V_KAFKA_BOOTSTRAP lists "
                         f"{settings.kafka_bootstrap} (use P2V_STACK=external for remote brokers)")
    if len(addresses) == 1:
        root = home / "kafka"
        process = ManagedProcess("kafka", home / "run" / "kafka.pid", home / "logs" / "kafka.log",
                                 marker=str(root))
        return [KafkaNode(1, addresses[0][1], settings.kafka_controller_port, root, process)]
    found = []
    for node_id, (_, port) in enumerate(addresses, start=1):
        name, root = f"kafka-{node_id}", home / "kafka" / f"node-{node_id}"
        process = ManagedProcess(name, home / "run" / f"{name}.pid", home / "logs" / f"{name}.log",
                                 marker=str(root) + "/")
        found.append(KafkaNode(node_id, port, settings.kafka_controller_port + 2 * (node_id - 1),
                               root, process))
    return found


def cluster_bootstrap(port: int, brokers: int) -> str:
    """The bootstrap list of a local cluster of `brokers` nodes from `port`: ports 2 apart, so
    each node's controller port (P2V_KAFKA_CONTROLLER_PORT + 2(i - 1)) can sit between them."""
    return ",".join(f"{HOST}:{port + 2 * i}" for i in range(brokers))


def kafka_properties(settings: Settings, data_dir: Path, node: KafkaNode, cluster: list[KafkaNode]
                     ) -> str:
    """server.properties of one combined broker+controller on loopback, sized for tests.

    With a SASL protocol in the settings, the client listener takes SCRAM logins (the broker
    itself logs in as the configured user, whose credentials `scram_argument` adds at format
    time); TLS is not emulated locally.
    """
    replicas = min(3, len(cluster))
    min_isr = 2 if replicas >= 3 else 1
    voters = ",".join(f"{n.node_id}@{HOST}:{n.controller_port}" for n in cluster)
    listener = "SASL_PLAINTEXT" if settings.kafka_sasl else "PLAINTEXT"
    lines = [
        "process.roles=broker,controller",
        f"node.id={node.node_id}",
        f"controller.quorum.voters={voters}",
        f"listeners={listener}://{HOST}:{node.port},CONTROLLER://{HOST}:{node.controller_port}",
        f"advertised.listeners={listener}://{HOST}:{node.port}",
        "controller.listener.names=CONTROLLER",
        f"inter.broker.listener.name={listener}",
        f"listener.security.protocol.map=CONTROLLER:PLAINTEXT,{listener}:{listener}",
        f"log.dirs={data_dir}",
        "num.partitions=4",
        f"default.replication.factor={replicas}",
        f"min.insync.replicas={min_isr}",
        f"offsets.topic.replication.factor={replicas}",
        "offsets.topic.num.partitions=4",
        f"transaction.state.log.replication.factor={replicas}",
        f"transaction.state.log.min.isr={min_isr}",
        f"share.coordinator.state.topic.replication.factor={replicas}",
        f"share.coordinator.state.topic.min.isr={min_isr}",
        "group.initial.rebalance.delay.ms=0",
        "auto.create.topics.enable=false",
        "log.cleaner.backoff.ms=5000",
        # one event may be as large as the contract's byte cap allows (plus Kafka's framing)
        "message.max.bytes=4194304",
        "replica.fetch.max.bytes=4194304",
        # threads for a broker sharing a small machine with everything else (Kafka's defaults,
        # 8 I/O, 3 network and 10 background threads, are for a server of its own): under
        # `bench stream` at 5,000 events/s the broker's CPU per event fell 97-102 -> 76-94 us
        # and the sustained rate rose 10-14% (three alternated pairs, fresh stacks)
        "num.io.threads=2",
        "num.network.threads=1",
        "background.threads=2",
    ]
    if len(cluster) > 1:
        # a killed broker is fenced (its partitions led elsewhere) within 3 s, not Kafka's 9 s
        lines += ["broker.heartbeat.interval.ms=500", "broker.session.timeout.ms=3000"]
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


def start_node(settings: Settings, java: str, node: KafkaNode, cluster: list[KafkaNode],
               cluster_id: str) -> None:
    """Format the node's storage once (with the shared cluster id), then start it."""
    data = node.root / "data"
    data.mkdir(parents=True, exist_ok=True)
    props = node.root / "server.properties"
    props.touch(mode=0o600)  # it may hold the broker's SASL login
    props.chmod(0o600)
    props.write_text(kafka_properties(settings, data, node, cluster))
    base = [
        java,
        "-cp",
        jars.classpath(settings, "kafka"),
        f"-Dlog4j2.configurationFile={jars.DEPLOY_DIR / 'kafka' / 'log4j2.yaml'}",
    ]
    if not (data / "meta.properties").exists():
        fmt = subprocess.run(
            [*base, "kafka.tools.StorageTool", "format", "-t", cluster_id, "-c", str(props),
             "--ignore-formatted", *scram_argument(settings)],
            capture_output=True,
            text=True,
            check=False,
        )
        if fmt.returncode != 0:
            raise StackError(f"Kafka storage format failed: {(fmt.stderr or fmt.stdout).strip()[-300:]}")
    node.process.start(
        [
            *base[:1],
            f"-Xmx{settings.kafka_heap}",
            f"-Xms{settings.kafka_heap}",
            "-XX:+UseG1GC",
            "-XX:MaxGCPauseMillis=20",
            "-Djava.awt.headless=true",
            *base[1:],
            "kafka.Kafka",
            str(props),
        ],
        cwd=node.root,
    )


def cluster_id(home: Path) -> str:
    """The KRaft cluster id of this home's Kafka, made once and shared by its nodes."""
    path = home / "kafka" / "cluster.id"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(_random_cluster_id())
    return path.read_text().strip()


def _random_cluster_id() -> str:
    """A KRaft cluster id: 16 random bytes, URL-safe base64 without padding (as StorageTool makes).

    Like Kafka's own Uuid.randomUuid, never one starting with "-": StorageTool's argument
    parser would read it as an option.
    """
    while True:
        cluster_id = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
        if not cluster_id.startswith("-"):
            return cluster_id
