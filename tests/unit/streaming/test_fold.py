"""The stream's fold-in plan and write builders, with no server: what a batch of applied
playlists asks of each ledger state (the common path asks nothing), and the guarded writes."""

from __future__ import annotations

from datetime import datetime

import numpy as np
from pymongo import InsertOne, ReplaceOne

from playlist2vec import store, vectors
from playlist2vec.events import PlaylistEvent
from playlist2vec.foldin import Delta
from playlist2vec.vectors import TrackIndex
from streaming import fold, partition
from streaming.fold import Target
from streaming.partition import Latest, Record

INDEX = TrackIndex.of(["k0", "k1"], np.array([[1.0, 0.0], [0.0, 1.0]], np.float32))


def ledger_doc(pid: int, op: str, tracks: list[str], total: list[float], n: int,
               batch: str = "b0", prev: dict[str, object] | None = None) -> dict[str, object]:
    return {"_id": {"m": "m1", "p": pid}, "op": op, "tracks": tracks,
            "sum": fold.encode_sum(np.array(total)), "n": n, "batch": batch,
            "prev": prev or {"tracks": [], "sum": fold.encode_sum(np.zeros(2)), "n": 0}}


def test_known_only_playlists_without_a_ledger_need_nothing() -> None:
    assert fold.plan([Target(1, "1@t/0/1", ["k0", "k1"]), Target(2, "2@t/0/2", None)], {}, INDEX) == []
    assert not fold.has_unseen(["k0", "k1", "k0"], INDEX) and fold.has_unseen(["k0", "x"], INDEX)


def test_a_new_contribution_an_edit_and_a_deletion_are_transitions() -> None:
    ledger = {2: ledger_doc(2, "2@t/0/1", ["x"], [1.0, 0.0], 1),
              3: ledger_doc(3, "3@t/0/1", ["y"], [0.0, 1.0], 1)}
    targets = [Target(1, "1@t/0/5", ["k0", "x"]), Target(2, "2@t/0/6", ["k1", "z"]),
               Target(3, "3@t/0/7", None)]
    fresh = fold.plan(targets, ledger, INDEX)
    assert [(t.pid, t.old.tracks, t.new.tracks) for t in fresh] == [
        (1, (), ("x",)), (2, ("x",), ("z",)), (3, ("y",), ())]
    assert fold.plan([Target(2, "2@t/0/1", ["k1", "z"])], ledger, INDEX) == []  # a replay: done
    assert fold.source_of(targets) == "t/0"


def test_a_batch_sums_its_deltas_per_track() -> None:
    fresh = fold.plan([Target(1, "1@t/0/5", ["k0", "x"]), Target(2, "2@t/0/6", ["k1", "x", "y"]),
                       Target(3, "3@t/0/7", None)],
                      {3: ledger_doc(3, "3@t/0/1", ["x"], [0.0, 3.0], 3)}, INDEX)
    deltas = fold.total_deltas(fresh)
    assert set(deltas) == {"x", "y"}
    assert (deltas["x"].support, deltas["x"].n) == (1 + 1 - 1, 1 + 1 - 3)
    np.testing.assert_array_equal(deltas["x"].sum, [1.0, 1.0 - 3.0])


def test_the_ledger_records_the_batch_and_what_it_replaced_so_a_crash_can_be_rolled_forward() -> None:
    old = ledger_doc(2, "2@t/0/1", ["x"], [1.0, 0.0], 1)
    fresh = fold.plan([Target(2, "2@t/0/6", ["k1", "z"])], {2: old}, INDEX)
    (write,) = fold.ledger_writes("m1", "b7", fresh)
    doc = {"_id": {"m": "m1", "p": 2}, **write._doc}
    assert doc["batch"] == "b7" and doc["op"] == "2@t/0/6"
    (again,) = fold.recorded([doc, old], "b7")  # the other batch's document is not this batch's
    assert (again.old.tracks, again.new.tracks) == (("x",), ("z",))
    np.testing.assert_array_equal(again.old.sum, [1.0, 0.0])
    (created,) = fold.ledger_writes("m1", "b7", fold.plan([Target(1, "1@t/0/7", ["k0", "x"])], {}, INDEX))
    assert "prev" not in created._doc  # nothing replaced: nothing to keep
    journal = fold.journal_write("m1", "t/0", "b7", fresh)
    assert journal._filter == {"_id": {"m": "m1", "s": "t/0"}} and journal._doc["pids"] == [2]


