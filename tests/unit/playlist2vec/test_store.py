from __future__ import annotations

from typing import Any

import pytest
from pymongo.errors import AutoReconnect, BulkWriteError, NetworkTimeout, OperationFailure

from playlist2vec.errors import PipelineError
from playlist2vec.store import DUPLICATE_KEY, bulk_write, change_key, transient


def test_change_key_prefers_full_document() -> None:
    assert change_key({"fullDocument": {"_id": 3}, "documentKey": {"_id": 4}}) == 3


def test_change_key_reads_document_key_of_replace_on_local_server() -> None:
    # mongo-java-server reports a replace as an update whose documentKey is the replacement
    assert change_key({"fullDocument": {}, "documentKey": {"_id": 1, "a": 3}}) == 1


def test_change_key_of_delete_and_of_unknowable_update() -> None:
    assert change_key({"fullDocument": None, "documentKey": {"_id": {"m": "v", "t": "x"}}}) == {
        "m": "v",
        "t": "x",
    }
    assert change_key({"fullDocument": {"a": 2}, "documentKey": {"$set": {"a": 2}}}) is None


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
