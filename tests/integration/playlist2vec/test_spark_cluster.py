"""The jobs on a local Spark standalone cluster (`stack up --spark-workers 2`: a master and two
1-core workers, executors in their own JVMs and Python workers) give the MongoDB state that
`local[*]` gives: `train` (one fit partition, so the fit itself is deterministic) and the
stream, which keeps its guarantees when a worker is `kill -9`ed in the middle (Spark re-runs
the lost tasks on the other worker).

Both jobs run as `playlist2vec` processes with P2V_SPARK_MASTER=spark://127.0.0.1:<port>,
beside the same work on the session's local SparkSession.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from prometheus_client import CollectorRegistry

from batch.generate import generate_corpus
from batch.train import TrainOptions, train
from batch.word2vec import Word2VecParams
from playlist2vec import store, topics, vectors
from playlist2vec.chaos import Oracle, mismatches, topic_records
from playlist2vec.children import wait_for
from playlist2vec.producer import Producer
from playlist2vec.settings import Settings
from playlist2vec.stack.spark import SparkCluster
from streaming import job
from streaming.bench import seed_model, vocabulary
from streaming.metrics import StreamMetrics
from tests.conftest import REPO, free_port
from tests.integration.playlist2vec.cluster_events import edits
from tests.support.ports import free_run

pytestmark = [
    pytest.mark.integration, pytest.mark.spark, pytest.mark.cluster, pytest.mark.slow,
    pytest.mark.timeout(1800),
]

# CI's small version (the stream test takes ~1.5 minutes with it); CLUSTER_EVENTS=10000 for more
EVENTS = int(os.environ.get("CLUSTER_EVENTS", "1000"))
PARAMS = Word2VecParams(vector_size=8, window=3, iterations=1, min_count=3, partitions=1)


@pytest.fixture(scope="module")
def cluster(stack_settings: Settings) -> Iterator[SparkCluster]:
    """A master and two workers under the session stack's P2V_HOME (its Kafka and MongoDB)."""
    spark_cluster = SparkCluster(stack_settings.home.resolve(),
                                 f"spark://127.0.0.1:{free_run(2)}")
    try:
        spark_cluster.start(2)
        wait_for("two workers registered", lambda: spark_cluster.alive_workers() == 2, 180)
        yield spark_cluster
    finally:
        for process in spark_cluster.processes():
            process.stop()


def child(settings: Settings, cluster: SparkCluster, *args: str) -> subprocess.Popen[bytes]:
    """`playlist2vec <args>` of this checkout, its Spark jobs on the cluster."""
    env = {**os.environ, **settings.to_env(), "P2V_SPARK_MASTER": cluster.url, "PYTHONPATH": str(REPO),
           "P2V_STREAM_METRICS_ADDR": f"127.0.0.1:{free_port()}", "P2V_STREAM_TRIGGER": "250ms"}
    log = (settings.home / "logs" / f"cluster-{args[0]}.log").open("wb")
    return subprocess.Popen([sys.executable, "-m", "playlist2vec.cli", *args], env=env, stdout=log,
                            stderr=subprocess.STDOUT)


def fresh(settings: Settings, name: str) -> Settings:
    return settings.model_copy(update={"mongo_db": f"{settings.mongo_db}_{name}"})


def state(db: Any) -> dict[str, Any]:
    """The model-independent content of a trained database: playlists, and vectors by track and
    by pid (the model's version differs between runs)."""
    return {
        "playlists": {d["_id"]: (d.get("tracks"), d.get("modified_at"), bool(d.get("deleted")))
                      for d in db[store.PLAYLISTS].find()},
        "tracks": {d["_id"]["t"]: vectors.decode(d["vector"]) for d in db[store.TRACK_VECTORS].find()},
        "playlist_vectors": {d["_id"]["p"]: vectors.decode(d["vector"]) if "vector" in d else None
                             for d in db[store.PLAYLIST_VECTORS].find()},
    }


def same_vectors(a: dict[Any, Any], b: dict[Any, Any]) -> bool:
    return a.keys() == b.keys() and all(
        (a[k] is None and b[k] is None) or (a[k] is not None and b[k] is not None
                                            and np.allclose(a[k], b[k], atol=1e-6)) for k in a)


def newest_executor_commands(cluster: SparkCluster) -> list[str]:
    """How the executors of the cluster's newest application were launched: a worker writes the
    command at the top of each executor's stderr (work/<app id>/<executor id>/stderr)."""
    logs = list((cluster.home / "spark").glob("spark-worker-*/work/app-*/*/stderr"))
    newest = max(log.parent.parent.name for log in logs)
    return [log.read_text().splitlines()[0] for log in logs if log.parent.parent.name == newest]