def test_each_track_is_written_once_whole_conditioned_on_the_version_and_marked() -> None:
    fresh = fold.plan([Target(1, "1@t/0/5", ["k0", "k1", "x", "y"]), Target(2, "2@t/0/6", ["k0", "x"])],
                      {}, INDEX)
    docs = {"x": {"_id": {"m": "m1", "t": "x"}, "sum": fold.encode_sum(np.array([2.0, 0.0])),
                  "known": 2, "support": 1, "v": 7, "applied": [["t/1", "other"], ["t/0", "old"]]},
            "y": {"_id": {"m": "m1", "t": "y"}, "support": 1, "v": 3, "applied": [["t/0", "b1"]]}}
    writes = fold.track_writes("m1", "t/0", "b1", fold.total_deltas(fresh), docs, 2, 3, 0,
                               datetime(2026, 1, 1))
    assert set(writes) == {"x"}  # y already carries this batch's mark: applied
    op, doc = writes["x"]
    assert isinstance(op, ReplaceOne) and op._filter == {"_id": {"m": "m1", "t": "x"}, "v": 7}
    assert (doc["support"], doc["known"], doc["v"]) == (3, 5, 8)
    assert doc["applied"] == [["t/0", "b1"], ["t/1", "other"]]
    np.testing.assert_allclose(vectors.decode(doc["vector"]), [(2 + 1 + 1) / 5, 1 / 5], rtol=1e-6)
    new = fold.track_writes("m1", "t/0", "b2", fold.total_deltas(fresh), {}, 2, 3, 0, datetime.now())
    assert isinstance(new["y"][0], InsertOne) and "vector" not in new["y"][1]  # support 1 < 3
    assert doc[store.SERVED] and store.SERVED not in new["y"][1]  # serving sees x, not y
    dropped = fold.track_writes("m1", "t/0", "b3", {"x": Delta(np.zeros(2), 0, -2)},
                                {"x": doc}, 2, 3, 0, datetime.now())
    assert "vector" not in dropped["x"][1] and dropped["x"][1][store.SERVED]  # the vector went


def test_a_pruned_track_is_not_recreated_by_a_decrement() -> None:
    ledger = {1: ledger_doc(1, "1@t/0/1", ["x"], [1.0, 0.0], 1)}
    fresh = fold.plan([Target(1, "1@t/0/2", None)], ledger, INDEX)
    assert fold.track_writes("m1", "t/0", "b", fold.total_deltas(fresh), {}, 2, 3, 0,
                             datetime.now()) == {}


def test_a_stored_sum_of_the_earlier_layout_still_reads() -> None:
    state = fold.state_of({"sum": {"0": 1.5}, "known": 2, "support": 1}, 2)
    np.testing.assert_array_equal(state.sum, [1.5, 0.0])
    np.testing.assert_array_equal(fold.decode_sum([1.0, 2.0], 2), [1.0, 2.0])


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


def test_forgetting_tracks_pulls_them_from_the_ledger_documents_that_list_them() -> None:
    ledger = [{"_id": {"m": "m1", "p": 1}, "tracks": ["x", "y"], "prev": {"tracks": ["z"]}},
              {"_id": {"m": "m1", "p": 2}, "tracks": ["y"]},
              {"_id": {"m": "m1", "p": 3}, "tracks": ["w"], "prev": {"tracks": ["x"]}}]
    writes = fold.forget_writes(ledger, {"x", "z"})
    assert [(w._filter["_id"]["p"], w._doc["$pull"]) for w in writes] == [
        (1, {"tracks": {"$in": ["x"]}, "prev.tracks": {"$in": ["z"]}}),
        (3, {"prev.tracks": {"$in": ["x"]}})]
    assert fold.settled({"applied": [["t/0", "b1"], ["t/1", "b2"]]}, {"t/0": "b0", "t/1": None})
    assert not fold.settled({"applied": [["t/0", "b1"]]}, {"t/0": "b1"})
