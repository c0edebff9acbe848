"""Fold-in state in the real MongoDB-wire server, without Spark: support follows edits and
deletions, and a batch re-run after a crash at any step never counts a playlist twice.

The expected state comes from `playlist2vec.foldin.FoldIn` (the in-memory reference, unit
tested on its own) fed the same playlists."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from playlist2vec import store, vectors
from playlist2vec.foldin import FoldIn
from playlist2vec.vectors import TrackIndex
from streaming import fold
from streaming.fold import Target

pytestmark = [pytest.mark.integration]

VERSION = "m1"
MIN_SUPPORT = 2
KNOWN = [f"spotify:track:known{i:02d}" for i in range(6)]
NEW, OTHER = "spotify:track:new0001", "spotify:track:new0002"


@pytest.fixture
def index() -> TrackIndex:
    return TrackIndex.of(KNOWN, np.random.default_rng(3).normal(size=(len(KNOWN), 4)))


class Run:
    """Feeds the same playlists to the stream's MongoDB fold-in and to the reference."""

    def __init__(self, db: Any, index: TrackIndex) -> None:
        self.db, self.index = db, index
        self.reference = FoldIn(index, MIN_SUPPORT)
        self.offset = 0

    def target(self, pid: int, tracks: list[str] | None) -> Target:
        self.offset += 1
        self.reference.update(pid, tracks)
        return Target(pid, fold.op_id(pid, {"topic": "t", "partition": 0, "offset": self.offset}),
                      tracks)

    def batch(self, *playlists: tuple[int, list[str] | None]) -> dict[str, np.ndarray]:
        targets = [self.target(pid, tracks) for pid, tracks in playlists]
        usable, _ = fold.fold(self.db, VERSION, self.index, targets, MIN_SUPPORT, 0)
        return usable

    def stored(self, track: str) -> dict[str, Any] | None:
        return self.db[store.TRACK_VECTORS].find_one({"_id": {"m": VERSION, "t": track}})

    def check(self, released: bool = True) -> None:
        """Every unseen track's stored state is the reference's, its vector present exactly
        from the minimum support on, no op is left pending (nor, unless a crash came between
        the commit and the release, unreleased)."""
        for track in (NEW, OTHER):
            doc, support = self.stored(track), self.reference.support(track)
            assert (doc["support"] if doc else 0) == support, track
            expected = self.reference.vectors().get(track)
            if expected is None:
                assert doc is None or "vector" not in doc, track
            else:
                assert doc is not None and doc["provisional"] is True
                assert doc["ops"] == [] or not released
                np.testing.assert_allclose(vectors.decode(doc["vector"]), expected, rtol=1e-5)
        assert self.db[store.FOLD_IN].count_documents({"undo": {"$exists": True}}) == 0


def test_support_follows_edits_and_deletions(db: Any, index: TrackIndex) -> None:
    run = Run(db, index)
    assert run.batch((1, [KNOWN[0], NEW, KNOWN[1], NEW])) == {}  # support 1: no vector yet
    run.check()
    usable = run.batch((2, [NEW, KNOWN[2]]), (3, [KNOWN[3], KNOWN[4]]))  # support 2
    assert set(usable) == {NEW}
    run.check()
    run.batch((2, [OTHER, KNOWN[2], KNOWN[5]]))  # an edit moves pid 2 from NEW to OTHER
    run.check()
    assert run.stored(NEW)["support"] == 1 and run.stored(OTHER)["support"] == 1
    run.batch((1, [KNOWN[0], NEW, OTHER]), (4, [OTHER, KNOWN[1]]))  # pid 1 edited, still NEW
    run.check()
    run.batch((4, None), (1, None))  # deletions
    run.check()
    assert run.stored(NEW) is None  # nothing left: the document is gone
    assert db[store.FOLD_IN].count_documents({}) == 1  # only pid 2 still contributes


def test_only_unseen_only_or_known_only_playlists_contribute_nothing(db: Any, index: TrackIndex) -> None:
    run = Run(db, index)
    run.batch((1, [NEW, OTHER]), (2, KNOWN[:3]), (3, []))
    run.check()
    assert db[store.FOLD_IN].count_documents({}) == 0
    assert db[store.TRACK_VECTORS].count_documents({}) == 0


@pytest.mark.parametrize("crash_after", ["ledger", "increments", "vectors", "commit"])
def test_a_batch_re_run_after_a_crash_counts_nothing_twice(db: Any, index: TrackIndex,
                                                           crash_after: str) -> None:
    run = Run(db, index)
    run.batch((1, [NEW, KNOWN[0]]), (2, [NEW, KNOWN[1], OTHER]))
    edit = run.target(1, [OTHER, KNOWN[2]])
    ledger = {d["_id"]["p"]: d for d in db[store.FOLD_IN].find()}
    _, fresh = fold.plan([edit], ledger, index)
    # the steps of `fold._run`, interrupted after `crash_after`
    store.bulk_write(db[store.FOLD_IN], fold.ledger_writes(VERSION, fresh))
    if crash_after != "ledger":
        increments, touched = fold.increment_writes(VERSION, fresh)
        store.bulk_write(db[store.TRACK_VECTORS], increments[:1] if crash_after == "increments"
                         else increments, tolerate=fold.STALE_OK)
    if crash_after in ("vectors", "commit"):
        docs = db[store.TRACK_VECTORS].find({"_id.m": VERSION, "provisional": True})
        writes, _, _ = fold.vector_writes(VERSION, docs, touched, 4, MIN_SUPPORT, 0)
        store.bulk_write(db[store.TRACK_VECTORS], writes)
    if crash_after == "commit":
        store.bulk_write(db[store.FOLD_IN], fold.commit_writes(VERSION, fresh))
    # the re-run: the same record again
    fold.fold(db, VERSION, index, [edit], MIN_SUPPORT, 0)
    run.check(released=crash_after != "commit")
    # and a replay of everything once more changes nothing
    fold.fold(db, VERSION, index, [edit], MIN_SUPPORT, 0)
    run.check(released=crash_after != "commit")
