from __future__ import annotations

import json

import numpy as np
import pytest

from playlist2vec import chaos, events
from playlist2vec.errors import ConfigError, InvalidInput
from playlist2vec.settings import Settings
from playlist2vec.vectors import TrackIndex

POOL = [f"spotify:track:{i:022d}" for i in range(50)]


def plan(seed: int, n: int = 2_000, poison: float = 0.05) -> list[chaos.Record]:
    options = chaos.ChaosOptions(events=n, seed=seed, poison=poison)
    return list(chaos.event_plan(options, list(range(100)), POOL, now=1_800_000_000, max_bytes=1 << 20))


def test_the_plan_is_seeded() -> None:
    assert plan(3) == plan(3)
    assert plan(3) != plan(4)


def test_the_plan_mixes_poison_edits_and_deletions_in_the_asked_proportion() -> None:
    records = plan(5)
    tombstones = sum(1 for _, value in records if value is None)
    invalid = 0
    for key, value in records:
        try:
            events.parse_event(key, value, 1_800_000_000, now=1_800_000_000)
        except InvalidInput:
            invalid += 1
    assert 60 <= invalid <= 150  # 5% of 2000, give or take
    assert tombstones > 20


@pytest.mark.parametrize("kind", chaos.POISON)
def test_every_poison_record_is_rejected_by_the_contract(kind: str) -> None:
    key, value = chaos.poison_record(kind, 7, POOL[0], now=1_800_000_000, max_bytes=1 << 20)
    with pytest.raises(InvalidInput):
        events.parse_event(key, value, 1_800_000_000, now=1_800_000_000)


def oracle() -> chaos.Oracle:
    return chaos.Oracle(playlists={1: {"modified_at": 100, "deleted": False, "tracks": ["a"]}}, invalid=set())


def event(pid: int, modified_at: int, tracks: list[str]) -> bytes:
    return json.dumps({"pid": pid, "name": "n", "tracks": tracks, "modified_at": modified_at}).encode()


def test_the_oracle_keeps_the_newest_and_ignores_stale_events() -> None:
    o = oracle()
    o.apply(0, 0, b"1", event(1, 90, ["old"]), 1_000)
    assert o.playlists[1]["tracks"] == ["a"]
    o.apply(0, 1, b"1", event(1, 100, ["same-time"]), 1_000)
    o.apply(0, 2, b"2", event(2, 5, ["b"]), 1_000)
    assert o.playlists[1]["tracks"] == ["same-time"] and o.playlists[2]["tracks"] == ["b"]


def test_a_tombstone_deletes_whatever_the_clocks_say_and_is_not_undone_by_replays() -> None:
    o = oracle()
    o.apply(0, 0, b"1", None, 50)  # record timestamp older than the stored modified_at
    assert o.playlists[1] == {"modified_at": 100, "deleted": True, "tracks": []}
    o.apply(0, 1, b"1", event(1, 99, ["replayed"]), 1_000)
    assert o.playlists[1]["deleted"] is True
    o.apply(0, 2, b"1", event(1, 101, ["recreated"]), 1_000)
    assert o.playlists[1] == {"modified_at": 101, "deleted": False, "tracks": ["recreated"]}


def test_on_a_tie_a_deletion_wins() -> None:
    o = oracle()
    o.apply(0, 0, b"1", json.dumps({"pid": 1, "deleted": True, "modified_at": 100}).encode(), 1_000)
    o.apply(0, 1, b"1", event(1, 100, ["back"]), 1_000)
    assert o.playlists[1] == {"modified_at": 100, "deleted": True, "tracks": []}


def test_the_oracles_fold_in_counts_only_what_events_decided() -> None:
    o = chaos.Oracle(playlists={1: {"modified_at": 100, "deleted": False, "tracks": ["a", "new"]}},
                     invalid=set())  # a corpus playlist: never an event, never folded in
    o.apply(0, 0, b"2", event(2, 5, ["a", "new"]), 1_000)
    o.apply(0, 1, b"3", event(3, 5, ["new", "a"]), 1_000)
    o.apply(0, 2, b"3", None, 1_000)
    index = TrackIndex.of(["a"], np.ones((1, 2), np.float32))
    assert o.fold_in(index, 1).support("new") == 1


def test_the_oracle_records_where_invalid_records_are() -> None:
    o = oracle()
    o.apply(2, 17, b"1", b"{nope", 1_000)
    assert o.invalid == {(2, 17)} and o.playlists[1]["tracks"] == ["a"]


def test_chaos_targets_loopback_services_only() -> None:
    chaos.require_loopback(Settings.load({}))
    with pytest.raises(ConfigError, match="loopback"):
        chaos.require_loopback(Settings.load({"P2V_MONGO_URI": "mongodb://10.0.0.5:27017"}))
