"""Live quality with plain objects: which edits are trials, hits against a known top k, the
shadow's counts beside the active model's, and the queue that never blocks the follower."""

from __future__ import annotations

from typing import Any

import numpy as np
from prometheus_client import CollectorRegistry

from playlist2vec import recommend, vectors
from playlist2vec.events import CANARY_PIDS
from serving.metrics import ServingMetrics
from serving.quality import LiveQuality, Scorer
from serving.state import TrackVectors

# 1-D world: tracks a0..a4 point one way, b0..b4 the other; top 5 of an `a` playlist is the
# other `a` tracks
URIS = [f"a{i}" for i in range(5)] + [f"b{i}" for i in range(5)]
MATRIX = np.array([[1.0, 0.01 * i] for i in range(5)] + [[-1.0, 0.01 * i] for i in range(5)],
                  np.float32)


def scorer(version: str, matrix: np.ndarray = MATRIX) -> Scorer:
    return Scorer(version, TrackVectors(URIS, matrix),
                  recommend.exact_search(URIS, vectors.normalize(matrix)))


def quality(k: int = 4) -> tuple[LiveQuality, ServingMetrics, list[dict[str, Any]]]:
    metrics = ServingMetrics(CollectorRegistry())
    saved: list[dict[str, Any]] = []
    live = LiveQuality(metrics, {}, lambda counts: saved.append({v: dict(c) for v, c in counts.items()}),
                       k=k)
    live.start()
    return live, metrics, saved


def test_added_tracks_are_trials_and_hits_when_the_previous_top_k_held_them() -> None:
    live, metrics, saved = quality()
    good = scorer("good")
    # another model puts a0, a1 beside the b tracks and a2..a4 on the far side
    flipped = scorer("flipped", np.abs(MATRIX) * np.array([[1], [1], [-1], [-1], [-1]] + [[1]] * 5,
                                                          np.float32))
    live.change(1, ["a0", "a1"], good, [flipped])  # first sight: remembered, no trial
    live.change(1, ["a0", "a1", "a2", "b0"], good, [flipped])  # adds a2 (hit), b0 (miss)
    live.change(1, ["a0", "a1", "a2", "b0"], good, [flipped])  # nothing added: no trial
    live.change(2, ["a3"], good, [flipped])
    live.change(2, None, good, [flipped])  # deleted: forgotten
    live.change(2, ["a3", "a4"], good, [flipped])  # first sight again: no trial
    live.change(CANARY_PIDS.start, ["a0"], good, [flipped])
    live.change(CANARY_PIDS.start, ["a0", "a1"], good, [flipped])  # canaries are no trials
    live.wait_idle()
    get = metrics.registry.get_sample_value
    assert get("p2v_online_trials_total", {"model": "good"}) == 2
    assert get("p2v_online_hits_total", {"model": "good"}) == 1
    assert get("p2v_online_trials_total", {"model": "flipped"}) == 2
    assert get("p2v_online_hits_total", {"model": "flipped"}) == 1  # b0 now, not a2
    live.stop()
    assert saved[-1] == {"good": {"trials": 2, "hits": 1},
                         "flipped": {"trials": 2, "hits": 1, "against": "good", "against_hits": 1}}


def test_a_shadow_that_ranks_nothing_right_scores_no_hit() -> None:
    live, _, saved = quality(k=3)
    rng = np.random.default_rng(0)
    noise = scorer("noise", rng.permutation(MATRIX))
    good = scorer("good")
    for pid in range(20):
        live.change(pid, ["a0", "a1"], good, [noise])
        live.change(pid, ["a0", "a1", "a2", "a3", "a4"], good, [noise])
    live.stop()
    counts = saved[-1]
    assert counts["good"] == {"trials": 60, "hits": 60}
    assert counts["noise"]["trials"] == 60 and counts["noise"]["against_hits"] == 60
    assert counts["noise"]["hits"] < 60


def test_a_new_active_model_restarts_the_comparison_and_stored_counts_continue() -> None:
    metrics = ServingMetrics(CollectorRegistry())
    saved: list[dict[str, Any]] = []
    stored: dict[str, dict[str, Any]] = {
        "cand": {"trials": 7, "hits": 7, "against": "old", "against_hits": 1},
        "good": {"trials": 3, "hits": 2}}
    live = LiveQuality(metrics, stored, lambda c: saved.append({v: dict(x) for v, x in c.items()}))
    live.start()
    live.change(1, ["a0"], scorer("good"), [scorer("cand")])
    live.change(1, ["a0", "a1"], scorer("good"), [scorer("cand")])
    live.stop()
    assert saved[-1]["cand"] == {"trials": 1, "hits": 1, "against": "good", "against_hits": 1}
    assert saved[-1]["good"] == {"trials": 4, "hits": 3}


def test_a_full_queue_drops_trials_instead_of_blocking() -> None:
    metrics = ServingMetrics(CollectorRegistry())
    live = LiveQuality(metrics, {}, lambda _: None)  # never started: nothing drains the queue
    good = scorer("good")
    for pid in range(1_100):
        live.change(pid, ["a0"], good, [])
        live.change(pid, ["a0", "a1"], good, [])
    assert metrics.registry.get_sample_value("p2v_online_dropped_total") == 100


def test_trials_rank_provisional_tracks_as_served_answers_do() -> None:
    # a provisional track "new" among the a tracks, searched beside them
    uris, matrix = [*URIS, "new"], np.vstack([MATRIX, [[1.0, 0.015]]]).astype(np.float32)
    track_vectors = TrackVectors(URIS, MATRIX, {"new": matrix[-1]})
    search = recommend.exact_search(uris, vectors.normalize(matrix))
    for penalty, hits in ((0.0, 1), (0.5, 0)):  # the top 2: "new" first, or a3, a4
        live, metrics, _ = quality(k=2)
        active = Scorer("m", track_vectors, search, penalty)
        live.change(1, ["a0", "a1", "a2"], active, [])
        live.change(1, ["a0", "a1", "a2", "new"], active, [])
        live.wait_idle()
        assert metrics.registry.get_sample_value("p2v_online_hits_total", {"model": "m"}) == hits
        live.stop()
    # a provisional seed beside trained ones does not move the query
    assert np.array_equal(track_vectors.query(["a0", "new"]), track_vectors.query(["a0"]))
    assert np.array_equal(track_vectors.query(["new"]), matrix[-1])
