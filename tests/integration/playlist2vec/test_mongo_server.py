"""The local MongoDB-wire server (deploy/mongo): change streams as a replica set gives them, durability."""

from __future__ import annotations

import os
import re
import signal
import threading
import uuid
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from datetime import datetime
from typing import Any

import bson
import pytest
from bson import Binary, Code, Decimal128, MaxKey, MinKey, ObjectId, Regex, Timestamp
from pymongo import ReplaceOne
from pymongo.errors import DuplicateKeyError, OperationFailure, PyMongoError

from playlist2vec import store
from playlist2vec.settings import Settings
from playlist2vec.stack import LocalStack
from tests.support.waiting import gather, wait_until

pytestmark = pytest.mark.integration

OPLOG_BOUND = 500


@pytest.fixture(scope="module")
def own_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStack]:
    """A MongoDB-wire server of its own (it gets killed): a small oplog, a snapshot per MB of journal."""
    from tests.conftest import private_settings

    settings = private_settings(
        tmp_path_factory.mktemp("p2v-mongo"), mongo_oplog_entries=OPLOG_BOUND, mongo_snapshot_mb=1
    )
    local = LocalStack(settings)
    local.start_mongo()
    yield local
    local.mongo.stop()


@pytest.fixture
def client() -> Iterator[Callable[[Settings], Any]]:
    """Opens clients to a server for the test (a killed server's clients too); all closed after it."""
    with ExitStack() as opened:
        yield lambda settings: opened.enter_context(
            store.connect(settings.mongo_uri.get_secret_value(), serverSelectionTimeoutMS=5000))


def next_changes(stream: Any, n: int, deadline_s: float = 15.0) -> list[dict[str, Any]]:
    """Up to `n` changes of `stream`, as many as came within `deadline_s`."""
    return gather(lambda _: [c] if (c := stream.try_next()) is not None else [], n, deadline_s)


def test_plain_watch_delivers_each_kind_of_change_and_resumes_after_a_token(db: Any) -> None:
    coll = db["watched"]
    stream = coll.watch()  # no start point: the server's operationTime / postBatchResumeToken
    coll.insert_one({"_id": 1, "v": 1})
    coll.replace_one({"_id": 1}, {"v": 2})
    coll.update_one({"_id": 1}, {"$set": {"w": 3}, "$unset": {"v": ""}})
    coll.delete_one({"_id": 1})
    db["elsewhere"].insert_one({"_id": 9})
    changes = next_changes(stream, 4)
    assert [(c["operationType"], c["documentKey"]) for c in changes] == [
        ("insert", {"_id": 1}),
        ("replace", {"_id": 1}),
        ("update", {"_id": 1}),
        ("delete", {"_id": 1}),
    ]
    assert changes[0]["fullDocument"] == {"_id": 1, "v": 1}
    assert changes[1]["fullDocument"] == {"_id": 1, "v": 2}
    assert changes[2]["updateDescription"]["updatedFields"] == {"w": 3}
    assert changes[2]["updateDescription"]["removedFields"] == ["v"]
    assert [c["clusterTime"] for c in changes] == sorted(c["clusterTime"] for c in changes)
    stream.close()

    coll.insert_one({"_id": 2})  # while nobody follows
    resumed = next_changes(coll.watch(resume_after=changes[1]["_id"]), 3)
    assert [(c["operationType"], c["documentKey"]["_id"]) for c in resumed] == [
        ("update", 1),
        ("delete", 1),
        ("insert", 2),
    ]


def test_id_in_filters_answer_from_the_index_as_the_library_matches(db: Any) -> None:
    coll = db["by_ids"]
    coll.insert_many([{"_id": {"m": "a", "p": i}, "x": i % 3} for i in range(2000)]
                     + [{"_id": i, "x": 0} for i in range(50)] + [{"_id": "s", "x": 1}])
    keys = [{"m": "a", "p": i} for i in range(0, 2000, 7)] + [{"m": "a", "p": 5000}, {"p": 1, "m": "a"}]
    got = {d["_id"]["p"] for d in coll.find({"_id": {"$in": keys + keys[:3]}})}
    assert got == set(range(0, 2000, 7)), "one per key; a missing key or another field order finds nothing"
    got = {d["_id"]["p"] for d in coll.find({"_id": {"$in": keys}, "x": 1})}
    assert got == {p for p in range(0, 2000, 7) if p % 3 == 1}, "the other conditions still apply"
    assert {d["_id"] for d in coll.find({"_id": {"$in": [3, 3.0, "s", 99]}})} == {3, "s"}
    assert list(coll.find({"_id": {"$in": []}})) == []


