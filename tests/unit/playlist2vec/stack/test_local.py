from __future__ import annotations

import base64
from pathlib import Path

from playlist2vec.settings import Settings
from playlist2vec.stack import local


def test_cluster_ids_are_kraft_uuids_that_never_look_like_options() -> None:
    ids = {local._random_cluster_id() for _ in range(2000)}  # ~30 would start with "-" unchecked
    assert len(ids) == 2000
    assert not any(i.startswith("-") for i in ids)
    assert all(len(base64.urlsafe_b64decode(i + "==")) == 16 for i in ids)


def test_kafka_properties_bind_loopback_on_the_configured_ports() -> None:
    settings = Settings.load({}, kafka_bootstrap="127.0.0.1:19092", kafka_controller_port=19093)
    props = dict(
        line.split("=", 1) for line in local.kafka_properties(settings, Path("/data")).splitlines() if line
    )
    assert props["listeners"] == "PLAINTEXT://127.0.0.1:19092,CONTROLLER://127.0.0.1:19093"
    assert props["controller.quorum.voters"] == "1@127.0.0.1:19093"
    assert props["log.dirs"] == "/data"
    assert props["auto.create.topics.enable"] == "false"
