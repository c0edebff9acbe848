"""`playlist2vec stream` as its own process: SIGKILL mid-run, restart, and MongoDB ends exactly right."""

from __future__ import annotations

import os
import random
import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import psutil
import pytest

from playlist2vec import store, topics
from playlist2vec.settings import Settings
from streaming.bench import stream_command
from streaming.producer import kafka_producer, publish
from streaming.simulate import Simulator
from tests.support.waiting import wait_until

pytestmark = [pytest.mark.integration, pytest.mark.slow]

# generous: on a loaded 2-core machine a JVM start plus the first batch's planning takes minutes
START_TIMEOUT_S = 420.0


def playlists(model: Any, n: int, rng: random.Random) -> list[dict[str, Any]]:
    """MPD-shaped playlists over the model's tracks plus a few unknown ones."""
    pool = [*model.uris, *(f"spotify:track:unknown{i:015d}" for i in range(10))]
    return [{"pid": pid, "name": f"list {pid}", "modified_at": 1_600_000_000,
             "tracks": [{"track_uri": rng.choice(pool)} for _ in range(rng.randint(1, 12))]}
            for pid in range(n)]


@pytest.fixture
def job_process(settings: Settings, tmp_path: Path) -> Iterator[Any]:
    """Starts `playlist2vec stream` (one at a time) on a fixed checkpoint; kills leftovers."""
    procs: list[subprocess.Popen[bytes]] = []
    checkpoint = tmp_path / "checkpoint"

    def start() -> subprocess.Popen[bytes]:
        log = (tmp_path / f"job{len(procs)}.log").open("wb")
        proc = subprocess.Popen(
            stream_command("stream", "--trigger", "300 milliseconds", "--checkpoint", str(checkpoint),
                           "--max-offsets-per-trigger", "150"),
            env=os.environ | settings.to_env(), stdout=log, stderr=subprocess.STDOUT,
            start_new_session=True)
        procs.append(proc)
        return proc

    yield start
    for proc in procs:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def driver_jvm_arguments(proc: subprocess.Popen[bytes]) -> list[str]:
    """The command line of the Spark driver JVM the job started."""
    jvms = [cmdline for cmdline in map(live_cmdline, psutil.Process(proc.pid).children(recursive=True))
            if "org.apache.spark.deploy.SparkSubmit" in cmdline]
    assert len(jvms) == 1, jvms
    return jvms[0]


def live_cmdline(process: psutil.Process) -> list[str]:
    """A child's command line, empty for one that exited (or is a zombie) since it was listed."""
    try:
        return process.cmdline()
    except (psutil.NoSuchProcess, psutil.ZombieProcess):
        return []


def wait_for(what: str, check: Any, proc: subprocess.Popen[bytes], timeout_s: float) -> None:
    wait_until(check, timeout_s, what, interval_s=0.2,
               alive=lambda: None if proc.poll() is None else f"job exited with {proc.returncode}")


def matches(db: Any, model: Any, expected: dict[int, dict[str, Any] | None],
            helpers: SimpleNamespace) -> bool:
    vecs = helpers.vector_docs(db, "m1", expected)
    lists = helpers.docs(db, store.PLAYLISTS, expected)
    for pid, final in expected.items():
        if pid not in vecs or pid not in lists:
            return False
        if final is None:
            if not (lists[pid]["deleted"] and "vector" not in vecs[pid]):
                return False
        elif (lists[pid]["tracks"], lists[pid]["name"], vecs[pid]["modified_at"]) != (
                final["tracks"], final["name"], final["modified_at"]):
            return False
    return True


def test_sigkill_mid_run_then_restart_ends_in_the_expected_state(
        settings: Settings, db: Any, make_model: Any, job_process: Any, helpers: SimpleNamespace) -> None:
    topics.ensure_topics(settings, partitions=2)
    model = make_model(db, "m1")
    sim = Simulator(playlists(model, 120, random.Random(3)), random.Random(3), n_edits=300, n_deletes=15)
    events = list(sim)
    producer = kafka_producer(settings)
    try:
        half = len(events) // 2
        publish(producer, settings.playlist_topic, events[:half], progress=False)

        first = job_process()
        vectors = db[store.PLAYLIST_VECTORS]
        wait_for("the first batches", lambda: vectors.count_documents({}) >= 20, first, START_TIMEOUT_S)
        assert not matches(db, model, sim.expected(), helpers)  # really mid-run
        assert set(settings.stream_driver_java_options.split()) <= set(driver_jvm_arguments(first))
        os.killpg(first.pid, signal.SIGKILL)
        first.wait()

        publish(producer, settings.playlist_topic, events[half:], progress=False)
    finally:
        producer.close()

    second = job_process()
    wait_for("the expected final state", lambda: matches(db, model, sim.expected(), helpers), second,
             START_TIMEOUT_S)
    final = helpers.vector_docs(db, "m1", sim.expected())
    for pid, state in sim.expected().items():
        if state is not None:
            helpers.assert_vector(final[pid], model, state["tracks"])

    second.send_signal(signal.SIGTERM)  # stops after the running micro-batch, cleanly
    assert second.wait(timeout=120) == 0
