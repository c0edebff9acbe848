"""The probe's options, metrics and command line, with no services behind them (the rounds
themselves run against the real pipeline in tests/integration/playlist2vec/test_probe.py)."""

from __future__ import annotations

import pytest
from prometheus_client import CollectorRegistry

from playlist2vec.cli import main
from playlist2vec.errors import InvalidInput
from playlist2vec.events import CANARY_PIDS, is_canary
from playlist2vec.probe import ANCHORS, ProbeMetrics, ProbeOptions


def test_the_canary_range_is_reserved_at_the_top_of_the_pid_space() -> None:
    assert is_canary(CANARY_PIDS.start) and is_canary(2**63 - 1)
    assert not is_canary(CANARY_PIDS.start - 1) and not is_canary(999_999) and not is_canary("9" * 19)


@pytest.mark.parametrize("pid", [0, CANARY_PIDS.start - 1, 2**63 - ANCHORS])
def test_the_canary_and_its_anchors_must_be_in_the_range(pid: int) -> None:
    with pytest.raises(InvalidInput, match="canary range"):
        ProbeOptions(api_url="http://x", pid=pid)
    assert ProbeOptions(api_url="http://x", pid=2**63 - 1 - ANCHORS).pid == 2**63 - 1 - ANCHORS


@pytest.mark.parametrize("tracks", [("a",), ("a", "b", "b"), ("a", "b", "c", "d")])
def test_given_tracks_are_three_distinct_ones(tracks: tuple[str, ...]) -> None:
    with pytest.raises(InvalidInput, match="3 distinct tracks"):
        ProbeOptions(api_url="http://x", tracks=tracks)


def test_metrics_start_at_zero_for_each_failure_reason() -> None:
    metrics = ProbeMetrics(CollectorRegistry())
    get = metrics.registry.get_sample_value
    assert get("p2v_probe_failures_total", {"reason": "timeout"}) == 0
    metrics.failed("publish")
    metrics.served(0.4)
    assert get("p2v_probe_failures_total", {"reason": "publish"}) == 1
    assert get("p2v_probe_freshness_seconds_bucket", {"le": "0.5"}) == 1


@pytest.mark.parametrize("args, message", [
    (["probe", "--pid", "5"], "canary range"),
    (["probe", "--metrics-addr", "nowhere"], "--metrics-addr"),
    (["probe", "--track", "a", "--track", "b"], "3 distinct tracks"),
])
def test_bad_input_is_one_line_and_non_zero(args: list[str], message: str,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    assert main(args) != 0
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1
