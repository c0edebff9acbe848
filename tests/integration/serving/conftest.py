"""Serving fixtures: a seeded active model in a fresh database, and engines/apps over it.

Known answer: tracks sit in 4 well-separated clusters (cluster c around basis vector e_c),
each playlist holds tracks of one cluster, so neighbours share the query's cluster.
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import numpy as np
import pytest
from pydantic import SecretStr
from pymongo import ReplaceOne
from pymongo.database import Database

from playlist2vec import store, vectors
from playlist2vec.settings import Settings
from serving.api import create_app
from serving.engine import Engine, ServeOptions
from serving.metrics import ServingMetrics
from serving.source import MongoSource
from tests.support.ports import free_port
from tests.support.waiting import wait_until

DIM = 8
CLUSTERS = 4
TRACKS_PER_CLUSTER = 12
PLAYLISTS_PER_CLUSTER = 5
VERSION = "m1"


def track_uri(cluster: int, i: int) -> str:
    return f"spotify:track:c{cluster}t{i:02d}"


def cluster_vector(cluster: int, rng: np.random.Generator) -> np.ndarray:
    vector = np.zeros(DIM, dtype=np.float32)
    vector[cluster] = 1.0
    return vector + rng.normal(0, 0.05, DIM).astype(np.float32)


@dataclass
class Catalog:
    """The seeded data, plus writers that replace whole documents as batch/streaming do."""

    db: Any
    settings: Settings
    track_vectors: dict[str, np.ndarray] = field(default_factory=dict)
    playlists: dict[int, list[str]] = field(default_factory=dict)

    def cluster_of_track(self, uri: str) -> int:
        return int(uri.split(":")[-1][1])

    def cluster_of_playlist(self, pid: int) -> int:
        return pid // 100

    def seed(self, version: str = VERSION, seed: int = 0) -> None:
        rng = np.random.default_rng(seed)
        enc = self.settings.vector_subtype
        self.db[store.MODELS].replace_one(
            {"_id": version}, {"_id": version, "status": "ready", "vector_size": DIM}, upsert=True)
        track_docs, vector_docs = [], []
        for c in range(CLUSTERS):
            for i in range(TRACKS_PER_CLUSTER):
                uri = track_uri(c, i)
                self.track_vectors[uri] = cluster_vector(c, rng)
                vector_docs.append({"_id": {"m": version, "t": uri},
                                    "vector": vectors.encode(self.track_vectors[uri], enc),
                                    "count": 1})
                track_docs.append({"_id": uri, "track_name": f"song {c}-{i}",
                                   "artist_name": f"artist {c}"})
            for j in range(PLAYLISTS_PER_CLUSTER):
                pid = c * 100 + j
                picks = rng.choice(TRACKS_PER_CLUSTER, size=4, replace=False)
                self.playlists[pid] = [track_uri(c, int(i)) for i in picks]
        self.db[store.TRACK_VECTORS].insert_many(vector_docs)
        self.db[store.TRACKS].bulk_write([ReplaceOne({"_id": d["_id"]}, d, upsert=True)
                                          for d in track_docs])
        for pid, tracks in self.playlists.items():
            self.write_playlist(pid, tracks, version)
        self.activate(version)

    def activate(self, version: str) -> None:
        """As batch.registry does: the new model active (the switch), then the others retired."""
        doc = self.db[store.MODELS].find_one({"_id": version})
        self.db[store.MODELS].replace_one(
            {"_id": version}, {**doc, "status": "active", "activated_at": datetime.now(UTC)})
        for doc in self.db[store.MODELS].find({"status": "active", "_id": {"$ne": version}}):
            self.db[store.MODELS].replace_one({"_id": doc["_id"]}, {**doc, "status": "retired"})

    def write_playlist(self, pid: int, tracks: list[str], version: str = VERSION,
                       vector: np.ndarray | None = None) -> None:
        self.playlists[pid] = tracks
        self.db[store.PLAYLISTS].replace_one(
            {"_id": pid}, {"_id": pid, "name": f"playlist {pid}", "tracks": tracks}, upsert=True)
        mean, known = vectors.mean_vector(tracks, self.track_vectors)
        vector = mean if vector is None else vector
        key = {"m": version, "p": pid}
        doc: dict[str, Any] = {"_id": key, "n_tracks": len(tracks),
                               "n_known": known, "modified_at": time.time(),
                               "updated_at": time.time(), "source": "stream"}
        if vector is not None:
            doc["vector"] = vectors.encode(vector, self.settings.vector_subtype)
        self.db[store.PLAYLIST_VECTORS].bulk_write([ReplaceOne({"_id": key}, doc, upsert=True)])

    def delete_playlist(self, pid: int, version: str = VERSION, how: str = "replace") -> None:
        """Delete as a writer may: replace with a tombstone doc (batch), `$set` `deleted` (the
        stream's tombstones: an update event without the document), or delete the doc."""
        self.db[store.PLAYLISTS].replace_one(
            {"_id": pid}, {"_id": pid, "tracks": [], "deleted": True}, upsert=True)
        key = {"m": version, "p": pid}
        vectors_coll = self.db[store.PLAYLIST_VECTORS]
        if how == "delete":
            vectors_coll.delete_one({"_id": key})
        elif how == "update":
            vectors_coll.update_one({"_id": key}, {"$set": {"deleted": True, "n_known": 0},
                                                   "$unset": {"vector": ""}})
        else:
            vectors_coll.replace_one(
                {"_id": key}, {"_id": key, "deleted": True,
                               "n_tracks": 0, "n_known": 0, "modified_at": time.time(),
                               "updated_at": time.time(), "source": "stream"}, upsert=True)


@pytest.fixture
def catalog(db: Any, settings: Settings) -> Catalog:
    data = Catalog(db, settings)
    data.seed()
    return data


EngineFactory = Callable[..., tuple[Engine, ServingMetrics]]


@pytest.fixture
def make_engine(settings: Settings, tmp_path: Any) -> Iterator[EngineFactory]:
    """Engines over the test database (stopped, then their clients closed, at the end); options
    override the defaults."""
    started: list[Engine] = []
    databases: list[Database[dict[str, Any]]] = []

    def factory(through: Settings | None = None, **options: Any) -> tuple[Engine, ServingMetrics]:
        """`through`: settings to reach MongoDB with (default: the test's)."""
        metrics = ServingMetrics()
        values: dict[str, Any] = {"indexes_dir": tmp_path / "indexes", "poll_wait": 0.05,
                                  "rebuild_interval": 3600.0, "instance": "test"}
        values.update(options)
        databases.append(store.database(through or settings))
        engine = Engine(MongoSource(databases[-1]), ServeOptions(**values), metrics)
        started.append(engine)
        return engine, metrics

    yield factory
    for engine in started:
        engine.stop()
    for database in databases:
        database.client.close()


@pytest.fixture
def app_for(settings: Settings) -> Callable[[Engine, ServingMetrics], Any]:
    return lambda engine, metrics: create_app(settings, engine, metrics)


@pytest.fixture
def wait() -> Callable[..., Any]:
    return wait_until


class TcpProxy:
    """A loopback TCP forwarder to `target` that a test can cut (refuse and drop every
    connection, as a dead server does) and restore on the same port."""

    def __init__(self, target: tuple[str, int]) -> None:
        self.target = target
        self.port = free_port()
        self._lock = threading.Lock()
        self._sockets: list[socket.socket] = []
        self._listener: socket.socket | None = None
        self.restore()

    def restore(self) -> None:
        self._listener = socket.create_server(("127.0.0.1", self.port))
        threading.Thread(target=self._accept, args=(self._listener,), daemon=True).start()

    def cut(self) -> None:
        listener, self._listener = self._listener, None
        with self._lock:
            sockets, self._sockets = self._sockets, []
        for sock in [*sockets, *([listener] if listener else [])]:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)  # wakes a blocked accept/recv
            sock.close()

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
                upstream = socket.create_connection(self.target)
            except OSError:
                if listener.fileno() == -1:
                    return
                continue
            with self._lock:
                self._sockets += [client, upstream]
            for src, dst in ((client, upstream), (upstream, client)):
                threading.Thread(target=_pump, args=(src, dst), daemon=True).start()


def _pump(src: socket.socket, dst: socket.socket) -> None:
    try:
        while data := src.recv(65536):
            dst.sendall(data)
    except OSError:
        pass
    finally:
        with contextlib.suppress(OSError):
            dst.shutdown(socket.SHUT_WR)


@pytest.fixture
def mongo_proxy(settings: Settings) -> Iterator[tuple[TcpProxy, Settings]]:
    """A cuttable proxy in front of the test MongoDB, and settings that go through it."""
    proxy = TcpProxy(("127.0.0.1", settings.mongo_port))
    proxied = settings.model_copy(
        update={"mongo_uri": SecretStr(f"mongodb://127.0.0.1:{proxy.port}")})
    yield proxy, proxied
    proxy.cut()
