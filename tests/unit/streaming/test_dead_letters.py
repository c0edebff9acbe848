"""Dead letters keep the original bytes (capped, with size and hash beyond the cap) and say why."""

from __future__ import annotations

import hashlib

from streaming.dead_letters import KEY_CAP, MAX_MESSAGE_BYTES, VALUE_CAP, dead_letter


def test_original_bytes_and_reason_headers() -> None:
    letter = dead_letter(b"7", b"{bad", "bad JSON", "playlists", 1, 42)
    assert (letter.key, letter.value) == (b"7", b"{bad")
    assert dict(letter.headers) == {"reason": b"bad JSON", "source": b"playlists/1/42"}
    tombstone = dead_letter(b"x", None, "tombstone without a decimal pid key", "playlists", 0, 3)
    assert tombstone.value is None and dict(tombstone.headers)["source"] == b"playlists/0/3"


def test_over_the_cap_a_letter_keeps_a_prefix_its_size_and_hash() -> None:
    value, key = b"v" * (3 * VALUE_CAP), b"9" * (KEY_CAP + 1)
    letter = dead_letter(key, value, "too_large", "playlists", 0, 1)
    headers = dict(letter.headers)
    assert letter.value == value[:VALUE_CAP] and letter.key == key[:KEY_CAP]
    assert headers["size"] == str(len(value)).encode()
    assert headers["sha256"] == hashlib.sha256(value).hexdigest().encode()
    assert headers["key_size"] == str(len(key)).encode()
    size = len(letter.key or b"") + len(letter.value or b"") + sum(len(k) + len(v) for k, v in letter.headers)
    assert size < MAX_MESSAGE_BYTES - 4096


def test_a_reason_quoting_a_lone_surrogate_still_encodes() -> None:
    assert dict(dead_letter(b"1", b"{}", "bad: \ud800", "t", 0, 0).headers)["reason"] == b"bad: \\ud800"
