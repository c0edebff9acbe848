"""`playlist2vec demo --once` from a clean state: the whole pipeline, one measured live update."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from playlist2vec.cli import main
from playlist2vec.stack import LocalStack

pytestmark = [pytest.mark.integration, pytest.mark.slow, pytest.mark.timeout(1200)]


def test_demo_once_runs_end_to_end(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                   capsys: pytest.CaptureFixture[str]) -> None:
    from tests.conftest import private_settings

    settings = private_settings(tmp_path / "home", spark_master="local[2]")
    for key, value in settings.to_env().items():
        monkeypatch.setenv(key, value)

    assert main(["demo", "--once", "--playlists", "1500"]) == 0

    out = capsys.readouterr().out
    latency = re.search(r"a live edit travelled .* in ([0-9.]+)s", out)
    assert latency is not None, out
    assert 0 < float(latency.group(1)) < 120
    assert out.count("continues with:") == 2
    assert re.search(r"^\s{6}\S.* - \S", out, re.MULTILINE), "recommendations show track and artist names"
    why = re.search(r'why ".+ - .+" \(score ([0-9.]+)\) for playlist \d+:\n((?:\s+[+-][0-9.]+ from .*\n)+)',
                    out)
    assert why is not None, out
    parts = [float(p) for p in re.findall(r"^\s+([+-][0-9.]+) from", why.group(2), re.MULTILINE)]
    assert len(parts) >= 2 and abs(sum(parts) - float(why.group(1))) < 0.01, "the parts are the score"
    fresh = re.search(r"a trickle of 20 edits: (\d+) applied, (\d+) stale \(older than the stored "
                      r"playlist\); (\d+) edits servable, Kafka -> servable p50 ([0-9.]+)s / p95 ([0-9.]+)s",
                      out)
    assert fresh is not None, out
    applied, stale, servable = (int(fresh.group(i)) for i in (1, 2, 3))
    # the corpus's first playlists, republished with newer clocks by the demo, come back stale
    assert applied + stale == 20 and applied >= 1
    assert servable == applied, "every applied edit reached the index, once"
    assert 0 < float(fresh.group(4)) <= float(fresh.group(5)) < 30
    stack = LocalStack(settings)
    assert stack.pid("kafka") is None and stack.pid("mongo") is None, "the demo stops the stack it started"


def _demo_passes(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["demo", "--once", "--playlists", "1500"]) == 0
    out = capsys.readouterr().out
    assert out.count("continues with:") == 2, out
    assert re.search(r"^\s{6}\S.* - \S", out, re.MULTILINE), "no recommendations shown"
    latency = re.search(r"a live edit travelled .* in ([0-9.]+)s", out)
    assert latency is not None and 0 < float(latency.group(1)) < 120, out


@pytest.mark.timeout(3600)
def test_demo_once_twice_and_after_another_corpus(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    from tests.conftest import private_settings

    settings = private_settings(tmp_path / "home", spark_master="local[2]")
    for key, value in settings.to_env().items():
        monkeypatch.setenv(key, value)

    _demo_passes(capsys)
    _demo_passes(capsys)  # the second run trains a second model over the first one's edits

    other = tmp_path / "other"
    assert main(["generate", "--playlists", "800", "--out", str(other), "--seed", "3"]) == 0
    stack = LocalStack(settings)
    stack.up()
    try:
        assert main(["train", "--input", str(other), "--iterations", "1"]) == 0
    finally:
        stack.down()
    capsys.readouterr()
    _demo_passes(capsys)
