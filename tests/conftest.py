"""Shared fixtures: a private local stack for the session, one SparkSession, clean databases.

The stack runs on free ports under a temporary P2V_HOME, so tests never collide with a
`playlist2vec stack up` of the developer's; the JVM jars are resolved once into the repo's
`.p2v/jars` and shared. The SparkSession needs only the jars: a test that asks for `spark`
alone starts no Kafka and no MongoDB.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from playlist2vec import store
from playlist2vec.settings import Settings
from playlist2vec.stack import LocalStack, jars
from tests.support.ports import free_port

REPO = Path(__file__).resolve().parents[1]


def private_settings(home: Path, **extra: Any) -> Settings:
    """Settings for a private stack under `home`, sharing the resolved jars."""
    shared_jars = jars.ensure_jars(Settings.load({}, home=REPO / ".p2v"))
    home.mkdir(parents=True, exist_ok=True)
    if not (home / "jars").exists():
        (home / "jars").symlink_to(shared_jars, target_is_directory=True)
    values = {
        "home": home,
        "kafka_bootstrap": f"127.0.0.1:{free_port()}",
        "kafka_controller_port": free_port(),
        "mongo_uri": f"mongodb://127.0.0.1:{free_port()}",
        "mongo_db": "p2v_test",
        "spark_master": "local[2]",
        "http_addr": f"127.0.0.1:{free_port()}",
        "stream_metrics_addr": f"127.0.0.1:{free_port()}",
        "spark_driver_memory": "2g",
    }
    values.update(extra)
    return Settings.load({}, **values)


@pytest.fixture(scope="session")
def home_settings(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    """The session's private settings (free ports, shared jars); starts nothing."""
    return private_settings(tmp_path_factory.mktemp("p2v-home"))


@pytest.fixture(scope="session")
def stack_settings(home_settings: Settings) -> Iterator[Settings]:
    """Settings of a running private stack (Kafka + MongoDB-wire server), stopped at the end."""
    settings = home_settings
    local = LocalStack(settings)
    try:
        local.up()
        yield settings
    finally:
        local.down()


@pytest.fixture
def settings(stack_settings: Settings) -> Settings:
    """The stack's settings with a fresh database and fresh topic names for this test."""
    suffix = uuid.uuid4().hex[:8]
    return stack_settings.model_copy(
        update={
            "mongo_db": f"p2v_{suffix}",
            "playlist_topic": f"playlists_{suffix}",
            "dlq_topic": f"playlists_{suffix}.dlq",
        }
    )


@pytest.fixture
def db(settings: Settings) -> Iterator[Any]:
    with store.opened(settings) as database:
        store.ensure_indexes(database)
        yield database
        database.client.drop_database(database.name)


@pytest.fixture(scope="session")
def spark(home_settings: Settings) -> Iterator[Any]:
    """The one SparkSession of the test session (local[2], Kafka connector on the classpath).

    It needs no service: tests that also need Kafka or MongoDB ask for `settings` or `db`."""
    from playlist2vec import spark as spark_factory

    session = spark_factory.session(home_settings, "p2v-tests")
    yield session
    session.stop()
