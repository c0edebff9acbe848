"""The stream's fold-in plan and write builders, with no server: what a batch of applied
playlists asks of each ledger state (the common path asks nothing), and the guarded writes."""

from __future__ import annotations

import numpy as np
from pymongo import DeleteOne, UpdateOne

from playlist2vec.events import PlaylistEvent
from playlist2vec.vectors import TrackIndex
from streaming import fold, partition
from streaming.fold import Target
from streaming.partition import Latest, Record

INDEX = TrackIndex.of(["k0", "k1"], np.array([[1.0, 0.0], [0.0, 1.0]], np.float32))


def ledger_doc(pid: int, op: str, tracks: list[str], total: list[float], n: int,
               undo: dict[str, object] | None = None) -> dict[str, object]:
    doc: dict[str, object] = {"_id": {"m": "m1", "p": pid}, "op": op, "tracks": tracks,
                              "sum": total, "n": n}
    if undo is not None:
        doc["undo"] = undo
    return doc


def test_known_only_playlists_without_a_ledger_need_nothing() -> None:
    pending, fresh = fold.plan([Target(1, "1@t/0/1", ["k0", "k1"]), Target(2, "2@t/0/2", None)],
                               {}, INDEX)
    assert pending == [] and fresh == []
    assert not fold.has_unseen(["k0", "k1", "k0"], INDEX) and fold.has_unseen(["k0", "x"], INDEX)


def test_a_new_contribution_an_edit_and_a_deletion_are_transitions() -> None:
    ledger = {2: ledger_doc(2, "2@t/0/1", ["x"], [1.0, 0.0], 1),
              3: ledger_doc(3, "3@t/0/1", ["y"], [0.0, 1.0], 1)}
    targets = [Target(1, "1@t/0/5", ["k0", "x"]), Target(2, "2@t/0/6", ["k1", "z"]),
               Target(3, "3@t/0/7", None)]
    pending, fresh = fold.plan(targets, ledger, INDEX)
    assert pending == []
    assert [(t.pid, t.old.tracks, t.new.tracks) for t in fresh] == [
        (1, (), ("x",)), (2, ("x",), ("z",)), (3, ("y",), ())]


def test_a_replayed_record_is_done_and_a_half_done_op_is_rolled_forward() -> None:
    undo = {"tracks": ["x"], "sum": [1.0, 0.0], "n": 1}
    ledger = {1: ledger_doc(1, "1@t/0/5", ["x"], [0.0, 1.0], 1),  # the replayed record: done
              2: ledger_doc(2, "2@t/0/6", ["y"], [0.0, 1.0], 1, undo)}  # crashed half-way
    targets = [Target(1, "1@t/0/5", ["k1", "x"]), Target(2, "2@t/0/6", ["k1", "y"])]
    pending, fresh = fold.plan(targets, ledger, INDEX)
    assert fresh == []
    assert [(t.pid, t.op, t.old.tracks, t.new.tracks) for t in pending] == [
        (2, "2@t/0/6", ("x",), ("y",))]
    # a newer record than the half-done op: the op first, then the new transition from it
    pending, fresh = fold.plan([Target(2, "2@t/0/9", None)], ledger, INDEX)
    assert [t.op for t in pending] == ["2@t/0/6"]
    assert [(t.op, t.old.tracks, t.new.tracks) for t in fresh] == [("2@t/0/9", ("y",), ())]


def test_increments_are_guarded_by_the_op_and_commits_by_the_ledger_op() -> None:
    _, fresh = fold.plan([Target(1, "1@t/0/5", ["k0", "k1", "x"])], {}, INDEX)
    increments, touched = fold.increment_writes("m1", fresh)
    assert touched == {"x"}
    (op,) = increments
    assert op._filter == {"_id": {"m": "m1", "t": "x"}, "ops": {"$ne": "1@t/0/5"}}
    assert op._doc["$inc"] == {"sum.0": 1.0, "sum.1": 1.0, "known": 2, "support": 1, "v": 1}
    assert op._doc["$push"] == {"ops": "1@t/0/5"} and op._upsert
    (commit,) = fold.commit_writes("m1", fresh)
    assert isinstance(commit, UpdateOne) and commit._filter["op"] == "1@t/0/5"
    _, gone = fold.plan([Target(1, "1@t/0/6", None)],
                        {1: ledger_doc(1, "1@t/0/5", ["x"], [1.0, 1.0], 2)}, INDEX)
    assert isinstance(fold.commit_writes("m1", gone)[0], DeleteOne)


def test_vectors_are_set_from_the_minimum_support_conditioned_on_the_version() -> None:
    docs = [{"_id": {"m": "m1", "t": "x"}, "sum": {"0": 2.0, "1": 4.0}, "known": 2, "support": 2,
             "v": 7},
            {"_id": {"m": "m1", "t": "y"}, "sum": {"0": 2.0}, "known": 1, "support": 1, "v": 3,
             "vector": b"old"},
            {"_id": {"m": "m1", "t": "z"}, "sum": {"0": 1.0}, "known": 1, "support": 3, "v": 1}]
    writes, usable, n_set = fold.vector_writes("m1", docs, {"x", "y"}, 2, 2, 0)
    assert set(usable) == {"x", "z"} and n_set == 1  # z is in use but was not touched
    np.testing.assert_array_equal(usable["x"], [1.0, 2.0])
    assert [(w._filter["v"], next(iter(w._doc))) for w in writes] == [(7, "$set"), (3, "$unset")]


def test_fold_targets_take_each_pids_last_applied_record() -> None:
    def record(offset: int, value: bytes | None = b"{}") -> Record:
        return Record(b"1", value, 0, offset, 0)

    tombstoned = Latest(1, tombstone=record(3, None), tombstone_clock=5)
    both = Latest(1, event=PlaylistEvent(pid=1, modified_at=9, name="n", tracks=("k0", "x")),
                  record=record(4))
    deleted = Latest(2, event=PlaylistEvent(pid=2, modified_at=9, name="n", tracks=(), deleted=True),
                     record=record(8))
    targets = partition.fold_targets([tombstoned], [both, deleted], "t")
    assert targets == [Target(1, "1@t/0/4", ("k0", "x")), Target(2, "2@t/0/8", None)]
