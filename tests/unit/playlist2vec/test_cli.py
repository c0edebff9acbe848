"""The command line with no services behind it: bad flags are one-line errors raised while the
command's options are built, before anything starts; every benchmark takes the same --output."""

from __future__ import annotations

from pathlib import Path

import pytest
import typer.main

from batch.train import TrainOptions
from playlist2vec.chaos import ChaosOptions
from playlist2vec.cli import app, main
from playlist2vec.probe import ProbeOptions
from playlist2vec.settings import Settings
from playlist2vec.stack import kafka
from playlist2vec.stack.up import UpOptions
from serving.options import ServeOptions
from serving.router import RouterOptions


@pytest.mark.parametrize("args, message", [
    (["serve", "--http-addr", "nowhere"], "error: --http-addr: "),
    (["serve", "--shard", "2/2"], "error: --shard expects i/n"),
    (["serve", "--index", "faiss"], "faiss"),
    (["route", "--shard", "http://127.0.0.1:1", "--timeout", "0"], "error: --timeout must be positive"),
    (["route", "--shard", "http://127.0.0.1:1", "--http-addr", "nowhere"], "error: --http-addr: "),
    (["route", "--shard", "ftp://x"], "error: --shard expects a base URL"),
    (["bench", "stream", "--trigger", "soon"], "error: bad trigger 'soon'"),
    (["bench", "stream", "--metrics-addr", "nowhere"], "error: --metrics-addr: "),
    (["evaluate", "--input", "nowhere", "--sweep", "colour=1"], "error: --sweep expects KNOB=V1,V2"),
    (["train", "--input", "nowhere", "--tune", "--tune-budget", "soon"], "error: --tune-budget 'soon'"),
    (["plot", "--color-by", "colour"], "error: --color-by must be one of cluster, keyword"),
    (["export-projector", "--out", "nowhere", "--what", "songs"], "error: --what must be one of"),
    (["--kafka-bootstrap", "127.0.0.1:1,127.0.0.1:2", "stack", "up", "--brokers", "3"],
     "error: --brokers 3 but P2V_KAFKA_BOOTSTRAP lists 2 addresses"),
])
def test_bad_flags_are_one_line_errors(args: list[str], message: str, tmp_path: Path,
                                       capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--home", str(tmp_path), *args]) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1
    assert not (tmp_path / "bench").exists(), "nothing ran"


@pytest.mark.parametrize("args, first_line", [
    (["bench", "serve", "--items", "5"], "error: Invalid value for '--items'"),
    (["bench", "serve", "--nope"], "error: No such option: --nope"),
    (["produce"], "error: Missing option '--input'"),
    (["bench"], "Usage: playlist2vec bench [OPTIONS] COMMAND [ARGS]..."),
])
def test_usage_errors_are_messages_not_tracebacks(args: list[str], first_line: str,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    assert main(args) == 2
    err = capsys.readouterr().err
    assert err.splitlines()[0].startswith(first_line) and "Traceback" not in err


def test_every_benchmark_writes_its_report_where_output_says() -> None:
    bench = typer.main.get_command(app).commands["bench"]  # type: ignore[attr-defined]
    assert sorted(bench.commands) == ["lyrics-fetch", "serve", "stream", "switch", "train"]
    for name, command in bench.commands.items():
        output = next(p for p in command.params if p.name == "output")
        assert sorted(output.opts) == ["--out", "--output"], name
        assert "P2V_HOME/bench/<benchmark>-<UTC time>.json" in output.help, name


def test_flags_win_over_settings_and_settings_fill_the_rest(tmp_path: Path) -> None:
    settings = Settings.load({"P2V_INDEX_STRATEGY": "exact", "P2V_LIVE_QUALITY": "true",
                              "P2V_HTTP_ADDR": "127.0.0.1:8123"}, home=tmp_path)
    served = ServeOptions.from_settings(settings, trees=20, shard="1/3")
    assert (served.strategy, served.live_quality, served.instance) == ("exact", True, "serving")
    assert (served.params.trees, served.shard and served.shard.count) == (20, 3)
    assert served.indexes_dir == settings.indexes_dir
    flagged = ServeOptions.from_settings(settings, index="hnsw", live_quality=False, instance="b")
    assert (flagged.strategy, flagged.live_quality, flagged.instance) == ("hnsw", False, "b")
    routed = RouterOptions.from_settings(settings, ["http://127.0.0.1:1/"])
    assert (routed.shards, routed.timeout) == (("http://127.0.0.1:1",), settings.router_shard_timeout)
    probe = ProbeOptions.from_settings(settings, rounds=2)
    assert (probe.api_url, probe.metrics_addr) == ("http://127.0.0.1:8123", settings.probe_metrics_addr)


def test_options_resolve_what_the_flags_leave_to_the_settings(tmp_path: Path) -> None:
    settings = Settings.load({"P2V_KAFKA_BOOTSTRAP": "127.0.0.1:9192"}, home=tmp_path)
    assert UpOptions.from_settings(settings).kafka_bootstrap == "127.0.0.1:9192"
    widened = UpOptions.from_settings(settings, brokers=3, spark_workers=2)
    assert widened.kafka_bootstrap == kafka.cluster_bootstrap(settings.kafka_port, 3)
    assert len(widened.kafka_bootstrap.split(",")) == 3 and widened.spark_workers == 2
    plain = TrainOptions.from_settings(settings, input="corpus", sample=0.5)
    assert (plain.input, plain.sample, plain.tune, plain.tune_report) == ("corpus", 0.5, None, None)
    tuned = TrainOptions.from_settings(settings, input="corpus", tune=True, tune_budget="30m", tune_seed=4)
    assert tuned.tune is not None and (tuned.tune.budget.minutes, tuned.tune.seed) == (30.0, 4)
    assert tuned.tune_report is not None and tuned.tune_report.parent == tmp_path / "tune"
    chosen = TrainOptions.from_settings(settings, input="corpus", tune=True, tune_report=tmp_path / "t.json")
    assert chosen.tune_report == tmp_path / "t.json"
    assert ChaosOptions.from_settings(settings, seed=3).report == tmp_path / "chaos" / "report.json"
    assert ChaosOptions.from_settings(settings, report=tmp_path / "c.json").report == tmp_path / "c.json"
