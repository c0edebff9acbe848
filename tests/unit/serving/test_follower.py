"""ChangeFollower's decisions, over plain objects standing in for pymongo's change streams:
when a stream ends it is reopened at the right point, for the right reason, with a reload
when documents may have vanished."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pytest
from prometheus_client import CollectorRegistry
from pymongo.errors import AutoReconnect, OperationFailure

from serving.follower import ChangeFollower
from serving.metrics import ServingMetrics


class Stream:
    def __init__(self, changes: list[Mapping[str, Any]], alive: bool = True,
                 fail: Exception | None = None) -> None:
        self.changes, self.alive, self.fail = list(changes), alive, fail
        self.resume_token: Any = None

    def try_next(self) -> Mapping[str, Any] | None:
        if self.fail is not None:
            raise self.fail
        if not self.changes:
            return None
        change = self.changes.pop(0)
        self.resume_token = change["_id"]
        return change

    def close(self) -> None:
        self.alive = False


class Collection:
    """Hands out the queued streams; `refuse` makes a watch with a token fail like the server."""

    def __init__(self, streams: list[Stream]) -> None:
        self.streams = streams
        self.watches: list[dict[str, Any]] = []
        self.refuse = False
        self.database = self

    def command(self, _: str) -> dict[str, Any]:
        return {}

    def watch(self, **options: Any) -> Stream:
        self.watches.append(options)
        if self.refuse and ("resume_after" in options or "start_after" in options):
            raise OperationFailure("history lost", code=286)
        return self.streams.pop(0)


class Source:
    def __init__(self, collection: Collection) -> None:
        self.db = {"pv": collection}

    def load_tokens(self, _: str) -> dict[str, Any]:
        return {"pv": {"_data": "stored"}}

    def save_token(self, *_: Any) -> None:
        pass


def change(n: int, op: str = "replace") -> dict[str, Any]:
    return {"_id": {"_data": f"t{n}"}, "operationType": op, "documentKey": {"_id": n}}


def follower(*streams: Stream) -> tuple[ChangeFollower, Collection, ServingMetrics]:
    collection = Collection(list(streams))
    metrics = ServingMetrics(CollectorRegistry())
    f = ChangeFollower(Source(collection), "pv", "test", metrics)  # type: ignore[arg-type]
    f.open()
    return f, collection, metrics


def reopens(metrics: ServingMetrics, reason: str) -> float:
    return metrics.registry.get_sample_value(
        "p2v_change_stream_reopens_total", {"collection": "pv", "reason": reason}) or 0.0


def test_a_stream_the_server_closed_is_reopened_after_its_last_change() -> None:
    f, collection, metrics = follower(Stream([change(1), change(2)], alive=False), Stream([]))
    assert [c["_id"] for c in f.poll(10, 0)] == [{"_data": "t1"}, {"_data": "t2"}]
    assert collection.watches[-1]["resume_after"] == {"_data": "t2"}
    assert reopens(metrics, "closed") == 1 and not f.reset


def test_an_invalidated_stream_is_reopened_past_the_invalidate_with_a_reload() -> None:
    ended = Stream([change(1), change(2, "drop"), change(3, "invalidate")], alive=False)
    f, collection, metrics = follower(ended, Stream([]))
    assert [c["operationType"] for c in f.poll(10, 0)] == ["replace"]
    assert collection.watches[-1]["start_after"] == {"_data": "t3"}
    assert reopens(metrics, "invalidated") == 1 and f.reset


def test_a_failed_poll_reopens_and_an_unreachable_server_is_retried_next_poll() -> None:
    first, second = Stream([change(1)]), Stream([])
    f, collection, metrics = follower(first, second, Stream([change(2)]))
    f.poll(10, 0)
    first.fail = AutoReconnect("connection reset")
    assert f.poll(10, 0) == []
    assert collection.watches[-1]["resume_after"] == {"_data": "t1"}
    assert reopens(metrics, "error") == 1

    second.fail = AutoReconnect("connection reset")  # fails again, and the server is away
    collection.watch = lambda **_: (_ for _ in ()).throw(AutoReconnect("refused"))  # type: ignore[method-assign]
    with pytest.raises(AutoReconnect):
        f.poll(10, 0)
    del collection.watch  # the server is back
    assert f.poll(10, 0)[0]["_id"] == {"_data": "t2"}
    assert reopens(metrics, "error") == 2 and not f.reset


def test_a_token_the_server_refuses_means_a_fresh_stream_and_a_reload() -> None:
    f, collection, metrics = follower(Stream([change(1)], alive=False), Stream([]), Stream([]))
    collection.refuse = True
    f.poll(10, 0)
    assert not {"resume_after", "start_after"} & set(collection.watches[-1]) and f.reset
    assert reopens(metrics, "closed") == 1
