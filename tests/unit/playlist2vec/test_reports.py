"""Benchmark reports: one layout, one default path, whole files only."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest

from playlist2vec import reports
from playlist2vec.settings import Settings


@dataclass(frozen=True)
class Knobs:
    size: int = 3
    labels: tuple[str, ...] = ("a", "b")
    folder: Path = Path("data")
    output: Path = field(kw_only=True)


def test_the_default_path_is_the_benchmark_and_its_utc_start_under_home_bench(tmp_path: Path) -> None:
    settings = Settings.load({}, home=tmp_path)
    when = datetime(2026, 1, 2, 4, 5, 6, tzinfo=timezone(timedelta(hours=2)))
    assert reports.default_path(settings, "serve", when) == tmp_path / "bench" / "serve-20260102T020506Z.json"
    assert reports.output_path(settings, "serve", tmp_path / "mine.json") == tmp_path / "mine.json"
    assert reports.output_path(settings, "stream", None).name.startswith("stream-2")


def test_every_report_has_the_same_layout_and_a_rewrite_replaces_it(tmp_path: Path) -> None:
    out = tmp_path / "deeper" / "r.json"
    report = reports.BenchReport("switch", Knobs(output=out))
    report.write({"rows": [1]})
    assert report.write({"rows": [1, 2]}) == out
    document = json.loads(out.read_text())
    assert list(document) == ["benchmark", "started_at", "options", "machine", "results"]
    assert document["benchmark"] == "switch" and document["results"] == {"rows": [1, 2]}
    assert document["options"] == {"size": 3, "labels": ["a", "b"], "folder": "data"}  # no output
    assert datetime.fromisoformat(document["started_at"]).tzinfo == UTC
    assert document["machine"]["cpus"] >= 1 and len(document["machine"]["load_average"]) == 3
    assert [p.name for p in out.parent.iterdir()] == ["r.json"], "no partial file left behind"


def test_an_unknown_benchmark_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="unknown benchmark 'trian'"):
        reports.BenchReport("trian", Knobs(output=tmp_path / "x.json"))
