"""The event contract: each rule and its reason, and totality (any bytes: an event or InvalidInput)."""

from __future__ import annotations

import json
import time
from typing import Any
from unittest import mock

import pytest
from hypothesis import given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from playlist2vec import events
from playlist2vec.errors import InvalidInput
from playlist2vec.events import (
    BAD_ENCODING,
    BAD_JSON,
    BAD_TOMBSTONE,
    BAD_TRACK_META,
    FUTURE_TIMESTAMP,
    INT64,
    MAX_CLOCK_SKEW_S,
    MAX_TRACKS,
    TOO_LARGE,
    TRACK_META_FIELDS,
    PlaylistEvent,
    parse_event,
)

TRACK = "spotify:track:" + "a" * 22


def body(**fields: object) -> bytes:
    base: dict[str, object] = {"pid": 7, "name": "chill", "tracks": [TRACK], "modified_at": 100}
    base.update(fields)
    return json.dumps(base).encode()


def test_valid_snapshot_round_trips() -> None:
    event = parse_event(
        b"7",
        body(
            collaborative=True,
            num_followers=3,
            track_meta=[{"track_uri": TRACK, "track_name": "x", "junk": 1}],
        ),
        0,
    )
    assert event == parse_event(event.key, event.to_json(), 0)
    assert event.tracks == (TRACK,) and event.collaborative is True
    assert event.track_meta == ({"track_uri": TRACK, "track_name": "x"},)


def test_deletes() -> None:
    explicit = parse_event(b"7", json.dumps({"pid": 7, "deleted": True, "modified_at": 5}).encode(), 0)
    assert explicit == PlaylistEvent(pid=7, modified_at=5, deleted=True)
    tombstone = parse_event(b"7", None, 1234)
    assert tombstone == PlaylistEvent(pid=7, modified_at=1234, deleted=True, tombstone=True)


@pytest.mark.parametrize(
    ("key", "value", "reason"),
    [
        (b"7", b"{not json", "bad JSON"),
        (b"7", b"[1, 2]", "not a JSON object"),
        (b"7", body(pid="7"), "pid"),
        (b"-1", body(pid=-1), "negative"),
        (b"8", body(), "key does not match"),
        (b"7", body(modified_at=None), "modified_at"),
        (b"7", body(tracks="x"), "tracks"),
        (b"7", body(tracks=[TRACK] * (MAX_TRACKS + 1)), "more than 10000"),
        (b"7", body(tracks=[1]), "a track is not a string"),
        (b"7", body(tracks=["x" * 257]), "a track is not a string"),
        (b"7", body(name=3), "name"),
        (b"7", body(name="x" * 1001), "name missing or not a string of at most 1000"),
        (b"7", body(collaborative="false"), "collaborative"),
        (None, None, "tombstone"),
        (b"abc", None, "tombstone"),
        (b"9223372036854775808", None, "tombstone"),
        (b"9223372036854775808", body(pid=2**63), "pid missing or not an integer"),
        (b"7", body(modified_at=-(2**63) - 1), "modified_at"),
        (b"7", body(num_followers=2**64), "num_followers"),
    ],
)
def test_contract_violations_say_why(key: bytes | None, value: bytes | None, reason: str) -> None:
    with pytest.raises(InvalidInput, match=reason):
        parse_event(key, value, 0)


def test_booleans_are_not_integers() -> None:
    with pytest.raises(InvalidInput, match="pid"):
        parse_event(None, body(pid=True), 0)


# -- totality: poison events give InvalidInput with a reason, never another exception ----------

NOW = 1_700_000_000


def reason_of(key: bytes | None, value: bytes | None, **options: Any) -> str:
    with pytest.raises(InvalidInput) as caught:
        parse_event(key, value, 0, **{"now": NOW, **options})
    return str(caught.value)


@pytest.mark.parametrize("fields", [
    {"name": "\ud800"},
    {"tracks": [TRACK, "\udfff"]},
    {"tracks": ["\ud83d", "\ude00"]},  # a pair split over two strings is two lone halves
    {"track_meta": [{"track_uri": TRACK, "album_name": "x\ud800"}]},
])
def test_lone_surrogates_are_bad_encoding(fields: dict[str, object]) -> None:
    assert reason_of(b"7", body(**fields)).startswith(BAD_ENCODING)


def test_an_escaped_surrogate_pair_is_one_valid_character() -> None:
    event = parse_event(b"7", body(name="\U0001f600"), 0)
    assert event.name == "\U0001f600"


