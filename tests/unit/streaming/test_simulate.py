"""The simulated event stream: valid events per the contract, malformed ones as asked, a known end state."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest

from playlist2vec.errors import InvalidInput
from playlist2vec.events import parse_event
from streaming.simulate import Simulator, read_slices


def mpd_playlists(n: int) -> list[dict]:
    return [{"pid": pid, "name": f"list {pid}", "collaborative": "false", "modified_at": 1_500_000_000,
             "num_followers": 1,
             "tracks": [{"pos": i, "track_uri": f"spotify:track:{pid:04d}{i:018d}", "track_name": f"t{i}",
                         "artist_name": "a", "duration_ms": 1000} for i in range(5)]} for pid in range(n)]


def replay(events: list, clock: float) -> dict:
    """The state a consumer following the contract ends in (newest modified_at per pid)."""
    state: dict = {}
    for e in events:
        try:
            parsed = parse_event(e.key, e.value, int(clock))
        except InvalidInput:
            continue
        if parsed.pid not in state or state[parsed.pid][0] <= parsed.modified_at:
            state[parsed.pid] = (parsed.modified_at, None if parsed.deleted else
                                 {"name": parsed.name, "tracks": list(parsed.tracks),
                                  "modified_at": parsed.modified_at})
    return {pid: s for pid, (_, s) in state.items()}


def test_events_follow_the_contract_and_lead_to_the_expected_state() -> None:
    clock = 1_700_000_000.0
    sim = Simulator(mpd_playlists(20), random.Random(1), n_edits=60, n_deletes=5, clock=lambda: clock)
    events = list(sim)
    kinds = {e.kind for e in events}
    assert {"create", "delete"} <= kinds and kinds & {"add", "remove", "move", "rename"}
    assert sum(e.kind == "create" for e in events) == 20 and sum(e.kind == "delete" for e in events) == 5
    for e in events:
        parse_event(e.key, e.value, int(clock))  # every one is valid
    assert replay(events, clock) == sim.expected()
    first = json.loads(events[0].value)
    assert first["collaborative"] is False and first["track_meta"][0]["track_name"] == "t0"


def test_invalid_fraction_mixes_in_only_rejected_events() -> None:
    sim = Simulator(mpd_playlists(50), random.Random(2), n_edits=150, n_deletes=0, invalid=0.2)
    events = list(sim)
    bad = [e for e in events if e.kind.startswith("invalid:")]
    assert 0.12 < len(bad) / len(events) < 0.28
    for e in bad:
        with pytest.raises(InvalidInput):
            parse_event(e.key, e.value, 0)


def test_read_slices(tmp_path: Path) -> None:
    (tmp_path / "mpd.slice.0-1.json").write_text(json.dumps({"info": {}, "playlists": mpd_playlists(2)}))
    (tmp_path / "mpd.slice.2-3.json").write_text(json.dumps({"info": {}, "playlists": mpd_playlists(3)[2:]}))
    assert [p["pid"] for p in read_slices(tmp_path)] == [0, 1, 2]
    with pytest.raises(InvalidInput):
        list(read_slices(tmp_path / "missing.json"))
    (tmp_path / "bad.json").write_text("[]")
    with pytest.raises(InvalidInput):
        list(read_slices(tmp_path / "bad.json"))
