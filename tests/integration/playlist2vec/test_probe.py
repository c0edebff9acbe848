"""The canary probe against the real pipeline: it measures served edits, fails when the
stream job is stopped, and its canaries never show up in answers about real playlists."""

from __future__ import annotations

import re
import signal
import threading
import time
from typing import Any

import httpx
import pytest
from prometheus_client import CollectorRegistry

from playlist2vec.cli import main
from playlist2vec.events import PlaylistEvent
from playlist2vec.probe import ANCHORS, Probe, ProbeMetrics, ProbeOptions, Round
from playlist2vec.producer import Producer
from tests.support.ports import free_port
from tests.support.waiting import wait_until

pytestmark = pytest.mark.integration


def wait_ready(url: str, timeout_s: float = 60.0) -> None:
    def ready() -> bool:
        try:
            return httpx.get(f"{url}/readyz").status_code == 200
        except httpx.HTTPError:
            return False

    wait_until(ready, timeout_s, "the server to be ready", interval_s=0.1)


def test_probe_reports_freshness_then_a_failure_when_the_stream_stops(
        pipeline: Any, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    wait_ready(pipeline.url)
    # a real playlist with exactly the canary's first track: the canary scores 1.0 against it
    real = [PlaylistEvent(pid=pid, name="real", tracks=tracks, modified_at=int(time.time()))
            for pid, tracks in ((7, (pipeline.uris[0],)), (8, tuple(pipeline.uris[5:9])))]
    with Producer(pipeline.settings) as producer:
        for event in real:
            producer.send(pipeline.settings.playlist_topic, key=event.key, value=event.to_json())
        producer.flush()
    metrics = ProbeMetrics(CollectorRegistry())
    options = ProbeOptions(api_url=pipeline.url, interval_s=1.0, timeout_s=30.0,
                           tracks=tuple(pipeline.uris[:ANCHORS]))
    probe = Probe(pipeline.settings, options, metrics)
    rounds: list[Round] = []
    probe.run(threading.Event(), rounds=4, report=rounds.append)
    assert [r.failure for r in rounds] == [None] * 4
    get = metrics.registry.get_sample_value
    assert get("p2v_probe_freshness_seconds_count") == 4
    assert all(0 < r.seconds < 30 for r in rounds if r.seconds is not None)
    assert get("p2v_probe_failures_total", {"reason": "timeout"}) == 0

    # canaries are served to canaries, never to a real playlist's question
    canary = httpx.get(f"{pipeline.url}/v1/playlists/{options.pid}/similar", params={"k": 10}).json()
    assert {i["pid"] for i in canary["items"]} & set(probe.anchors)
    real_answer = httpx.get(f"{pipeline.url}/v1/playlists/7/similar", params={"k": 1000}).json()
    assert [i["pid"] for i in real_answer["items"]] == [8], "the anchor at cosine 1.0 is left out"

    # the command: its own metrics endpoint, the active model's tracks, a line per round
    monkeypatch.setattr(signal, "signal", lambda *_: None)  # leave pytest's handlers alone
    for key, value in pipeline.settings.to_env().items():
        monkeypatch.setenv(key, value)
    metrics_addr = f"127.0.0.1:{free_port()}"
    command = ["probe", "--api-url", pipeline.url, "--interval", "1", "--metrics-addr", metrics_addr]
    capsys.readouterr()
    assert main([*command, "--rounds", "2"]) == 0
    assert len(re.findall(r"^round \d: served in [0-9.]+s$", capsys.readouterr().out, re.MULTILINE)) == 2
    scraped = httpx.get(f"http://{metrics_addr}/metrics").text
    assert "p2v_probe_freshness_seconds_count 2.0" in scraped

    pipeline.stop_stream()
    assert main(["probe", "--api-url", pipeline.url, "--timeout", "2", "--rounds", "1",
                 "--metrics-addr", f"127.0.0.1:{free_port()}"]) == 1
    captured = capsys.readouterr()
    assert "round 0: FAILED (timeout)" in captured.out
    assert "error: 1 of 1 canary rounds failed" in captured.err
    late = Probe(pipeline.settings, ProbeOptions(api_url=pipeline.url, interval_s=1.0,
                                                 timeout_s=3.0, tracks=options.tracks), metrics)
    late.run(threading.Event(), rounds=1, report=rounds.append)
    assert rounds[-1].failure == "timeout"
    assert get("p2v_probe_failures_total", {"reason": "timeout"}) == 1
    assert get("p2v_probe_freshness_seconds_count") == 4
