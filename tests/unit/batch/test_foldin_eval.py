"""The fold-in evaluation's split and scores, in plain Python: seen and unseen truth apart."""

from __future__ import annotations

import numpy as np
import pytest

from batch.evaluate import Case
from batch.foldin_eval import continuations, new_tracks, part_scores


def test_scores_split_the_truth_into_seen_and_unseen_tracks() -> None:
    results = [(["a", "n1", "b", "x"], frozenset({"a", "b", "n1", "n2"})),
               (["y", "z"], frozenset({"c"}))]
    scores = part_scores(results, unseen={"n1", "n2"})
    assert scores["all"]["playlists"] == 2 and scores["unseen"]["playlists"] == 1
    assert scores["seen"]["r_precision"] == pytest.approx((1 / 2 + 0) / 2)  # a in the first 2
    assert scores["seen"]["recall"] == pytest.approx((2 / 2 + 0) / 2)
    assert scores["unseen"]["r_precision"] == pytest.approx(1 / 2)  # n1 in the first 2
    assert scores["unseen"]["recall"] == pytest.approx(1 / 2)
    assert scores["all"]["recall"] == pytest.approx((3 / 4 + 0) / 2)


def test_new_tracks_are_a_seeded_share_of_the_held_out_tracks() -> None:
    cases = [Case(1, ("a", "b"), frozenset({"c", "d"})), Case(2, ("e",), frozenset({"a", "f"}))]
    drawn = new_tracks(cases, 0.5, seed=3)
    assert len(drawn) == 3 and drawn <= set("abcdef") and drawn == new_tracks(cases, 0.5, seed=3)


def test_a_folded_in_track_can_be_recommended() -> None:
    vectors = {"s": np.array([1.0, 0.0], np.float32), "far": np.array([0.0, 1.0], np.float32)}
    case = Case(1, ("s",), frozenset({"new"}))
    assert continuations([case], vectors, 1) == [(["far"], case.truth)]
    with_new = {**vectors, "new": np.array([0.9, 0.1], np.float32)}
    assert continuations([case], with_new, 1) == [(["new"], case.truth)]