def test_exclusion_projections_of_change_streams_apply_as_the_library_would(db: Any) -> None:
    """The server applies leading exclusion-only `$project` stages itself (a fast path); any
    other pipeline, and stages after them, run as before."""
    coll = db["projected"]
    excluding = coll.watch([{"$project": {"ns": 0, "fullDocument.big": False}},
                            {"$project": {"updateDescription": 0}}])
    then_matching = coll.watch([{"$project": {"fullDocument.big": 0}},
                                {"$match": {"fullDocument.n": {"$gte": 1}}}])
    including = coll.watch([{"$project": {"fullDocument.n": 1, "operationType": 1}}])
    coll.insert_one({"_id": "a", "n": 0, "big": "x" * 100, "keep": {"big": 1}})
    coll.replace_one({"_id": "a"}, {"n": 1, "big": "y", "keep": 2})
    coll.update_one({"_id": "a"}, {"$set": {"n": 2}})
    changes = next_changes(excluding, 3)
    assert [c["operationType"] for c in changes] == ["insert", "replace", "update"]
    assert [c["fullDocument"] for c in changes[:2]] == [
        {"_id": "a", "n": 0, "keep": {"big": 1}}, {"_id": "a", "n": 1, "keep": 2}]
    assert all("ns" not in c and "updateDescription" not in c and "documentKey" in c for c in changes)
    assert [c["fullDocument"] for c in next_changes(then_matching, 1)] == [{"_id": "a", "n": 1, "keep": 2}]
    assert [c["fullDocument"] for c in next_changes(including, 2)] == [{"n": 0}, {"n": 1}]
    with pytest.raises(OperationFailure):  # an empty projection is no exclusion: refused
        coll.watch([{"$project": {}}])


def test_replacement_upserts_insert_update_or_refuse_as_the_filter_says(db: Any) -> None:
    """A replacement upsert on an absent `_id` inserts directly (a fast path); the answers and
    the stored documents are those of the library's own path, which every other case takes."""
    coll = db["upserts"]
    stream = coll.watch()
    key = {"m": "v", "p": 1}
    newer = {"_id": key, "$or": [{"at": {"$lt": 5}}, {"at": 5, "gone": {"$ne": True}}]}
    result = coll.replace_one(newer, {"at": 5, "tracks": ["a", "b"]}, upsert=True)
    assert (result.upserted_id, result.matched_count, result.modified_count) == (key, 0, 0)
    assert coll.find_one({"_id": key}) == {"_id": key, "at": 5, "tracks": ["a", "b"]}
    with pytest.raises(DuplicateKeyError):  # stored and not older: stale
        coll.replace_one({"_id": key, "at": {"$lt": 4}}, {"at": 4}, upsert=True)
    result = coll.replace_one({"_id": key, "at": {"$lt": 6}}, {"_id": key, "at": 6}, upsert=True)
    assert (result.upserted_id, result.matched_count) == (None, 1)
    with pytest.raises(PyMongoError):  # a replacement may not change the `_id`
        coll.replace_one({"_id": 7}, {"_id": 8}, upsert=True)
    bulk = coll.bulk_write([ReplaceOne({"_id": 2, "at": {"$lt": 1}}, {"at": 1}, upsert=True),
                            ReplaceOne({"_id": 3}, {"_id": 3, "at": 1}, upsert=True)], ordered=False)
    assert bulk.upserted_ids == {0: 2, 1: 3} and coll.count_documents({}) == 3
    assert [(c["operationType"], c["fullDocument"]["at"]) for c in next_changes(stream, 4)] == [
        ("insert", 5), ("replace", 6), ("insert", 1), ("insert", 1)]


def test_update_lookup_reads_the_current_document(db: Any) -> None:
    coll = db["looked_up"]
    stream = coll.watch(full_document="updateLookup")
    coll.insert_one({"_id": "a", "n": 0})
    for n in (1, 2):
        coll.update_one({"_id": "a"}, {"$set": {"n": n}})
    changes = next_changes(stream, 3)
    assert [c["operationType"] for c in changes] == ["insert", "update", "update"]
    assert [c["fullDocument"]["n"] for c in changes[1:]] == [2, 2], "the current state, as updateLookup"


