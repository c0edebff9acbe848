"""The search on plain functions standing in for Spark fits: seeds, pruning, budgets, the record."""

from __future__ import annotations

import math

import pytest

from batch.scoring import Scores
from batch.search import (
    COMPLETE,
    PRUNED,
    SUBSAMPLE,
    VALIDATION,
    Budget,
    Evaluator,
    Measure,
    for_subsample,
    knobs,
    prune_bar,
    search,
)
from batch.word2vec import Word2VecParams
from playlist2vec.errors import InvalidInput

BASE = Word2VecParams()


def quality(p: Word2VecParams) -> float:
    """A smooth made-up landscape with its peak at dim 64, window 3, 7 iterations, step 0.03."""
    return 0.4 - 0.05 * abs(math.log2(p.vector_size / 64)) - 0.01 * abs(p.window - 3) \
        - 0.005 * abs(p.iterations - 7) - 0.02 * abs(math.log(p.step_size / 0.03))


def evaluator(calls: list[tuple[str, Word2VecParams]]) -> Evaluator:
    """Subsample scores sit on a higher scale than validation ones (0.5 + quality), so a pruned
    trial's reported score beats every validation score: only the state can keep it from winning."""
    def evaluate(params: Word2VecParams, stage: str) -> Measure:
        calls.append((stage, params))
        r = quality(params) + (0.5 if stage == SUBSAMPLE else 0.0)
        return Measure(Scores(r, 2 * r, 1.0, 100), fit_seconds=1.0, vocab_size=10 * params.min_count)
    return evaluate


def test_the_same_seed_gives_the_same_search_and_another_seed_another() -> None:
    runs = [search(evaluator([]), BASE, Budget(trials=10), seed, progress=lambda _: None)
            for seed in (3, 3, 4)]
    same = [[(t.params, t.state) for t in run.trials] for run in runs]
    assert same[0] == same[1]
    assert same[0] != same[2]
    assert runs[0].best_params == runs[1].best_params


def test_a_pruned_trial_never_wins_and_never_pays_for_the_full_fit() -> None:
    calls: list[tuple[str, Word2VecParams]] = []
    record = search(evaluator(calls), BASE, Budget(trials=16), seed=0, progress=lambda _: None)
    pruned = [t for t in record.trials if t.state == PRUNED]
    complete = [t for t in record.trials if t.state == COMPLETE]
    assert pruned and complete
    assert record.best.state == COMPLETE and record.best.validation is not None
    best_score = record.best.validation.scores.r_precision
    # a pruned trial's subsample score is higher than the winner's validation score ...
    assert max(t.subsample.scores.r_precision for t in pruned) > best_score
    # ... yet the winner is the best completed trial on the validation split
    assert best_score == max(t.validation.scores.r_precision for t in complete if t.validation)
    assert all(t.validation is None for t in pruned)
    assert sum(stage == VALIDATION for stage, _ in calls) == len(complete)
    assert knobs(record.best_params) == record.best.params


def test_the_first_trial_is_the_given_knobs_and_the_record_names_the_winner() -> None:
    lines: list[str] = []
    record = search(evaluator([]), BASE, Budget(trials=3), seed=1, progress=lines.append)
    assert record.trials[0].params == knobs(BASE) and record.trials[0].state == COMPLETE
    assert len(record.trials) == 3 and len(lines) == 4  # one line per trial, then the winner
    assert lines[0].startswith(f"trial 1/3 vector_size={BASE.vector_size} ")
    assert lines[-1].startswith("best: trial")
    doc = record.as_dict()
    assert doc["best_trial"] == record.best.number and doc["best_params"] == record.best.params
    assert [t["number"] for t in doc["trials"]] == [0, 1, 2]
    assert doc["trials"][0][VALIDATION]["scores"]["r_precision"] == pytest.approx(quality(BASE))


def test_a_budget_in_minutes_still_runs_the_first_trial() -> None:
    def first_line_only(line: str) -> None:
        raise StopIteration(line)

    with pytest.raises(StopIteration, match=rf"^trial 1 \(0\.0 of 30 min\) vector_size={BASE.vector_size} "):
        search(evaluator([]), BASE, Budget(minutes=30), seed=0, progress=first_line_only)
    record = search(evaluator([]), BASE, Budget(minutes=1e-6), seed=0, progress=lambda _: None)
    assert len(record.trials) == 1 and record.best.number == 0


def test_knobs_outside_the_space_are_refused() -> None:
    with pytest.raises(InvalidInput, match="vector size 40 is not a multiple of 16"):
        search(evaluator([]), Word2VecParams(vector_size=40), Budget(trials=2), seed=0)
    with pytest.raises(InvalidInput, match="vector_size 256 is outside"):
        search(evaluator([]), Word2VecParams(vector_size=256), Budget(trials=2), seed=0)
    with pytest.raises(InvalidInput, match="window 20 is outside"):
        search(evaluator([]), Word2VecParams(window=20), Budget(trials=2), seed=0)


@pytest.mark.parametrize(("text", "budget"), [("12", Budget(trials=12)), ("30m", Budget(minutes=30)),
                                              ("1.5min", Budget(minutes=1.5))])
def test_budget_parses_trials_or_minutes(text: str, budget: Budget) -> None:
    assert Budget.parse(text) == budget


@pytest.mark.parametrize("text", ["", "0", "-3", "2.5", "12h", "ten"])
def test_a_bad_budget_is_refused(text: str) -> None:
    with pytest.raises(InvalidInput, match="--tune-budget"):
        Budget.parse(text)


def test_the_subsample_scales_min_count_to_keep_the_vocabulary_but_drops_tracks_seen_once() -> None:
    assert for_subsample(Word2VecParams(min_count=20), 0.25).min_count == 5
    assert for_subsample(Word2VecParams(min_count=5), 0.25).min_count == 2
    assert for_subsample(Word2VecParams(min_count=2), 0.25).min_count == 2
    assert for_subsample(Word2VecParams(vector_size=48, min_count=5), 0.25).vector_size == 48


def test_the_bar_is_the_top_quarter_of_completed_subsample_scores_less_the_tolerance() -> None:
    assert prune_bar([0.2]) == pytest.approx(0.196)  # one completed trial: a near miss goes on
    assert prune_bar([0.1, 0.2, 0.3, 0.4]) == pytest.approx(0.325 * 0.98)


def test_a_near_miss_on_the_subsample_is_fitted_in_full_and_a_clear_miss_is_pruned() -> None:
    """Trial 1 (the base) scores 0.2 on the subsample; within 2% of it a trial goes on."""
    def evaluate(params: Word2VecParams, stage: str) -> Measure:
        r = 0.2 if params == BASE else (0.197 if params.vector_size >= 64 else 0.19)
        return Measure(Scores(r, r, 1.0, 100), fit_seconds=1.0, vocab_size=100)

    record = search(evaluate, BASE, Budget(trials=12), seed=0, progress=lambda _: None)
    states = {(t.params["vector_size"] >= 64, t.state) for t in record.trials[1:]}
    assert states == {(True, COMPLETE), (False, PRUNED)}
