"""`bench train` on a small corpus: the whole job beside gensim, in its own database."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from batch.bench import BenchOptions, bench_train, report_lines
from batch.word2vec import Word2VecParams
from playlist2vec import store
from playlist2vec.settings import Settings

pytest.importorskip("gensim")

pytestmark = [pytest.mark.integration, pytest.mark.spark]


def test_bench_train_scores_spark_beside_gensim_and_leaves_the_users_database_alone(
        settings: Settings, spark: Any, db: Any, corpus_dir: Path, tmp_path: Path) -> None:
    options = BenchOptions(input=str(corpus_dir), params=Word2VecParams(iterations=1),
                           holdout_fraction=0.1, k=50, output=tmp_path / "train.json")
    report = bench_train(settings, spark, options, progress=lambda _line: None)
    written = json.loads(options.output.read_text())
    assert written["benchmark"] == "train" and written["results"] == json.loads(json.dumps(report))
    assert written["options"]["params"]["iterations"] == 1

    assert set(report["scores"]) == {"popularity", "gensim sg+hs", "gensim sg+ns5", "spark word2vec"}
    assert report["scores"]["spark word2vec"]["r_precision"] > report["scores"]["popularity"]["r_precision"]
    assert report["spark"]["train_seconds"] >= report["fit_seconds"]["spark word2vec"] > 0
    assert any("gensim sg+hs" in line for line in report_lines(report))
    assert db[store.MODELS].count_documents({}) == 0, "no model registered in the user's database"
    assert f"{settings.mongo_db}_bench_train" not in db.client.list_database_names()


def test_bench_train_command_prints_the_table_and_writes_the_report(
        settings: Settings, spark: Any, db: Any, corpus_dir: Path, tmp_path: Path,
        capsys: pytest.CaptureFixture[str]) -> None:
    from playlist2vec.cli import main

    out = tmp_path / "bench-train.json"
    assert main(["--home", str(settings.home), "--mongo-uri", settings.mongo_uri.get_secret_value(),
                 "--mongo-db", settings.mongo_db, "--spark-master", settings.spark_master,
                 "bench", "train", "--input", str(corpus_dir), "--iterations", "1",
                 "--holdout-fraction", "0.1", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "gensim sg+hs" in printed and f"report: {out}" in printed
    document = json.loads(out.read_text())
    assert document["benchmark"] == "train"
    report = document["results"]
    assert set(report["scores"]) == {"popularity", "gensim sg+hs", "gensim sg+ns5", "spark word2vec"}
    assert report["corpus"]["playlists"] > 0 and report["params"]["iterations"] == 1
    assert db[store.MODELS].count_documents({}) == 0, "no model registered in the user's database"