def test_kill_9_during_writes_loses_no_acknowledged_write(
        own_server: LocalStack, client: Any) -> None:
    """Writers do the stream sink's conditional replace upserts; every acknowledged one survives."""
    settings = own_server.settings
    data_dir = settings.home / "mongo" / "db"
    acked: dict[int, int] = {}  # _id -> highest acknowledged version
    lock = threading.Lock()
    stop = threading.Event()

    def writer(base: int) -> None:
        coll = client(settings)["durability"]["docs"]
        next_id = base
        try:
            while not stop.is_set():
                fresh = range(next_id, next_id + 200)
                again = range(max(base, next_id - 200), next_id)  # the previous batch, version 2
                ops = [
                    ReplaceOne({"_id": i, "modified_at": {"$lte": v}}, {"modified_at": v, "pad": "x" * 300},
                               upsert=True)
                    for ids, v in ((fresh, 1), (again, 2))
                    for i in ids
                ]
                coll.bulk_write(ops, ordered=False)
                with lock:
                    acked.update(dict.fromkeys(fresh, 1))
                    acked.update(dict.fromkeys(again, 2))
                next_id += 200
        except PyMongoError:
            return  # the server is gone: what was acknowledged so far is the test's truth

    writers = [threading.Thread(target=writer, args=(w * 10_000_000,)) for w in range(3)]
    for thread in writers:
        thread.start()
    try:
        wait_until(lambda: any(data_dir.glob("snapshot-*")) and len(acked) > 8_000, 120,
                   "snapshot, 8k writes")
        pid = own_server.mongo.pid()
        assert pid is not None
        os.kill(pid, signal.SIGKILL)
    finally:
        stop.set()
        for thread in writers:
            thread.join(60)
    wait_until(lambda: own_server.mongo.pid() is None, 10, "the killed server to be gone")

    own_server.start_mongo()
    coll = client(settings)["durability"]["docs"]
    stored = {d["_id"]: d["modified_at"] for d in coll.find({}, {"modified_at": 1})}
    lost = [i for i, version in acked.items() if stored.get(i, 0) < version]
    assert not lost, f"{len(lost)} of {len(acked)} acknowledged writes lost, e.g. {lost[:5]}"
    assert "journal records" in (settings.home / "logs" / "mongo.log").read_text()


def snapshot_documents(path: Any, ns: str) -> dict[Any, bytes]:
    """The documents of `ns` in a snapshot file, by `_id`, as BSON (frames: a big-endian length
    and CRC, then kind, timestamp, namespace and the document; `p` is a document)."""
    data, at, found = path.read_bytes(), 0, {}
    while at + 8 <= len(data):
        length = int.from_bytes(data[at:at + 4], "big")
        payload = data[at + 8:at + 8 + length]
        ns_length = int.from_bytes(payload[9:11], "big")
        if payload[:1] == b"p" and payload[11:11 + ns_length].decode() == ns:
            document = payload[11 + ns_length:]
            found[bson.decode(document)["_id"]] = document
        at += 8 + length
    return found


def test_a_snapshot_holds_each_document_as_the_server_answers_it(
        own_server: LocalStack, client: Any) -> None:
    """A snapshot writes what was journaled since start-up and encodes what was recovered:
    either way, after inserts, updates, replacements and deletes, the server's documents."""
    settings = own_server.settings
    data_dir = settings.home / "mongo" / "db"
    client(settings)["snapshot"]["docs"].insert_many(
        [{"_id": i, "v": 0, "pad": "x" * 1000} for i in range(300)])
    own_server.mongo.stop()
    own_server.start_mongo()  # all 300 recovered, none journaled since
    db = client(settings)["snapshot"]
    db["docs"].update_many({"_id": {"$lt": 100}}, {"$set": {"v": 1}})
    db["docs"].update_many({"_id": {"$lt": 50}}, {"$inc": {"v": 1}})  # journaled twice
    db["docs"].replace_one({"_id": 100}, {"v": 2, "replaced": True})
    db["docs"].delete_many({"_id": {"$gte": 290}})
    db["docs"].insert_one({"_id": "new", "v": 3})

    def numbers() -> list[int]:
        return sorted(int(p.stem.split("-")[1]) for p in data_dir.glob("snapshot-*.bson"))

    before = numbers()

    def snapshotted() -> bool:  # one follows a journal as large as the last snapshot
        db["filler"].insert_many([{"pad": "y" * 10_000} for _ in range(100)])
        return numbers() != before

    wait_until(snapshotted, 120, "a snapshot", interval_s=0.2)
    newest = data_dir / f"snapshot-{numbers()[-1]:012d}.bson"
    served = {d["_id"]: bson.encode(d) for d in db["docs"].find()}
    assert len(served) == 291
    assert snapshot_documents(newest, "snapshot.docs") == served


