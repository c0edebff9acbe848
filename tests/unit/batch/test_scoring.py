"""RecSys 2018 metrics on lists with known answers."""

from __future__ import annotations

import math

import pytest

from batch.scoring import NO_CLICK, clicks, mean_scores, ndcg, r_precision


def test_r_precision_counts_hits_in_the_first_len_truth() -> None:
    truth = {"a", "b", "c", "d"}
    assert r_precision(["a", "x", "b", "y", "c"], truth) == 0.5
    assert r_precision(["a", "b", "c", "d"], truth) == 1.0
    assert r_precision([], truth) == 0.0


def test_ndcg_is_one_for_a_perfect_list_and_discounts_late_hits() -> None:
    truth = {"a", "b"}
    assert ndcg(["a", "b", "x"], truth) == pytest.approx(1.0)
    late = ndcg(["x", "y", "a"], truth)
    assert late == pytest.approx((1 / math.log2(4)) / (1 + 1 / math.log2(3)))
    assert ndcg(["x"], truth) == 0.0


def test_clicks_are_pages_of_ten_before_the_first_hit() -> None:
    recs = [f"x{i}" for i in range(25)] + ["a"]
    assert clicks(["a"], {"a"}) == 0
    assert clicks(recs, {"a"}) == 2
    assert clicks(["x"], {"a"}) == NO_CLICK


def test_mean_scores_average_over_playlists() -> None:
    scores = mean_scores([(["a"], {"a"}), (["x"], {"a"})], cold=1)
    assert scores.r_precision == 0.5 and scores.playlists == 2 and scores.cold == 1
    assert scores.clicks == pytest.approx((0 + NO_CLICK) / 2)
