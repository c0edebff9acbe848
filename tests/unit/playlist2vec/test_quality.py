from __future__ import annotations

from playlist2vec.quality import Pair, pair


def test_the_pair_comes_from_the_instance_that_scored_the_candidate_most() -> None:
    counts = {
        "serve-1": {"cand": {"trials": 40, "hits": 30, "against": "m1", "against_hits": 20}},
        "serve-2": {"cand": {"trials": 90, "hits": 45, "against": "m1", "against_hits": 60}},
        "serve-3": {"cand": {"trials": 500, "hits": 1, "against": "m0", "against_hits": 2}},  # old
        "serve-4": {},
    }
    found = pair(counts, "cand", "m1")
    assert found == Pair("serve-2", "cand", "m1", 90, 45, 60)
    assert (found.recall, found.against_recall) == (0.5, 60 / 90)
    assert pair(counts, "cand", "m2") is None
    assert pair(counts, "other", "m1") is None
