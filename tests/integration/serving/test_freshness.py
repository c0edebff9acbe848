"""Freshness measured by serving agrees with the same edits measured from outside: the
end-to-end histogram counts every applied event, and each value is within 0.5 s of the time a
client saw the edit in an answer (publish -> HTTP), on the real pipeline."""

from __future__ import annotations

import time
from typing import Any

import httpx
import pytest

from playlist2vec.events import PlaylistEvent
from playlist2vec.producer import Producer
from tests.support.waiting import wait_until

pytestmark = pytest.mark.integration

EDITS = 5


def poll(predicate: Any, timeout_s: float, what: str) -> float:
    """Poll every 10 ms; the monotonic time at which `predicate` first held."""
    wait_until(predicate, timeout_s, what, interval_s=0.01)
    return time.monotonic()


def test_end_to_end_freshness_counts_every_event_and_matches_an_outside_clock(pipeline: Any) -> None:
    http = httpx.Client(base_url=pipeline.url, timeout=5)
    poll(lambda: http.get("/readyz").status_code == 200, 60, "the server")
    get = pipeline.serving.registry.get_sample_value

    def e2e(sample: str) -> float:
        return get(f"p2v_freshness_seconds_{sample}", {"stage": "end_to_end"}) or 0.0

    def listed(pid: int, near: int) -> bool:
        reply = http.get(f"/v1/playlists/{near}/similar", params={"k": 5})
        return reply.status_code == 200 and any(
            i["pid"] == pid and i["score"] > 0.999 for i in reply.json()["items"])

    # twins: playlist 2000+i holds the tracks edit i will give playlist 1000+i
    tracks = [tuple(pipeline.uris[3 * i:3 * i + 3]) for i in range(EDITS)]
    with Producer(pipeline.settings, {"linger.ms": 0}) as producer:
        for i, twin in enumerate(tracks):
            event = PlaylistEvent(pid=2000 + i, name="twin", tracks=twin, modified_at=1)
            producer.send(pipeline.settings.playlist_topic, key=event.key, value=event.to_json())
        producer.flush()
        poll(lambda: e2e("count") == EDITS, 60, "the twins")
        outside, inside = [], []
        for i, twin in enumerate(tracks):
            count, total = e2e("count"), e2e("sum")
            event = PlaylistEvent(pid=1000 + i, name="edit", tracks=twin, modified_at=1)
            published = time.monotonic()
            producer.send(pipeline.settings.playlist_topic, key=event.key, value=event.to_json())
            producer.flush()
            seen = poll(lambda i=i: listed(1000 + i, 2000 + i), 30, f"edit {i} served")
            poll(lambda count=count: e2e("count") == count + 1, 5, "the observation")
            outside.append(seen - published)
            inside.append(e2e("sum") - total)
    assert e2e("count") == 2 * EDITS, "every applied event observed, once"
    for out, ins in zip(outside, inside, strict=True):
        assert abs(out - ins) < 0.5, (outside, inside)
    # and the stages add up: Kafka -> MongoDB plus MongoDB -> servable is end to end
    stages = sum(get("p2v_freshness_seconds_sum", {"stage": s})
                 for s in ("kafka_to_mongo", "mongo_to_servable"))
    assert stages == pytest.approx(e2e("sum"), abs=0.01 * 2 * EDITS)
