"""`stack up`'s library side with the services' own start replaced: which stack comes up with
which settings, and which settings `stack up` tells the other commands to export."""

from __future__ import annotations

from pathlib import Path

import pytest

from playlist2vec.settings import Settings
from playlist2vec.stack import kafka, spark
from playlist2vec.stack.base import ServiceStatus
from playlist2vec.stack.local import LocalStack
from playlist2vec.stack.up import UpOptions, bring_up


@pytest.fixture
def started(monkeypatch: pytest.MonkeyPatch) -> list[LocalStack]:
    """The local stacks `bring_up` started (nothing really starts)."""
    stacks: list[LocalStack] = []

    def up(stack: LocalStack) -> list[ServiceStatus]:
        stacks.append(stack)
        return [ServiceStatus("mongo", "127.0.0.1:27017", True)]

    monkeypatch.setattr(LocalStack, "up", up)
    return stacks


def test_the_stack_as_configured_needs_no_export(tmp_path: Path, started: list[LocalStack]) -> None:
    settings = Settings.load({}, home=tmp_path)
    report = bring_up(settings, UpOptions.from_settings(settings))
    (stack,) = started
    assert stack.settings.kafka_bootstrap == settings.kafka_bootstrap and stack.spark_workers == 0
    assert report.exports == {} and report.logs_dir == settings.logs_dir
    assert [s.name for s in report.statuses] == ["mongo"]


def test_brokers_and_spark_workers_are_exported_for_the_other_commands(
        tmp_path: Path, started: list[LocalStack]) -> None:
    settings = Settings.load({"P2V_SPARK_MASTER": "local[2]"}, home=tmp_path)
    report = bring_up(settings, UpOptions.from_settings(settings, brokers=3, spark_workers=2))
    (stack,) = started
    bootstrap = kafka.cluster_bootstrap(settings.kafka_port, 3)
    assert stack.settings.kafka_bootstrap == bootstrap and stack.spark_workers == 2
    assert report.exports == {"P2V_KAFKA_BOOTSTRAP": bootstrap, "P2V_SPARK_MASTER": spark.DEFAULT_MASTER}
