"""Hyperparameter search over Spark Word2Vec's knobs with Optuna: budget, space, pruning, the record.

No Spark here: a trial is scored by an `Evaluator` (fit on the subsample or the training
split, score on the validation cases), so the search is tested with plain functions. Each
trial is fitted on a subsample first and pruned unless its subsample score reaches the top
quarter of the completed trials' (less a small tolerance: the subsample score of one fit
varies by about 1% run to run, and a near miss on a quarter of the data is often a winner on
all of it): the full fit, about twice the subsample's, is paid only by contenders. Only
completed trials, scored on the validation split, can win.
"""

from __future__ import annotations

import math
import re
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from typing import Any

import numpy as np
import optuna

from batch.scoring import Scores
from batch.word2vec import Word2VecParams
from playlist2vec.errors import InvalidInput

SUBSAMPLE, VALIDATION = "subsample", "validation"
COMPLETE, PRUNED = "complete", "pruned"
# (low, high) of each knob; vector sizes step by VECTOR_STEP, min_count and step_size are
# searched on a log scale
RANGES: dict[str, tuple[Any, Any]] = {"vector_size": (16, 128), "window": (1, 10), "iterations": (1, 10),
                                      "min_count": (2, 20), "step_size": (0.005, 0.1)}
VECTOR_STEP = 16
RANDOM_TRIALS = 4  # sampled at random before TPE models the scores
PRUNE_PERCENTILE = 75.0  # pruned below this percentile of the completed trials' subsample scores ...
PRUNE_TOLERANCE = 0.02  # ... less this share of it
MIN_SUBSAMPLE_COUNT = 2  # a track seen once in the subsample has one context: noise, and fit time
_BUDGET = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(m|min)?\s*$")


@dataclass(frozen=True)
class Budget:
    """How long the search runs: a number of trials, or minutes (a trial under way finishes)."""

    trials: int | None = None
    minutes: float | None = None

    @classmethod
    def parse(cls, text: str) -> Budget:
        """`12` is 12 trials, `30m` is 30 minutes."""
        match = _BUDGET.match(text)
        if not match or not float(match[1]):
            raise InvalidInput(f"--tune-budget {text!r}: expected a number of trials (12) or minutes (30m)")
        if match[2]:
            return cls(minutes=float(match[1]))
        if not match[1].isdigit():
            raise InvalidInput(f"--tune-budget {text!r}: a number of trials is a whole number")
        return cls(trials=int(match[1]))

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Measure:
    """One fit scored on the validation cases."""

    scores: Scores
    fit_seconds: float
    vocab_size: int

    def as_dict(self) -> dict[str, Any]:
        return {"scores": self.scores.as_dict(), "fit_seconds": self.fit_seconds,
                "vocab_size": self.vocab_size}


# (params, SUBSAMPLE or VALIDATION) -> the fit's scores on the validation cases
Evaluator = Callable[[Word2VecParams, str], Measure]


def space() -> dict[str, Any]:
    """The searched knobs and their ranges, for the record."""
    return {k: list(v) for k, v in RANGES.items()}


def knobs(params: Word2VecParams) -> dict[str, Any]:
    """The searched knobs of `params`."""
    return {name: getattr(params, name) for name in space()}


def check_in_space(base: Word2VecParams) -> None:
    """The first trial is `base`: its knobs must be inside the space (else Optuna fails the trial)."""
    if base.vector_size % VECTOR_STEP:
        raise InvalidInput(f"--tune: vector size {base.vector_size} is not a multiple of {VECTOR_STEP}")
    for name, (low, high) in RANGES.items():
        if not low <= getattr(base, name) <= high:
            raise InvalidInput(f"--tune: {name} {getattr(base, name)} is outside the searched "
                               f"{low}..{high}")


def suggest(trial: optuna.Trial, base: Word2VecParams) -> Word2VecParams:
    """The trial's knobs; partitions and seed stay those of `base`."""
    return replace(
        base,
        vector_size=trial.suggest_int("vector_size", *RANGES["vector_size"], step=VECTOR_STEP),
        window=trial.suggest_int("window", *RANGES["window"]),
        iterations=trial.suggest_int("iterations", *RANGES["iterations"]),
        min_count=trial.suggest_int("min_count", *RANGES["min_count"], log=True),
        step_size=trial.suggest_float("step_size", *RANGES["step_size"], log=True),
    )


def for_subsample(params: Word2VecParams, fraction: float) -> Word2VecParams:
    """`params` for a fit on `fraction` of the playlists: a track seen min_count times in the
    whole corpus is seen about min_count x fraction times in the subsample, so the subsample
    keeps about the vocabulary the full fit would have rather than punishing high min counts.
    Never below MIN_SUBSAMPLE_COUNT: at 20,000 playlists, min count 1 on the subsample kept
    every track (35,638, the full fit 34,863), fitted slower and scored lower than min count 5."""
    return replace(params, min_count=max(MIN_SUBSAMPLE_COUNT,
                                         math.floor(params.min_count * fraction + 0.5)))


