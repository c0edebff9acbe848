"""`bench serve` end to end at a tiny size: every strategy measured, printed and written as JSON."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from playlist2vec.cli import main
from serving.bench import CONFIGS


def test_bench_serve_measures_every_strategy(tmp_path: Path, capsys: pytest.CaptureFixture[str]
                                             ) -> None:
    out = tmp_path / "serve.json"
    code = main(["--home", str(tmp_path), "bench", "serve", "--items", "2000", "--dim", "8",
                 "--queries", "10", "--output", str(out)])
    assert code == 0
    report = json.loads(out.read_text())
    assert report["benchmark"] == "serve" and report["options"]["items"] == 2000
    rows = report["results"]["indexes"]
    assert [row["index"] for row in rows] == [label for label, _, _ in CONFIGS]
    exact = rows[0]
    assert exact["k10"]["recall"] == 1.0 and exact["k500"]["recall"] == 1.0
    for row in rows:
        assert 0.5 <= row["k10"]["recall"] <= 1.0
        assert (row.get("updates_per_s", 0) > 0) is (row["strategy"] == "hnsw")
        assert row["k500"]["http_p99_ms"] >= row["k500"]["http_p50_ms"] > 0
    printed = capsys.readouterr().out
    assert "annoy-50" in printed and printed.endswith(f"report: {out}\n")
    assert not list((tmp_path / "bench").glob("indexes-*")), "index files cleaned up"


def test_bench_serve_measures_only_the_chosen_indexes(tmp_path: Path) -> None:
    # `--out`, the older spelling of `--output`, still works
    out = tmp_path / "serve.json"
    assert main(["--home", str(tmp_path), "bench", "serve", "--items", "1000", "--queries", "10",
                 "--index", "hnsw-16", "--index", "exact", "--out", str(out)]) == 0
    report = json.loads(out.read_text())
    assert [row["index"] for row in report["results"]["indexes"]] == ["hnsw-16", "exact"]
    assert report["options"]["indexes"] == ["hnsw-16", "exact"]


def test_without_output_the_report_goes_under_home_bench(tmp_path: Path,
                                                        capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--home", str(tmp_path), "bench", "serve", "--items", "1000", "--queries", "10",
                 "--index", "exact"]) == 0
    (written,) = (tmp_path / "bench").glob("serve-*.json")
    assert capsys.readouterr().out.endswith(f"report: {written}\n")
    assert json.loads(written.read_text())["benchmark"] == "serve"


def test_unknown_bench_index_is_a_one_line_error(tmp_path: Path,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--home", str(tmp_path), "bench", "serve", "--index", "faiss"]) == 2
    assert capsys.readouterr().err.startswith("error: unknown benchmark index ['faiss']")