def test_train_on_the_cluster_writes_what_local_training_writes(
        cluster: SparkCluster, settings: Settings, spark: Any, tmp_path: Path) -> None:
    corpus = tmp_path / "corpus"
    generate_corpus(300, corpus, seed=3)
    on_cluster, local = fresh(settings, "cluster"), fresh(settings, "local")
    trainer = child(on_cluster, cluster, "train", "--input", str(corpus), "--vector-size", "8",
                    "--window", "3", "--iterations", "1", "--min-count", "3", "--partitions", "1")
    train(local, spark, TrainOptions(str(corpus), PARAMS), progress=lambda _: None)
    assert trainer.wait(timeout=900) == 0, (settings.home / "logs" / "cluster-train.log").read_text()[-2000:]
    commands = newest_executor_commands(cluster)
    assert commands and all("-Ddev.ludovic.netlib.blas.allowNative=false" in c for c in commands), \
        commands  # the fit's executors use the JDK's BLAS (batch.word2vec.SPARK_CONF)
    cluster_db, local_db = store.database(on_cluster), store.database(local)
    try:
        got, want = state(cluster_db), state(local_db)
        assert got["playlists"] == want["playlists"] and len(want["playlists"]) == 300
        assert same_vectors(got["tracks"], want["tracks"])
        assert same_vectors(got["playlist_vectors"], want["playlist_vectors"])
    finally:
        for db in (cluster_db, local_db):
            db.client.drop_database(db.name)
            db.client.close()


def test_stream_on_the_cluster_survives_a_lost_worker_and_equals_local(
        cluster: SparkCluster, settings: Settings, spark: Any, tmp_path: Path) -> None:
    on_cluster, local = fresh(settings, "cluster"), fresh(settings, "local")
    topics.ensure_topics(settings, partitions=4)
    vocab = vocabulary(500)
    matrix = np.random.default_rng(1).normal(size=(500, 16)).astype(np.float32)
    dbs = [store.database(s) for s in (on_cluster, local)]
    for db in dbs:
        seed_model(db, "m1", vocab, matrix, settings.vector_subtype)
    streamer = child(on_cluster, cluster, "stream", "--checkpoint", str(tmp_path / "cluster-checkpoint"))
    running = job.start(spark, local, job.StreamOptions(
        checkpoint=tmp_path / "local-checkpoint", trigger="200 milliseconds", max_offsets_per_trigger=2_000),
        StreamMetrics(CollectorRegistry()))
    events = edits(EVENTS, random.Random(8), vocab)
    try:
        with Producer(settings, {"acks": "all", "enable.idempotence": True, "linger.ms": 5}) as producer:
            for event in events[:EVENTS // 2]:
                producer.send(settings.playlist_topic, key=event.key, value=event.to_json())
            producer.flush()
            # the cluster job is at work on the first half: a worker dies with its executor
            wait_for("the cluster job's first writes",
                     lambda: dbs[0][store.PLAYLISTS].estimated_document_count() > 0, 300)
            victim = cluster.workers()[0]
            os.killpg(victim.pid() or 0, signal.SIGKILL)  # the worker and the executor it runs
            wait_for("the worker gone", lambda: not victim.alive(), 30)
            for event in events[EVENTS // 2:]:
                producer.send(settings.playlist_topic, key=event.key, value=event.to_json())
            producer.flush()
        oracle = Oracle(playlists={}, invalid=set())
        for r in topic_records(settings, settings.playlist_topic):
            oracle.apply(r.partition, r.offset, r.key, r.value, r.timestamp // 1000)
        def converged(db: Any) -> bool:
            return mismatches(db, oracle, "m1") == {"playlists": 0, "vectors": 0}

        wait_for("the cluster's MongoDB equal to the replay of the topic", lambda: converged(dbs[0]), 300)
        wait_for("local[2]'s MongoDB equal to the replay of the topic", lambda: converged(dbs[1]), 300)
        assert streamer.poll() is None, "the cluster job survived the lost worker"
    finally:
        running.stop()
        streamer.send_signal(signal.SIGINT)
        try:
            streamer.wait(timeout=60)
        except subprocess.TimeoutExpired:
            streamer.kill()
        for db in dbs:
            db.client.drop_database(db.name)
            db.client.close()
