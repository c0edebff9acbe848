"""Stage bookkeeping of the training job (the job itself runs in integration tests)."""

from __future__ import annotations

import pytest

from batch.train import Stages, error_line
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