def test_surrogates_in_ignored_keys_are_harmless() -> None:
    event = parse_event(b"7", body(**{"\ud800": "\udc00"},
                                   track_meta=[{"track_uri": TRACK, "\ud800": "\udc00"}]), 0)
    assert event.track_meta == ({"track_uri": TRACK},)


def test_non_utf8_is_bad_encoding() -> None:
    assert reason_of(b"7", b'{"pid": 7, "name": "\xff"}').startswith(BAD_ENCODING)
    # json.loads(bytes) would sniff UTF-16; the contract says UTF-8
    assert reason_of(b"7", body().decode().encode("utf-16")).startswith(BAD_ENCODING)


@pytest.mark.parametrize("value", [
    b"[" * 100_000 + b"]" * 100_000,
    b'{"pid": 7, "x": ' + b'{"a": ' * 100_000 + b"1" + b"}" * 100_001,
])
def test_deep_nesting_is_bad_json(value: bytes) -> None:
    assert reason_of(b"7", value, max_bytes=10**7).startswith(BAD_JSON)


def test_huge_numbers_are_bad_json_or_bad_key() -> None:
    digits = b"9" * 5000
    assert reason_of(b"7", b'{"pid": ' + digits + b"}").startswith(BAD_JSON)
    assert reason_of(b"7", body()[:-1] + b', "num_followers": ' + digits + b"}").startswith(BAD_JSON)
    assert reason_of(digits, None) == BAD_TOMBSTONE


@pytest.mark.parametrize("literal", [b"NaN", b"Infinity", b"-Infinity"])
def test_nan_and_infinity_literals_are_bad_json(literal: bytes) -> None:
    assert reason_of(b"7", body()[:-1] + b', "num_followers": ' + literal + b"}").startswith(BAD_JSON)


def test_track_meta_fields_must_be_strings_and_an_integer_duration() -> None:
    for entry in ({"track_uri": TRACK, "track_name": {"a": [1]}}, {"track_uri": 3},
                  {"track_uri": TRACK, "duration_ms": 1.5}, {"duration_ms": 2**64}):
        assert reason_of(b"7", body(track_meta=[entry])) == BAD_TRACK_META
    ok = parse_event(b"7", body(track_meta=[{"track_uri": TRACK, "duration_ms": 1, "track_name": None}]), 0)
    assert ok.track_meta == ({"track_uri": TRACK, "duration_ms": 1, "track_name": None},)


def test_the_byte_cap_counts_key_and_value() -> None:
    value = body(name="x" * 1000)
    parse_event(b"7", value, 0, max_bytes=len(value) + 1)
    assert reason_of(b"7", value, max_bytes=len(value)).startswith(TOO_LARGE)
    assert reason_of(b"7" * 2000, None, max_bytes=1000).startswith(TOO_LARGE)
    huge = body(tracks=["spotify:track:" + "a" * 200] * MAX_TRACKS)  # ~2.2 MB, otherwise valid
    assert reason_of(b"7", huge).startswith(TOO_LARGE)
    assert len(parse_event(b"7", huge, 0, max_bytes=len(huge) + 1).tracks) == MAX_TRACKS


def test_modified_at_beyond_the_allowed_skew_is_rejected() -> None:
    assert parse_event(b"7", body(modified_at=NOW + 300), 0, now=NOW).modified_at == NOW + 300
    assert reason_of(b"7", body(modified_at=NOW + 301)).startswith(FUTURE_TIMESTAMP)
    assert reason_of(b"7", body(modified_at=NOW + 11), max_skew_s=10).startswith(FUTURE_TIMESTAMP)
    deletion = json.dumps({"pid": 7, "deleted": True, "modified_at": 2**62}).encode()
    assert reason_of(b"7", deletion).startswith(FUTURE_TIMESTAMP)


def test_the_skew_defaults_to_the_wall_clock() -> None:
    parse_event(b"7", body(modified_at=int(time.time())), 0)
    with pytest.raises(InvalidInput, match=FUTURE_TIMESTAMP):
        parse_event(b"7", body(modified_at=int(time.time()) + 3600), 0)


def test_a_tombstone_is_told_from_an_explicit_delete_and_never_rejected_for_its_clock() -> None:
    tombstone = parse_event(b"7", None, NOW + 10**6, now=NOW)
    assert tombstone.tombstone and tombstone.deleted
    assert tombstone.modified_at == NOW + MAX_CLOCK_SKEW_S  # capped: cannot outlive later edits
    explicit = parse_event(b"7", json.dumps({"pid": 7, "deleted": True, "modified_at": 5}).encode(), 0)
    assert explicit.deleted and not explicit.tombstone


