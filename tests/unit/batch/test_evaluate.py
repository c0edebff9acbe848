"""Hold-out cases and scoring, on vectors whose right answer is known."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from batch.evaluate import EvalOptions, holdout_cases, parse_sweep, score_popularity, score_vectors
from batch.word2vec import Word2VecParams
from playlist2vec.errors import InvalidInput


def test_cases_split_seed_and_truth_and_skip_short_playlists() -> None:
    cases = holdout_cases([(1, ["a", "b", "c", "a"]), (2, ["a", "b"])], seed_tracks=2)
    assert len(cases) == 1
    assert cases[0].seeds == ("a", "b") and cases[0].truth == frozenset({"c"})


def test_vectors_find_the_cluster_and_beat_popularity() -> None:
    rng = np.random.default_rng(0)
    centres = rng.normal(size=(2, 8))
    vecs = {f"{c}{i}": (centres[c] + 0.05 * rng.normal(size=8)).astype(np.float32)
            for c in range(2) for i in range(10)}
    cases = holdout_cases([(1, ["00", "01"] + [f"0{i}" for i in range(2, 10)]),
                           (2, ["10", "11"] + [f"1{i}" for i in range(2, 10)]),
                           (3, ["zz", "yy", "00"])], seed_tracks=2)
    scores = score_vectors(cases, vecs, k=8)
    assert scores.playlists == 3 and scores.cold == 1
    assert scores.r_precision == 2 / 3  # both known playlists perfect, the cold one empty
    # popularity puts cluster 0 first: right for playlist 1 only
    ranked = [(t, 100 - i) for i, t in enumerate(sorted(vecs))]
    assert score_popularity(cases[:2], ranked, k=8).r_precision == 0.5
    assert score_vectors(cases[:2], vecs, k=8).r_precision == 1.0


def test_sweep_specs_become_one_knob_at_a_time_variants() -> None:
    base = Word2VecParams(window=5, vector_size=32)
    options = EvalOptions.from_flags("corpus", params=base,
                                     sweep=["window=2,10", "step_size=0.05"])
    assert [label for label, _ in options.variants] == ["window=2", "window=10", "step_size=0.05"]
    assert options.variants[1][1] == replace(base, window=10)
    assert options.variants[2][1].step_size == 0.05 and options.variants[2][1].window == 5
    assert EvalOptions.from_flags("corpus").variants == ()


@pytest.mark.parametrize("spec, message", [
    ("colour=2", "--sweep expects KNOB=V1,V2 with KNOB one of"),
    ("window=", "--sweep expects KNOB=V1,V2"),
    ("window=2,x", "--sweep window=2,x: values must be numbers"),
])
def test_a_malformed_sweep_is_refused(spec: str, message: str) -> None:
    with pytest.raises(InvalidInput, match=message):
        parse_sweep([spec])
