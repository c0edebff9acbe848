from __future__ import annotations

from pathlib import Path

import pytest

from playlist2vec.errors import ConfigError
from playlist2vec.settings import Settings, split_addr


def test_defaults_match_the_architecture_contract() -> None:
    s = Settings.load({})
    assert s.home == Path("./.p2v")
    assert s.kafka_bootstrap == "127.0.0.1:9092"
    assert (s.playlist_topic, s.dlq_topic) == ("playlists", "playlists.dlq")
    assert s.mongo_uri.get_secret_value() == "mongodb://127.0.0.1:27017"
    assert (s.mongo_db, s.spark_master, s.http_addr) == ("playlist2vec", "local[*]", "127.0.0.1:8000")


def test_environment_is_read_and_overrides_win() -> None:
    env = {"P2V_MONGO_DB": "from_env", "P2V_SPARK_MASTER": "local[2]", "OTHER": "x"}
    s = Settings.load(env, spark_master="spark://m:7077", mongo_db=None)
    assert s.mongo_db == "from_env"
    assert s.spark_master == "spark://m:7077"


def test_bad_value_names_the_variable() -> None:
    with pytest.raises(ConfigError, match="P2V_HTTP_ADDR"):
        Settings.load({"P2V_HTTP_ADDR": "nowhere"})
    with pytest.raises(ConfigError, match="P2V_MONGO_URI"):
        Settings.load({"P2V_MONGO_URI": "postgres://x"})
    with pytest.raises(ConfigError, match="P2V_STACK"):
        Settings.load({"P2V_STACK": "docker"})


def test_secrets_stay_out_of_repr() -> None:
    s = Settings.load({"P2V_MONGO_URI": "mongodb://user:hunter2@db:27017", "P2V_ADMIN_TOKEN": "t0ken"})
    assert "hunter2" not in repr(s) and "t0ken" not in repr(s)
    assert s.mongo_port == 27017


def test_derived_values() -> None:
    s = Settings.load({"P2V_HOME": "/tmp/x", "P2V_KAFKA_BOOTSTRAP": "127.0.0.1:19092,127.0.0.1:19093"})
    assert s.kafka_port == 19092
    assert s.indexes_dir == Path("/tmp/x/indexes")
    assert s.vector_subtype == 0
    assert Settings.load({"P2V_STACK": "external"}).vector_subtype == 9


@pytest.mark.parametrize("addr", ["host", ":80", "h:0", "h:99999", "h:x"])
def test_split_addr_rejects(addr: str) -> None:
    with pytest.raises(ValueError):
        split_addr(addr)


def test_split_addr_accepts_ipv6() -> None:
    assert split_addr("[::1]:8000") == ("::1", 8000)


def test_to_env_round_trips() -> None:
    s = Settings.load({"P2V_MONGO_URI": "mongodb://u:p@h:1", "P2V_ADMIN_TOKEN": "tok", "P2V_HOME": "/x"})
    env = s.to_env()
    assert env["P2V_MONGO_URI"] == "mongodb://u:p@h:1" and env["P2V_ADMIN_TOKEN"] == "tok"
    assert Settings.load(env) == s


def test_command_line_flags_are_validated_and_named_like_flags() -> None:
    s = Settings.load({})
    assert s.with_flags(http_addr=None) is s
    moved = s.with_flags(http_addr="0.0.0.0:9000", spark_master=None)
    assert (moved.http_addr, moved.spark_master) == ("0.0.0.0:9000", s.spark_master)
    assert moved.mongo_uri == s.mongo_uri  # secrets survive the copy
    with pytest.raises(ConfigError, match=r"^--http-addr: "):
        s.with_flags(http_addr="nowhere")
    with pytest.raises(ConfigError, match=r"^--stream-metrics-addr: "):
        s.with_flags(stream_metrics_addr="host:port")