@pytest.mark.parametrize("key", [b"007", b"+7", b" 7", b"", "\u0663".encode()])
def test_tombstone_keys_are_canonical_decimals(key: bytes) -> None:
    assert reason_of(key, None) == BAD_TOMBSTONE


def json_values(text: st.SearchStrategy[str]) -> st.SearchStrategy[Any]:
    scalars = (st.none() | st.booleans() | st.integers() | st.integers(min_value=-(2**70), max_value=2**70)
               | st.floats(allow_nan=False, allow_infinity=False) | text)
    return st.recursive(scalars, lambda inner: st.lists(inner, max_size=4)
                        | st.dictionaries(text, inner, max_size=4), max_leaves=12)


# text that may hold lone surrogates, as a JSON `\udXXX` escape produces them (Hypothesis leaves
# them out of text unless asked, and a `characters() | characters(categories=["Cs"])` alphabet
# in st.text never draws them)
ANY_TEXT = st.text(max_size=12) | st.lists(st.characters() | st.characters(categories=["Cs"]),
                                           min_size=1, max_size=12).map("".join)
FIELDS = st.sampled_from(["pid", "modified_at", "name", "tracks", "deleted", "collaborative",
                          "num_followers", "track_meta"])
ANY_JSON = json_values(ANY_TEXT)
TRACK_META_ENTRY = st.dictionaries(st.sampled_from(TRACK_META_FIELDS) | ANY_TEXT, ANY_TEXT | ANY_JSON,
                                   max_size=4)
FIELD_VALUES = (ANY_TEXT | st.lists(ANY_TEXT, max_size=3) | st.lists(TRACK_META_ENTRY, max_size=3)
                | ANY_JSON)


@st.composite
def mutated_events(draw: st.DrawFn) -> tuple[bytes | None, bytes]:
    """A valid event with some fields replaced by arbitrary JSON: reaches every rule."""
    fields: dict[str, Any] = {"pid": 7, "name": "n", "tracks": [TRACK], "modified_at": 100,
                              "track_meta": [{"track_uri": TRACK, "duration_ms": 1}]}
    for name in draw(st.lists(FIELDS, max_size=3)):
        fields[name] = draw(FIELD_VALUES)
    for name in draw(st.lists(st.sampled_from(TRACK_META_FIELDS), max_size=2)):
        fields["track_meta"] = [{"track_uri": TRACK, name: draw(ANY_TEXT | ANY_JSON)}]
    key = draw(st.sampled_from([b"7", None, str(fields.get("pid")).encode(errors="surrogatepass")]))
    return key, json.dumps(fields).encode()


def check_total(key: bytes | None, value: bytes | None, timestamp_s: int = 0) -> None:
    try:
        event = parse_event(key, value, timestamp_s, now=NOW)
    except InvalidInput as exc:
        assert str(exc), "every rejection names its reason"
        return
    # what passes is storable: UTF-8 text, 64-bit integers, a value that re-parses the same
    json.dumps([event.name, event.tracks, event.track_meta], ensure_ascii=False).encode()
    assert all(n in INT64 for n in (event.pid, event.modified_at, event.num_followers or 0))
    if not event.tombstone:
        assert parse_event(event.key, event.to_json(), 0, now=NOW) == event


@st.composite
def poison(draw: st.DrawFn) -> bytes:
    """Structures random bytes almost never hit: deep nesting, huge numbers, NaN, non-UTF-8."""
    depth = draw(st.integers(min_value=1, max_value=200_000))
    nested = draw(st.sampled_from([b"[" * depth, b'{"a":' * depth, b'{"pid": 7, "x": ' + b"[" * depth]))
    number = b"9" * draw(st.integers(min_value=1, max_value=10_000))
    inner = draw(st.sampled_from([nested, number, b"NaN", b"-Infinity", b"1e999", b'"\\ud800"',
                                  b"\xff\xfe", b'"\xed\xa0\x80"']))
    field = draw(st.sampled_from(["pid", "modified_at", "name", "tracks", "num_followers"]))
    event = body()
    return draw(st.sampled_from([inner, event[:-1] + b', "%s": ' % field.encode() + inner + b"}",
                                 event.replace(b'"chill"', inner)]))


@given(key=st.none() | st.binary(max_size=40)
       | st.integers(min_value=4000, max_value=6000).map(lambda n: b"9" * n),
       value=st.none() | st.binary(max_size=200) | poison(),
       timestamp_s=st.integers(min_value=0, max_value=2**40))
@hypothesis_settings(max_examples=300, deadline=None)
def test_any_bytes_give_an_event_or_invalid_input(key: bytes | None, value: bytes | None,
                                                  timestamp_s: int) -> None:
    check_total(key, value, timestamp_s)


