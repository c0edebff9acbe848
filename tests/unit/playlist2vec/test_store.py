from __future__ import annotations

from typing import Any

import pytest
from pymongo.errors import AutoReconnect, BulkWriteError, NetworkTimeout, OperationFailure

from playlist2vec.errors import PipelineError
from playlist2vec.store import DUPLICATE_KEY, REREAD, bulk_write, change_key, change_state, transient


def test_change_key_reads_the_document_key() -> None:
    assert change_key({"fullDocument": {"_id": 3, "a": 1}, "documentKey": {"_id": 3}}) == 3
    assert change_key({"operationType": "delete", "documentKey": {"_id": {"m": "v", "t": "x"}}}) == {
        "m": "v",
        "t": "x",
    }


def test_change_key_of_an_event_about_no_document() -> None:
    assert change_key({"operationType": "drop", "ns": {"db": "d", "coll": "c"}}) is None


def test_change_state_is_the_carried_document_none_after_a_delete_else_a_reread() -> None:
    doc = {"_id": 3, "vector": b"v"}
    assert change_state({"operationType": "insert", "fullDocument": doc}) == doc
    assert change_state({"operationType": "replace", "fullDocument": doc}) == doc
    assert change_state({"operationType": "delete", "documentKey": {"_id": 3}}) is None
    assert change_state({"operationType": "update", "updateDescription": {}}) is REREAD
    assert change_state({"operationType": "replace"}) is REREAD, "a change without its document"


class FlakyCollection:
    """Stands in for a pymongo collection: fails the first `failures` bulk writes with `error`."""

    name = "flaky"

    def __init__(self, error: Exception, failures: int) -> None:
        self.error = error
        self.failures = failures
        self.calls = 0
        self.written: list[Any] = []

    def bulk_write(self, batch: list[Any], ordered: bool) -> None:
        self.calls += 1
        if self.calls <= self.failures:
            raise self.error
        self.written += batch


def test_transient_errors_are_the_network_and_election_ones() -> None:
    assert transient(AutoReconnect("connection reset"))
    assert transient(NetworkTimeout("timed out"))
    assert transient(OperationFailure("shutting down", code=91))
    assert transient(OperationFailure("x", code=1, details={"errorLabels": ["RetryableWriteError"]}))
    assert not transient(OperationFailure("duplicate", code=DUPLICATE_KEY))
    assert not transient(BulkWriteError({"writeErrors": [{"code": 2}]}))
    assert not transient(ValueError("not a server error"))


def test_bulk_write_sends_a_batch_again_after_a_transient_failure() -> None:
    coll = FlakyCollection(AutoReconnect("connection reset"), failures=1)
    assert bulk_write(coll, range(5), batch_size=3) == 5  # type: ignore[arg-type]
    assert coll.calls == 3 and coll.written == [0, 1, 2, 3, 4]


def test_bulk_write_gives_up_after_its_attempts() -> None:
    coll = FlakyCollection(AutoReconnect("down"), failures=10)
    with pytest.raises(PipelineError, match="bulk write to flaky failed: down"):
        bulk_write(coll, range(2), attempts=2)  # type: ignore[arg-type]
    assert coll.calls == 2


def test_bulk_write_does_not_repeat_a_permanent_failure() -> None:
    coll = FlakyCollection(OperationFailure("document too large", code=10334), failures=10)
    with pytest.raises(PipelineError, match="document too large"):
        bulk_write(coll, range(2))  # type: ignore[arg-type]
    assert coll.calls == 1
