"""Job options: trigger shorthands become intervals Spark parses; garbage fails at start."""

from __future__ import annotations

import pytest

from playlist2vec.errors import ConfigError
from playlist2vec.settings import Settings
from streaming import job
from streaming.job import StreamOptions, spark_interval


@pytest.mark.parametrize(("given", "expected"), [
    ("1s", "1 seconds"), ("500ms", "500 milliseconds"), ("2m", "2 minutes"), (" 3 s ", "3 seconds"),
    ("200 milliseconds", "200 milliseconds"), ("1 second", "1 second"),
])
def test_trigger_shorthands(given: str, expected: str) -> None:
    assert spark_interval(given) == expected


@pytest.mark.parametrize("bad", ["fast", "1h", "-1s", "1.5s", ""])
def test_bad_trigger_names_the_setting(bad: str) -> None:
    with pytest.raises(ConfigError, match="P2V_STREAM_TRIGGER"):
        spark_interval(bad)


def test_options_default_from_settings() -> None:
    settings = Settings.load({}, home="/srv/p2v", stream_trigger="250ms", stream_max_offsets_per_trigger=7)
    options = StreamOptions.from_settings(settings)
    assert (str(options.checkpoint), options.trigger, options.max_offsets_per_trigger) == (
        "/srv/p2v/checkpoints/stream", "250 milliseconds", 7)
    overridden = StreamOptions.from_settings(settings, trigger="2s", max_offsets_per_trigger=3)
    assert (overridden.trigger, overridden.max_offsets_per_trigger) == ("2 seconds", 3)


def test_the_fold_in_prune_runs_at_the_first_batch_then_hourly_and_never_when_off(
        monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[tuple[str, int]] = []
    monkeypatch.setattr(job.fold, "prune", lambda _db, version, support, _since: calls.append(
        (version, support)) or 0)
    ctx = job.BatchContext(settings=Settings.load({}, fold_in_min_support=3), db=None,  # type: ignore[arg-type]
                           models=None, metrics=None)  # type: ignore[arg-type]
    job.prune_fold_in(ctx, ["m1", "m2"], 100.0)
    job.prune_fold_in(ctx, ["m1"], 100.0 + job.PRUNE_EVERY_S - 1)
    assert calls == [("m1", 3), ("m2", 3)]
    job.prune_fold_in(ctx, ["m1"], 100.0 + job.PRUNE_EVERY_S)
    assert calls[-1] == ("m1", 3) and len(calls) == 3
    off = job.BatchContext(settings=Settings.load({}, fold_in_min_support=0), db=None,  # type: ignore[arg-type]
                           models=None, metrics=None)  # type: ignore[arg-type]
    job.prune_fold_in(off, ["m1"], 100.0)
    assert len(calls) == 3


def test_the_driver_jvm_options_come_from_settings_and_none_when_empty() -> None:
    assert job.driver_conf(Settings.load({}, stream_driver_java_options=" -XX:TieredStopAtLevel=1 ")) == {
        "spark.driver.extraJavaOptions": "-XX:TieredStopAtLevel=1"}
    assert job.driver_conf(Settings.load({}, stream_driver_java_options="")) == {}
