"""Snapshots are built into new files, and a replaced one's files (and stale ones) go."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from serving.indexes import IndexParams
from serving.snapshot import SnapshotBuilder, discard


def test_every_build_writes_new_files_and_discard_removes_them(tmp_path: Path) -> None:
    builder = SnapshotBuilder("exact", IndexParams(), tmp_path / "idx", "inst")
    matrix = np.eye(3, dtype=np.float32)
    first = builder.build("tracks", ["a", "b", "c"], matrix)
    second = builder.build("tracks", ["a", "b", "c"], matrix)
    assert set(first.files).isdisjoint(second.files)
    assert all(p.exists() and p.name.startswith("inst-tracks-") for p in first.files)
    assert first.index.search(matrix[1], 1)[0] == ["b"] and first.built_at > 0
    discard(first)
    discard(None)
    assert not any(p.exists() for p in first.files) and all(p.exists() for p in second.files)


def test_auto_resolves_per_build_and_stale_files_of_the_instance_go(tmp_path: Path) -> None:
    builder = SnapshotBuilder("auto", IndexParams(), tmp_path, "inst")
    snapshot = builder.build("playlists", [1, 2], np.eye(2, dtype=np.float32))
    assert snapshot.index.strategy == "exact"
    other = tmp_path / "other-tracks.npy"
    other.write_bytes(b"")
    builder.remove_stale()
    assert list(tmp_path.iterdir()) == [other]
