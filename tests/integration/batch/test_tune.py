"""`train --tune` end to end: real Spark and MongoDB-wire server, the generated corpus of the batch tests."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from batch import search
from batch.evaluate import holdout_cases
from batch.reader import load_corpus
from batch.search import Budget
from batch.tune import SparkEvaluator, TuneOptions, tune
from batch.word2vec import Word2VecParams
from playlist2vec import store
from playlist2vec.cli import main
from playlist2vec.settings import Settings

pytestmark = [pytest.mark.integration, pytest.mark.spark, pytest.mark.slow, pytest.mark.timeout(1500)]


def _cli(settings: Settings, *args: str) -> int:
    return main(["--home", str(settings.home), "--mongo-uri", settings.mongo_uri.get_secret_value(),
                 "--mongo-db", settings.mongo_db, "--spark-master", settings.spark_master, *args])


def test_tune_records_the_search_and_evaluate_reproduces_the_winner(
        spark: Any, settings: Settings, db: Any, corpus_dir: Path, tmp_path: Path, capsys: Any) -> None:
    report = tmp_path / "tune.json"
    # one partition: Spark's fit differs run to run when partitions train concurrently
    assert _cli(settings, "train", "--input", str(corpus_dir), "--iterations", "2", "--min-count", "3",
                "--partitions", "1",
                "--tune", "--tune-budget", "3", "--tune-seed", "1", "--tune-subsample", "0.3",
                "--tune-report", str(report)) == 0
    printed = capsys.readouterr()
    assert [line.split(":")[0].split(" vector_size")[0] for line in printed.err.splitlines()
            if line.startswith("trial ")] == ["trial 1/3", "trial 2/3", "trial 3/3"]
    assert "tuned: trial" in printed.out

    # the registry entry carries the search, and the model was trained with the winner's knobs
    model = store.active_model(db)
    tuning = model["tuning"]
    best = tuning["trials"][tuning["best_trial"]]
    assert len(tuning["trials"]) == 3 and tuning["trials"][0]["params"]["iterations"] == 2
    assert best["state"] == search.COMPLETE and best["params"] == tuning["best_params"]
    assert {k: model["params"][k] for k in tuning["best_params"]} == tuning["best_params"]
    # ... and it is the winner's fit on the training split: no second fit
    assert "fit" not in model["metrics"]["stage_seconds"]
    assert model["vocab_size"] == best["validation"]["vocab_size"]
    assert tuning["split"]["playlists"] > 10 and tuning["popularity"]["playlists"] > 10
    assert tuning["split"]["subsample"] == 0.3
    assert all(t["subsample"]["fit_seconds"] > 0 for t in tuning["trials"])
    dim = model["vector_size"]
    assert model["metrics"]["vector_bytes"]["track_vectors"] == 4 * dim * model["vocab_size"]
    written = json.loads(report.read_text())
    assert written["version"] == model["_id"] and written["tuning"] == json.loads(json.dumps(tuning))

    # the cost side: the serve benchmark of serving's index at the model's size and dimension
    serving = model["metrics"]["serving"]
    assert (serving["items"], serving["dim"], serving["index"]) == (model["vocab_size"], dim, "annoy-10")
    assert min(serving["k500_p99_ms"], serving["k500_http_p99_ms"]) > 0 and serving["k500_recall"] > 0.5
    assert written["serving"] == serving and "serving cost: k=500 p99" in printed.out

    # `models list` shows its quality and cost
    assert _cli(settings, "models", "list") == 0
    row = next(line for line in capsys.readouterr().out.splitlines() if line.startswith(model["_id"]))
    assert f"{best['validation']['scores']['r_precision']:.4f}" in row and f" {dim} " in row
    assert row.split()[-1] == f"{serving['k500_http_p99_ms']:.1f}"

    # `evaluate` with the winner's knobs on the same split reproduces its validation score
    knobs, split, out = tuning["best_params"], tuning["split"], tmp_path / "eval.json"
    assert _cli(settings, "evaluate", "--input", str(corpus_dir),
                "--holdout-fraction", repr(split["holdout_fraction"]),
                "--seed-tracks", str(split["seed_tracks"]), "--k", str(split["k"]),
                *(arg for name, value in knobs.items()
                  for arg in (f"--{name.replace('_', '-')}", repr(value))),
                "--partitions", str(model["params"]["partitions"]), "--out", str(out)) == 0
    scores = json.loads(out.read_text())["scores"]
    assert scores["word2vec (spark)"] == pytest.approx(best["validation"]["scores"])
    assert scores["popularity"] == pytest.approx(tuning["popularity"])


def test_the_same_seed_repeats_the_search_on_spark(spark: Any, corpus_dir: Path) -> None:
    corpus = load_corpus(spark, str(corpus_dir))
    base = Word2VecParams(vector_size=16, iterations=1, min_count=3, partitions=1)
    try:
        runs = [tune(corpus.playlists, base, TuneOptions(Budget(trials=3), seed=5), lambda _: None)[1]
                for _ in range(2)]
    finally:
        corpus.release()
    for run in runs:  # fit times differ; what was tried, pruned and scored does not
        for measure in [run["best_validation"]] + [t[stage] for t in run["trials"]
                                                   for stage in (search.SUBSAMPLE, search.VALIDATION)]:
            if measure:
                measure.pop("fit_seconds")
        run.pop("seconds")
    assert runs[0] == runs[1]
    assert len({json.dumps(t["params"]) for t in runs[0]["trials"]}) == 3


def test_a_trial_whose_min_count_leaves_no_vocabulary_scores_zero(spark: Any) -> None:
    playlists = spark.createDataFrame([(["a", "b", "c"],), (["a", "c", "d"],)], "tracks array<string>")
    cases = holdout_cases([(1, ["a", "b", "c"])], seed_tracks=1)
    evaluate = SparkEvaluator(playlists, cases, TuneOptions(Budget(trials=1)))
    try:
        measure = evaluate(Word2VecParams(min_count=20), search.VALIDATION)
        assert measure.vocab_size == 0 and measure.scores.r_precision == 0 and measure.scores.cold == 1
        assert evaluate(Word2VecParams(min_count=1), search.VALIDATION).vocab_size == 4
    finally:
        evaluate.release()


def test_tune_refuses_knobs_outside_its_space(spark: Any, settings: Settings, corpus_dir: Path,
                                              capsys: Any) -> None:
    assert _cli(settings, "train", "--input", str(corpus_dir), "--tune", "--window", "30") == 2
    assert capsys.readouterr().err.strip().splitlines()[-1] == \
        "error: --tune: window 30 is outside the searched 1..10"
    assert _cli(settings, "train", "--input", str(corpus_dir), "--tune", "--tune-budget", "2h") == 2