def test_restart_keeps_collections_indexes_tokens_and_cuts_a_torn_record(
        own_server: LocalStack, client: Any) -> None:
    db = client(own_server.settings)["restart"]
    db["a"].create_index("k", unique=True)
    db["a"].insert_many([{"_id": i, "k": i} for i in range(10)])
    stream = db["a"].watch()
    db["a"].delete_one({"_id": 0})
    token = next_changes(stream, 1)[0]["_id"]
    db["a"].insert_one({"_id": 10, "k": 10})

    own_server.mongo.stop()
    newest = max((own_server.settings.home / "mongo" / "db").glob("journal-*.log"))
    with newest.open("ab") as journal:  # a record cut short, as by a crash in the middle of a write
        journal.write((1000).to_bytes(4, "big") + b"\x00\x01torn")
    own_server.start_mongo()
    log = (own_server.settings.home / "logs" / "mongo.log").read_text()
    assert re.findall(r"\((\d+) torn bytes cut\)", log)[-1] == "10"
    db = client(own_server.settings)["restart"]
    assert sorted(d["_id"] for d in db["a"].find()) == list(range(1, 11))
    with pytest.raises(PyMongoError, match="duplicate key"):
        db["a"].insert_one({"_id": 99, "k": 5})
    resumed = next_changes(db["a"].watch(resume_after=token), 1)
    assert [(c["operationType"], c["documentKey"]["_id"]) for c in resumed] == [("insert", 10)]


def test_every_bson_type_survives_the_journal_the_oplog_and_a_kill_9(
        own_server: LocalStack, client: Any) -> None:
    """The journal and the oplog encode documents with the server's own writer: what a restart
    recovers and a change stream carries equals what the server answered before."""
    values: dict[str, Any] = {
        "int32": -7, "int64": 2**40, "double": -0.5, "nan": float("nan"), "string": "ünïcødé \u2603",
        "empty": "", "true": True, "false": False, "none": None,
        "date": datetime(2026, 12, 2, 1, 2, 3, 4000), "oid": ObjectId(), "decimal": Decimal128("1.25"),
        "binary": Binary(b"\x00\x01\xff" * 40), "uuid": Binary(uuid.uuid4().bytes, 3),
        "regex": Regex("^a.*", "i"), "timestamp": Timestamp(1_700_000_000, 7),
        "min": MinKey(), "max": MaxKey(), "code": Code("function () {}"),
        "nested": {"a": {"b": [1, "two", {"c": [[], {}]}]}, "e": {}},
        "array": list(range(1500)), "mixed": [None, 1.5, "x", [True], {"k": b"bytes"}],
    }
    coll = client(own_server.settings)["types"]["docs"]
    stream = coll.watch()
    coll.insert_one({"_id": "all", **values})
    coll.replace_one({"_id": "all"}, {**values, "replaced": True})
    before = coll.find_one({"_id": "all"})
    carried = [c["fullDocument"] for c in next_changes(stream, 2)]
    inserted = {k: v for k, v in before.items() if k != "replaced"}
    assert [bson.encode(d) for d in carried] == [bson.encode(inserted), bson.encode(before)]

    pid = own_server.mongo.pid()
    assert pid is not None
    os.kill(pid, signal.SIGKILL)
    wait_until(lambda: own_server.mongo.pid() is None, 10, "the killed server to be gone")
    own_server.start_mongo()
    after = client(own_server.settings)["types"]["docs"].find_one({"_id": "all"})
    assert bson.encode(after) == bson.encode(before), "the same document, byte for byte"


def test_oplog_stays_within_its_bound_and_an_expired_token_gets_error_286(
        own_server: LocalStack, client: Any) -> None:
    admin = client(own_server.settings).admin
    coll = client(own_server.settings)["bounded"]["docs"]
    follower = coll.watch()
    coll.insert_one({"_id": "first"})
    first = next_changes(follower, 1)[0]["_id"]
    followed = 0
    for batch in range(25):  # 5,000 events through a 500-entry oplog, a follower keeping up
        ops = [ReplaceOne({"_id": i}, {"b": batch}, upsert=True) for i in range(200)]
        coll.bulk_write(ops, ordered=False)
        followed += len(next_changes(follower, 200))
        oplog = admin.command("serverStatus")["oplog"]
        assert oplog["entries"] <= OPLOG_BOUND
    assert followed == 25 * 200, "a follower that keeps up loses nothing to trimming"
    assert oplog["entries"] == OPLOG_BOUND

    with pytest.raises(OperationFailure) as refused:
        next_changes(coll.watch(resume_after=first), 1)
    assert refused.value.code == 286  # ChangeStreamHistoryLost: the serving reloads fully
    recent = coll.watch(resume_after=follower.resume_token)
    assert next_changes(recent, 1, 0.5) == [], "a recent token still resumes"

