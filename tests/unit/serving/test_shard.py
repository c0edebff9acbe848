"""Shard parsing and ownership."""

from __future__ import annotations

import pytest

from playlist2vec.errors import ConfigError
from serving.shard import Shard


def test_parse_and_ownership_partition_the_pids() -> None:
    shards = [Shard.parse(f"{i}/3") for i in range(3)]
    for pid in range(100):
        assert sum(shard.owns(pid) for shard in shards) == 1
    assert Shard.parse("1/3").owns(4)
    assert sum(Shard(0, 2).owns(f"id{i}") for i in range(200)) in range(60, 140)


@pytest.mark.parametrize("text", ["3/3", "1", "a/2", "-1/2", "1/0"])
def test_bad_shards_are_config_errors(text: str) -> None:
    with pytest.raises(ConfigError, match="--shard"):
        Shard.parse(text)