@given(key=st.none() | st.sampled_from([b"7", b"0", b"x"]), body=ANY_JSON)
@hypothesis_settings(max_examples=300, deadline=None)
def test_any_json_gives_an_event_or_invalid_input(key: bytes | None, body: Any) -> None:
    check_total(key, json.dumps(body).encode())


@given(event=mutated_events())
@hypothesis_settings(max_examples=300, deadline=None)
def test_any_event_like_json_gives_an_event_or_invalid_input(event: tuple[bytes | None, bytes]) -> None:
    check_total(*event)


def outcome(parse: Any, *args: Any, **kwargs: Any) -> PlaylistEvent | str:
    try:
        return parse(*args, **kwargs)  # type: ignore[no-any-return]
    except InvalidInput as exc:
        return str(exc)


INTS = st.integers(min_value=0, max_value=10**9) | st.integers(min_value=-(2**64), max_value=2**64)
CONTRACT_LIKE = st.fixed_dictionaries(
    {"pid": INTS, "modified_at": INTS, "name": ANY_TEXT, "tracks": st.lists(ANY_TEXT, max_size=3)},
    optional={"deleted": st.none() | st.booleans(), "collaborative": st.none() | st.booleans() | INTS,
              "num_followers": st.none() | INTS, "track_meta": st.none() | st.lists(st.fixed_dictionaries(
                  {}, optional={f: st.none() | ANY_TEXT | INTS for f in TRACK_META_FIELDS}), max_size=3)})


@st.composite
def contract_like_events(draw: st.DrawFn) -> tuple[bytes | None, bytes]:
    """Bodies of the contract's shape with values of right and wrong types and ranges."""
    fields = draw(CONTRACT_LIKE)
    key = draw(st.sampled_from([None, b"7", str(fields["pid"]).encode()]))
    return key, json.dumps(fields).encode()


class FellBack(Exception):
    """parse_event handed the event to the general path."""


def typed_outcome(key: bytes | None, value: bytes) -> PlaylistEvent | str | None:
    """What parse_event's typed path decides alone (an event or a rejection), or None when it
    hands the event to the general path (comparing that with the general path would compare
    the general path with itself)."""
    def general(*_: Any) -> PlaylistEvent:
        raise FellBack

    with mock.patch.object(events, "_parse_general", general):
        try:
            return outcome(parse_event, key, value, 0, now=NOW)
        except FellBack:
            return None


def general_outcome(key: bytes | None, value: bytes) -> PlaylistEvent | str:
    return outcome(events._parse_general, key, value, NOW + MAX_CLOCK_SKEW_S, MAX_CLOCK_SKEW_S)


@given(event=mutated_events() | contract_like_events())
@hypothesis_settings(max_examples=500, deadline=None)
def test_the_typed_path_agrees_with_the_general_one(event: tuple[bytes | None, bytes]) -> None:
    key, value = event
    typed = typed_outcome(key, value)
    if typed is not None:
        assert typed == general_outcome(key, value)


@pytest.mark.parametrize("body", [
    {"pid": 7, "name": "n", "tracks": [TRACK], "modified_at": 100},
    {"pid": 7, "name": "n", "tracks": [TRACK], "modified_at": 100, "collaborative": True,
     "num_followers": 3, "track_meta": [{"track_uri": TRACK, "duration_ms": 1}]},
    {"pid": 7, "name": "n", "tracks": [], "modified_at": 100, "deleted": True},
    {"pid": 8, "name": "n", "tracks": [], "modified_at": 100},  # the key says 7
    {"pid": 7, "name": "n", "tracks": [], "modified_at": int(NOW + MAX_CLOCK_SKEW_S) + 1},
])
def test_the_typed_path_decides_well_typed_events_itself(body: dict[str, Any]) -> None:
    key, value = b"7", json.dumps(body).encode()
    typed = typed_outcome(key, value)
    assert typed is not None, "a well-typed event never needs the general path"
    assert typed == general_outcome(key, value)


@pytest.mark.parametrize("body", [
    {"pid": "7", "name": "n", "tracks": [], "modified_at": 100},
    {"pid": 7, "name": 5, "tracks": [], "modified_at": 100},
    {"pid": 7, "name": "n", "tracks": "x", "modified_at": 100},
])
def test_the_typed_path_hands_wrong_types_to_the_general_one(body: dict[str, Any]) -> None:
    value = json.dumps(body).encode()
    assert typed_outcome(b"7", value) is None
    assert isinstance(general_outcome(b"7", value), str)
