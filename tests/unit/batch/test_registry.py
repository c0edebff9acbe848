"""Model versions and the registry document (the transitions run against MongoDB in integration)."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

from batch.registry import CATCH_UP_MARGIN, TRAINING, new_model, new_version, quality_and_cost, since


def test_versions_are_unique_and_sort_by_time() -> None:
    t0 = datetime(2026, 11, 25, 17, 33, tzinfo=UTC)
    first, second = new_version(t0), new_version(t0 + timedelta(seconds=1))
    assert re.fullmatch(r"w2v-20261125T173300Z-[0-9a-f]{6}", first)
    assert first < second
    assert new_version(t0) != new_version(t0)


def test_a_new_model_starts_training_with_its_params() -> None:
    now = datetime(2026, 1, 1, tzinfo=UTC)
    doc = new_model(now, {"vector_size": 16}, "file:/m/x", version="w2v-x")
    assert doc["_id"] == "w2v-x" and doc["status"] == TRAINING and doc["vector_size"] == 16
    assert doc["created_at"] == now and doc["artifact_uri"] == "file:/m/x"


def test_catch_up_starts_where_a_model_stopped_being_written_less_the_margin() -> None:
    derived = datetime(2026, 1, 1, 10, tzinfo=UTC)
    retired = datetime(2026, 1, 2, 10, tzinfo=UTC)
    model = new_model(derived - timedelta(hours=1), {}, "x") | {"derive_started_at": derived}
    assert since(model) == derived - CATCH_UP_MARGIN
    assert since(model | {"retired_at": retired}) == retired - CATCH_UP_MARGIN


def test_quality_and_cost_read_the_search_record_and_the_run_metrics() -> None:
    plain = new_model(datetime(2026, 1, 1, tzinfo=UTC), {"vector_size": 32}, "x")
    assert quality_and_cost(plain) == {"vector_size": 32, "r_precision": None, "popularity": None,
                                       "vector_mb": None, "fit_seconds": None, "k500_p99_ms": None}
    tuned = plain | {
        "tuning": {"best_validation": {"scores": {"r_precision": 0.26}},
                   "popularity": {"r_precision": 0.05}},
        "metrics": {"stage_seconds": {"read": 3.0, "fit": 40.0},
                    "vector_bytes": {"per_vector": 128, "track_vectors": 1_280_000,
                                     "playlist_vectors": 2_560_000},
                    "serving": {"k500_p99_ms": 3.5, "k500_http_p99_ms": 9.25}}}
    assert quality_and_cost(tuned) == {"vector_size": 32, "r_precision": 0.26, "popularity": 0.05,
                                       "vector_mb": 3.84, "fit_seconds": 40.0, "k500_p99_ms": 9.25}
    # a tuned run serves its winning trial's fit and has no fit stage of its own
    tuned["tuning"]["best_validation"]["fit_seconds"] = 55.0
    del tuned["metrics"]["stage_seconds"]["fit"]
    assert quality_and_cost(tuned)["fit_seconds"] == 55.0
