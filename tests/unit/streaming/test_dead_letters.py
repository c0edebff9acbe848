"""Dead letters keep the original bytes and say why."""

from __future__ import annotations

from streaming.dead_letters import build_dead_letters


def test_original_bytes_and_reason_headers() -> None:
    [letter, tombstone] = build_dead_letters([
        {"key": b"7", "value": b"{bad", "reason": "bad JSON", "partition": 1, "offset": 42},
        {"key": b"x", "value": None, "reason": "tombstone without a decimal pid key", "partition": 0,
         "offset": 3},
    ], "playlists")
    assert (letter.key, letter.value) == (b"7", b"{bad")
    assert dict(letter.headers) == {"reason": b"bad JSON", "source": b"playlists/1/42"}
    assert tombstone.value is None and dict(tombstone.headers)["source"] == b"playlists/0/3"
