"""Fold-in state in the real MongoDB-wire server, without Spark: support follows edits and
deletions, and a batch re-run after a crash at any step never counts a playlist twice.

The expected state comes from `playlist2vec.foldin.FoldIn` (the in-memory reference, unit
tested on its own) fed the same playlists."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
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

    def target(self, pid: int, tracks: list[str] | None, partition: int = 0) -> Target:
        self.offset += 1
        self.reference.update(pid, tracks)
        return Target(pid, fold.op_id(pid, {"topic": "t", "partition": partition,
                                            "offset": self.offset}), tracks)

    def batch(self, *playlists: tuple[int, list[str] | None]) -> dict[str, np.ndarray]:
        targets = [self.target(pid, tracks) for pid, tracks in playlists]
        usable, _ = fold.fold(self.db, VERSION, self.index, targets, MIN_SUPPORT, 0)
        return usable

    def stored(self, track: str) -> dict[str, Any] | None:
        return self.db[store.TRACK_VECTORS].find_one({"_id": {"m": VERSION, "t": track}})

    def check(self) -> None:
        """Every unseen track's stored state is the reference's, its vector present exactly
        from the minimum support on, and no batch is left in progress."""
        for track in (NEW, OTHER):
            doc, support = self.stored(track), self.reference.support(track)
            assert (doc["support"] if doc else 0) == support, track
            expected = self.reference.vectors().get(track)
            if expected is None:
                assert doc is None or "vector" not in doc, track
            else:
                assert doc is not None and doc["provisional"] is True
                np.testing.assert_allclose(vectors.decode(doc["vector"]), expected, rtol=1e-5)
        assert self.db[store.FOLD_IN_BATCHES].count_documents({"pending": {"$exists": True}}) == 0


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


@pytest.mark.parametrize("then", ["replay", "another batch"])
@pytest.mark.parametrize("crash_after", ["journal", "ledger", "one track", "tracks", "journal done"])
def test_a_batch_interrupted_at_any_step_counts_nothing_twice(db: Any, index: TrackIndex,
                                                               crash_after: str, then: str) -> None:
    """A crash after each step of `fold.fold`, then either the same records again (Spark
    re-runs the batch) or other records of the partition (a replay with other batch bounds)."""
    run = Run(db, index)
    run.batch((1, [NEW, KNOWN[0]]), (2, [NEW, KNOWN[1], OTHER]))
    edit = run.target(1, [OTHER, KNOWN[2]])  # NEW -1, OTHER +1: two tracks to write
    ledger = {d["_id"]["p"]: d for d in db[store.FOLD_IN].find()}
    fresh = fold.plan([edit], ledger, index)
    source, batch = fold.source_of([edit]), "crashed"
    store.bulk_write(db[store.FOLD_IN_BATCHES], [fold.journal_write(VERSION, source, batch, fresh)])
    if crash_after != "journal":
        store.bulk_write(db[store.FOLD_IN], fold.ledger_writes(VERSION, batch, fresh))
    if crash_after in ("one track", "tracks", "journal done"):
        deltas = fold.total_deltas(fresh)
        assert len(deltas) == 2
        docs, _ = fold.apply(db, VERSION, source, batch,
                             dict(list(deltas.items())[:1]) if crash_after == "one track" else deltas,
                             set(), 4, MIN_SUPPORT, 0)
    if crash_after == "journal done":
        fold.finish(db, VERSION, source, batch, fresh, docs)
    if then == "replay":
        fold.fold(db, VERSION, index, [edit], MIN_SUPPORT, 0)
        run.check()
        fold.fold(db, VERSION, index, [edit], MIN_SUPPORT, 0)  # and once more: nothing changes
    else:  # other records first (the crashed batch is finished before them), the edit later
        run.batch((3, [NEW, KNOWN[3]]))
        if crash_after != "journal":  # the ledger named the edit: it was rolled forward
            run.check()
        fold.fold(db, VERSION, index, [edit], MIN_SUPPORT, 0)
    run.check()


@pytest.mark.parametrize("existing", [True, False], ids=["replace", "insert"])
def test_a_track_write_that_lost_to_another_partition_is_redone(db: Any, index: TrackIndex,
                                                                 existing: bool) -> None:
    run = Run(db, index)
    run.batch(*[(1, [NEW, KNOWN[0]])] * existing, (2, [OTHER, KNOWN[0]]))
    mine = run.target(3, [NEW, OTHER, KNOWN[1]])
    deltas = fold.total_deltas(fold.plan([mine], {}, index))
    docs = {d["_id"]["t"]: d for d in db[store.TRACK_VECTORS].find({"provisional": True})}
    # partition 1 writes NEW between partition 0's read and its write
    fold.fold(db, VERSION, index, [run.target(4, [NEW, KNOWN[2]], partition=1)], MIN_SUPPORT, 0)
    lost, _ = fold.write_tracks(db, VERSION, "t/0", "b", deltas, docs, 4, MIN_SUPPORT, 0)
    assert lost == {NEW}
    assert docs[NEW]["support"] == 1 + existing  # what partition 1 left, to be redone from
    fold.apply(db, VERSION, "t/0", "b", deltas, set(), 4, MIN_SUPPORT, 0)
    run.check()
    assert [source for source, _ in run.stored(NEW)["applied"]] == ["t/0", "t/1"]


def test_idle_tracks_below_the_minimum_support_are_forgotten_and_count_again_from_scratch(
        db: Any, index: TrackIndex) -> None:
    run = Run(db, index)
    run.batch((1, [NEW, KNOWN[0]]), (2, [OTHER, KNOWN[1]]), (3, [OTHER, KNOWN[2], NEW]))
    assert (run.stored(NEW)["support"], run.stored(OTHER)["support"]) == (2, 2)
    run.batch((3, [OTHER, KNOWN[2]]))  # NEW falls back below the minimum
    later = datetime.now(UTC) + timedelta(seconds=1)
    assert fold.prune(db, VERSION, MIN_SUPPORT, datetime.now(UTC) - timedelta(hours=1)) == 0  # not idle
    # a batch in progress that marks NEW (a crash) keeps it: its roll-forward needs the mark
    source, batch = run.stored(NEW)["applied"][0]
    db[store.FOLD_IN_BATCHES].replace_one({"_id": fold.journal_key(VERSION, source)},
                                          {"pending": batch, "pids": []})
    assert fold.prune(db, VERSION, MIN_SUPPORT, later) == 0
    db[store.FOLD_IN_BATCHES].replace_one({"_id": fold.journal_key(VERSION, source)}, {"done": batch})
    assert fold.prune(db, VERSION, MIN_SUPPORT, later) == 1
    assert run.stored(NEW) is None and run.stored(OTHER)["support"] == 2  # at the minimum: kept
    assert db[store.FOLD_IN].find_one({"_id": fold.ledger_key(VERSION, 1)})["tracks"] == []
    # pid 1 (which held NEW) deleted: nothing to undo, NEW is not brought back below zero
    run.batch((1, None))
    run.check()
    run.batch((4, [NEW, KNOWN[4]]))  # added again: counted from this playlist on
    run.check()
    assert run.stored(NEW)["support"] == 1


def test_a_trained_vector_of_the_model_is_never_overwritten(db: Any, index: TrackIndex) -> None:
    """A track the stream's table lacks but the model has (written after the table was loaded)
    keeps its trained vector; the batch's other tracks fold in."""
    trained = {"_id": {"m": VERSION, "t": NEW}, "vector": vectors.encode(np.ones(4), 0), "count": 5}
    db[store.TRACK_VECTORS].insert_one(trained)
    Run(db, index).batch((1, [NEW, OTHER, KNOWN[0]]))
    stored = db[store.TRACK_VECTORS].find_one({"_id": trained["_id"]})
    assert stored == {**trained, "vector": bytes(trained["vector"])}  # untouched
    assert db[store.TRACK_VECTORS].find_one({"_id": {"m": VERSION, "t": OTHER}})["support"] == 1
