"""Stage bookkeeping of the training job (the job itself runs in integration tests)."""

from __future__ import annotations

import pytest

from batch.train import Stages, TrainReport, error_line, vector_bytes
from playlist2vec.errors import InvalidInput, PipelineError


def test_error_line_digs_the_python_error_out_of_a_task_failure() -> None:
    text = ("\n  An exception was thrown from the Python worker.\nTraceback (most recent call last):\n"
            '  File "x.py", line 3, in f\nplaylist2vec.errors.PipelineError: bulk write to t failed: boom\n')
    assert error_line(RuntimeError(text)) == "playlist2vec.errors.PipelineError: bulk write to t failed: boom"
    assert error_line(ValueError("plain")) == "plain"


def test_stages_time_and_name_the_failing_stage() -> None:
    lines: list[str] = []
    stages = Stages(lines.append)
    with stages("fit"):
        pass
    with pytest.raises(PipelineError, match="stage tracks failed: oops"), stages("tracks"):
        raise RuntimeError("oops")
    assert set(stages.seconds) == {"fit"} and stages.current == "tracks"
    with pytest.raises(InvalidInput), stages("read"):
        raise InvalidInput("bad file")  # input errors keep their own type (exit code 2)


def test_the_summary_gives_the_vectors_cost_and_the_search_that_chose_the_knobs() -> None:
    report = TrainReport("w2v-x", {"playlists": 900, "tokens": 60_000}, vocab_size=1_000,
                         written={"playlist_vectors": 900}, vector_bytes=vector_bytes(64, 1_000, 900))
    assert report.vector_bytes == {"per_vector": 256, "track_vectors": 256_000,
                                   "playlist_vectors": 230_400}
    assert "vectors: 0.5 MB of float32 (256 bytes each)" in report.summary()
    assert "tuned" not in report.summary()
    report.tuning = {"best_trial": 2, "trials": [{}, {}, {}, {}], "best_params": {"vector_size": 64},
                     "best_validation": {"scores": {"r_precision": 0.25, "ndcg": 0.5, "clicks": 0.7}},
                     "popularity": {"r_precision": 0.05, "ndcg": 0.13, "clicks": 6.5}}
    assert report.summary().splitlines()[-1] == (
        "tuned: trial 3 of 4 won, vector_size=64; validation R-precision 0.2500 NDCG 0.5000 "
        "clicks 0.70 (popularity 0.0500 0.1300 6.50)")
    report.serving = {"index": "annoy-10", "items": 1_000, "dim": 64, "k500_p99_ms": 4.25,
                      "k500_http_p99_ms": 12.5, "load": 3.2}
    assert report.summary().splitlines()[-1] == (
        "serving cost: k=500 p99 12.5 ms over HTTP (4.2 ms in the index), annoy-10 over 1000 x 64 "
        "vectors, load 3.2")
