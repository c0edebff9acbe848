"""Projector files: aligned rows, a header, TSV-safe names, the standalone config; uniform sampling."""

from __future__ import annotations

import json
import random
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from batch.projector import reservoir, write_projector


def test_files_line_up_and_names_cannot_break_the_tsv(tmp_path: Path) -> None:
    matrix = np.array([[0.5, -1.25, 3.0], [1e-8, 2.0, -0.0]], dtype=np.float32)
    rows = [("t:1", "Tab\there", "New\nline", 3), ("t:2", None, "Ünïcödé", 1)]
    columns = ("track_uri", "track_name", "artist_name", "count")
    write_projector(tmp_path, "tracks (m1)", matrix, columns, rows)

    lines = (tmp_path / "metadata.tsv").read_text(encoding="utf-8").splitlines()
    assert lines == ["track_uri\ttrack_name\tartist_name\tcount", "t:1\tTab here\tNew line\t3",
                     "t:2\t\tÜnïcödé\t1"]
    loaded = np.loadtxt(tmp_path / "vectors.tsv", delimiter="\t", ndmin=2)
    np.testing.assert_allclose(loaded, matrix, rtol=1e-6)
    config = json.loads((tmp_path / "projector_config.json").read_text())
    assert config == {"embeddings": [{"tensorName": "tracks (m1)", "tensorShape": [2, 3],
                                      "tensorPath": "vectors.tsv", "metadataPath": "metadata.tsv"}]}


def test_mismatched_rows_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="1 metadata rows for 2 vectors"):
        write_projector(tmp_path, "x", np.zeros((2, 2)), ("a",), [("only",)])


def test_reservoir_keeps_all_without_a_size_and_samples_uniformly_with_one() -> None:
    assert reservoir(iter(range(5)), None, random.Random(0)) == [0, 1, 2, 3, 4]
    assert sorted(reservoir(iter(range(5)), 10, random.Random(0))) == [0, 1, 2, 3, 4]
    counts: Counter[int] = Counter()
    rng = random.Random(1)
    for _ in range(4_000):
        sample = reservoir(iter(range(20)), 5, rng)
        assert len(set(sample)) == 5
        counts.update(sample)
    # each item is kept with probability 5/20: 1,000 times out of 4,000 give or take noise
    assert min(counts.values()) > 850 and max(counts.values()) < 1_150 and len(counts) == 20
