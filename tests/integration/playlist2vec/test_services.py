"""Any client that speaks the protocols can use the session stack: Kafka, MongoDB, Spark's connector."""

from __future__ import annotations

import subprocess
import uuid
from typing import Any

import numpy as np
import pytest
from kafka import KafkaConsumer, KafkaProducer
from kafka.admin import NewTopic
from pymongo import ReplaceOne

from playlist2vec import store, topics, vectors
from playlist2vec.settings import Settings
from playlist2vec.stack import jars
from tests.support.waiting import gather

pytestmark = pytest.mark.integration


def kafka_tool(settings: Settings, main_class: str, *args: str, stdin: str | None = None) -> str:
    """Run one of Kafka's own CLI tools (from the broker's jars) against the stack."""
    proc = subprocess.run(
        [
            "java",
            "-cp",
            jars.classpath(settings, "kafka"),
            f"-Dlog4j2.configurationFile={jars.DEPLOY_DIR / 'kafka' / 'log4j2.yaml'}",
            main_class,
            "--bootstrap-server",
            settings.kafka_bootstrap,
            *args,
        ],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    return proc.stdout


def test_kafka_cli_lists_topics_and_round_trips(settings: Settings) -> None:
    topics.ensure_topics(settings, partitions=2)
    listed = kafka_tool(settings, "org.apache.kafka.tools.TopicCommand", "--list").split()
    assert settings.playlist_topic in listed and settings.dlq_topic in listed
    described = kafka_tool(
        settings, "org.apache.kafka.tools.TopicCommand", "--describe", "--topic", settings.playlist_topic
    )
    assert "cleanup.policy=compact" in described

    kafka_tool(
        settings,
        "org.apache.kafka.tools.ConsoleProducer",
        "--topic",
        settings.dlq_topic,
        stdin="hello from the console\n",
    )
    out = kafka_tool(
        settings,
        "org.apache.kafka.tools.consumer.ConsoleConsumer",
        "--topic",
        settings.dlq_topic,
        "--from-beginning",
        "--max-messages",
        "1",
        "--timeout-ms",
        "60000",
    )
    assert out.strip() == "hello from the console"


def new_topic(settings: Settings, prefix: str) -> str:
    """A fresh topic (the local broker does not auto-create topics, as production shouldn't)."""
    name = f"{prefix}-{uuid.uuid4().hex[:6]}"
    client = topics.admin(settings)
    client.create_topics([NewTopic(name, 2, 1)])
    client.close()
    return name


def test_kafka_python_round_trip(settings: Settings) -> None:
    topic = new_topic(settings, "roundtrip")
    producer = KafkaProducer(bootstrap_servers=settings.kafka_bootstrap)
    sent = [(str(i).encode(), f"value-{i}".encode()) for i in range(20)]
    for key, value in sent:
        producer.send(topic, key=key, value=value)
    producer.flush()
    producer.close()
    consumer = KafkaConsumer(
        topic,
        bootstrap_servers=settings.kafka_bootstrap,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        consumer_timeout_ms=30_000,
    )
    received = []
    for message in consumer:
        received.append((message.key, message.value))
        if len(received) == len(sent):
            break
    consumer.close()
    assert sorted(received) == sorted(sent)


@pytest.mark.spark
def test_spark_reads_a_topic_through_the_connector(settings: Settings, spark: Any) -> None:
    topic = new_topic(settings, "spark")
    producer = KafkaProducer(bootstrap_servers=settings.kafka_bootstrap)
    for i in range(50):
        producer.send(topic, key=str(i).encode(), value=f'{{"pid": {i}}}'.encode())
    producer.flush()
    producer.close()
    rows = (
        spark.read.format("kafka")
        .option("kafka.bootstrap.servers", settings.kafka_bootstrap)
        .option("subscribe", topic)
        .option("startingOffsets", "earliest")
        .load()
        .selectExpr("CAST(key AS STRING) AS k", "get_json_object(CAST(value AS STRING), '$.pid') AS pid")
        .collect()
    )
    assert sorted(int(r.k) for r in rows) == list(range(50))
    assert all(r.k == r.pid for r in rows)


def test_vector_codec_round_trip_through_the_server(settings: Settings, db: Any) -> None:
    rng = np.random.default_rng(1)
    matrix = rng.normal(size=(100, 32)).astype(np.float32)
    ops = [
        ReplaceOne({"_id": i}, {"vector": vectors.encode(v, settings.vector_subtype)}, upsert=True)
        for i, v in enumerate(matrix)
    ]
    assert store.bulk_write(db["vecs"], ops, batch_size=30) == 100
    back = {d["_id"]: vectors.decode(d["vector"]) for d in db["vecs"].find()}
    np.testing.assert_array_equal(np.stack([back[i] for i in range(100)]), matrix)


def test_change_stream_delivers_and_resumes_from_a_stored_token(db: Any) -> None:
    coll = db["followed"]
    stream = store.open_change_stream(coll, None)
    coll.insert_one({"_id": 1, "v": 1})
    coll.replace_one({"_id": 1}, {"v": 2})
    coll.delete_one({"_id": 1})
    changes = poll_until(stream, 3)
    assert [
        (c["operationType"] if c["operationType"] != "replace" else "update", store.change_key(c))
        for c in changes
    ] == [("insert", 1), ("update", 1), ("delete", 1)]
    db["state"].replace_one({"_id": "t"}, {"token": changes[0]["_id"]}, upsert=True)
    stream.close()

    coll.insert_one({"_id": 2})  # written while nobody follows
    token = db["state"].find_one({"_id": "t"})["token"]
    resumed = poll_until(store.open_change_stream(coll, token), 3)
    assert [store.change_key(c) for c in resumed] == [1, 1, 2], "resumes right after the stored change"


def poll_until(stream: Any, n: int, deadline_s: float = 10.0) -> list[dict[str, Any]]:
    """Up to `n` changes of `stream`, as many as came within `deadline_s`."""
    return gather(lambda want: store.poll_changes(stream, want, wait_s=0.5), n, deadline_s)


def test_bulk_write_tolerates_stale_conditional_upserts(db: Any) -> None:
    coll = db["cond"]
    coll.insert_one({"_id": 1, "modified_at": 10, "v": "new"})
    ops = [
        ReplaceOne({"_id": 1, "modified_at": {"$lte": 5}}, {"modified_at": 5, "v": "old"}, upsert=True),
        ReplaceOne({"_id": 2, "modified_at": {"$lte": 5}}, {"modified_at": 5, "v": "x"}, upsert=True),
    ]
    store.bulk_write(coll, ops, tolerate=frozenset({store.DUPLICATE_KEY}))
    assert coll.find_one({"_id": 1})["v"] == "new"
    assert coll.find_one({"_id": 2})["v"] == "x"


def test_filters_that_pin_id_still_match_every_other_field(db: Any) -> None:
    """The local launcher answers `{_id: ..., more}` from the _id index; the rest must still apply."""
    coll = db["pinned"]
    coll.insert_many([{"_id": i, "modified_at": i % 3, "tag": "even" if i % 2 == 0 else "odd"}
                      for i in range(12)])
    assert [d["_id"] for d in coll.find({"_id": 4, "modified_at": {"$lte": 1}})] == [4]
    assert list(coll.find({"_id": 5, "modified_at": {"$lte": 1}})) == []
    assert sorted(d["_id"] for d in coll.find({"_id": {"$in": [1, 2, 3, 4, 99]}, "tag": "even"})) == [2, 4]
    assert sorted(d["_id"] for d in coll.find({"_id": {"$gt": 8}, "tag": "odd"})) == [9, 11]
    assert [d["_id"] for d in coll.find({"_id": 6, "$or": [{"tag": "odd"}, {"modified_at": 0}]})] == [6]
    result = coll.replace_one({"_id": 7, "modified_at": {"$lte": 0}}, {"modified_at": 0, "tag": "x"})
    assert result.matched_count == 0 and coll.find_one({"_id": 7})["tag"] == "odd"