def prune_bar(completed: list[float]) -> float:
    """The subsample score a trial must reach to be fitted in full: PRUNE_PERCENTILE of the
    completed trials' subsample scores, less PRUNE_TOLERANCE of it."""
    return float(np.percentile(completed, PRUNE_PERCENTILE)) * (1.0 - PRUNE_TOLERANCE)


@dataclass
class TrialRecord:
    number: int
    state: str  # COMPLETE or PRUNED
    params: dict[str, Any]
    subsample: Measure
    validation: Measure | None = None  # None when pruned

    def as_dict(self) -> dict[str, Any]:
        return {"number": self.number, "state": self.state, "params": self.params,
                SUBSAMPLE: self.subsample.as_dict(),
                VALIDATION: self.validation.as_dict() if self.validation else None}


@dataclass
class SearchRecord:
    seed: int
    budget: Budget
    trials: list[TrialRecord]
    best: TrialRecord
    best_params: Word2VecParams
    seconds: float

    def as_dict(self) -> dict[str, Any]:
        return {"seed": self.seed, "budget": self.budget.as_dict(), "space": space(),
                "objective": "validation R-precision", "pruned_below": f"percentile {PRUNE_PERCENTILE:g} "
                f"of the completed trials' subsample scores less {PRUNE_TOLERANCE:.0%}",
                "seconds": self.seconds,
                "trials": [t.as_dict() for t in self.trials], "best_trial": self.best.number,
                "best_params": knobs(self.best_params),
                "best_validation": self.best.validation.as_dict() if self.best.validation else None}


def describe(chosen: dict[str, Any]) -> str:
    """`vector_size=64 window=3 ... step_size=0.0123`: knobs in one readable line."""
    return " ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in chosen.items())


def _line(number: int, budget: Budget, elapsed: float, params: Word2VecParams) -> str:
    where = f"/{budget.trials}" if budget.trials else f" ({elapsed / 60:.1f} of {budget.minutes:g} min)"
    return f"trial {number + 1}{where} {describe(knobs(params))}"


def _score(measure: Measure) -> str:
    s = measure.scores
    return (f"R-precision {s.r_precision:.4f} NDCG {s.ndcg:.4f} clicks {s.clicks:.2f} "
            f"(fit {measure.fit_seconds:.1f}s)")


def search(evaluate: Evaluator, base: Word2VecParams, budget: Budget, seed: int,
           progress: Callable[[str], None] = print) -> SearchRecord:
    """Run the seeded search (first trial: `base`) within `budget`; the best completed trial
    by validation R-precision wins. Same seed and same scores: same trials."""
    check_in_space(base)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(
        direction="maximize",
        sampler=optuna.samplers.TPESampler(seed=seed, n_startup_trials=RANDOM_TRIALS))
    study.enqueue_trial(knobs(base))
    records: list[TrialRecord] = []
    started = time.monotonic()

    def objective(trial: optuna.Trial) -> float:
        params = suggest(trial, base)
        head = _line(trial.number, budget, time.monotonic() - started, params)
        sub = evaluate(params, SUBSAMPLE)
        record = TrialRecord(trial.number, PRUNED, knobs(params), sub)
        records.append(record)
        trial.report(sub.scores.r_precision, step=0)  # TPE learns from pruned trials too
        completed = [r.subsample.scores.r_precision for r in records if r.state == COMPLETE]
        # the first trial always completes and sets the bar
        if completed and sub.scores.r_precision < (bar := prune_bar(completed)):
            progress(f"{head}: subsample {_score(sub)}: pruned (below {bar:.4f})")
            raise optuna.TrialPruned()
        record.validation = evaluate(params, VALIDATION)
        record.state = COMPLETE
        progress(f"{head}: subsample R-precision {sub.scores.r_precision:.4f} (fit {sub.fit_seconds:.1f}s), "
                 f"validation {_score(record.validation)}")
        return record.validation.scores.r_precision

    # the first trial always runs, so a budget in minutes still yields a winner
    study.optimize(objective, n_trials=1)
    if budget.trials is None or budget.trials > 1:
        remaining = None if budget.minutes is None else max(0.0, budget.minutes * 60 - (
            time.monotonic() - started))
        study.optimize(objective, n_trials=None if budget.trials is None else budget.trials - 1,
                       timeout=remaining)
    best = next(r for r in records if r.number == study.best_trial.number)
    assert best.validation is not None  # Optuna's best trial is a completed one
    pruned = sum(r.state == PRUNED for r in records)
    progress(f"best: trial {best.number + 1} of {len(records)} ({pruned} pruned), "
             f"validation {_score(best.validation)}")
    return SearchRecord(seed, budget, records, best, replace(base, **best.params),
                        time.monotonic() - started)
