"""Readers share the lock, a writer excludes everyone, and a waiting writer goes before new readers."""

from __future__ import annotations

import threading

from serving.rwlock import ReadWriteLock
from tests.support.waiting import wait_until

TIMEOUT = 5.0


def test_readers_share_and_a_writer_waits_for_them() -> None:
    lock = ReadWriteLock()
    events: list[str] = []
    first_in, release = threading.Event(), threading.Event()

    def reader() -> None:
        with lock.read():
            first_in.set()
            release.wait(TIMEOUT)
            events.append("reader out")

    def writer() -> None:
        with lock.write():
            events.append("writer in")

    slow = threading.Thread(target=reader, daemon=True)
    slow.start()
    assert first_in.wait(TIMEOUT)
    with lock.read():  # a second reader gets in while the first holds the lock
        events.append("second reader")
    blocked = threading.Thread(target=writer, daemon=True)
    blocked.start()
    blocked.join(0.05)
    assert blocked.is_alive(), "the writer waits for the reader inside"
    release.set()
    slow.join(TIMEOUT)
    blocked.join(TIMEOUT)
    assert events == ["second reader", "reader out", "writer in"]


def test_a_waiting_writer_goes_before_new_readers() -> None:
    lock = ReadWriteLock()
    order: list[str] = []
    holding, release = threading.Event(), threading.Event()

    def hold() -> None:
        with lock.read():
            holding.set()
            release.wait(TIMEOUT)

    def writer() -> None:
        with lock.write():
            order.append("writer")

    def late_reader() -> None:
        with lock.read():
            order.append("late reader")

    threading.Thread(target=hold, daemon=True).start()
    assert holding.wait(TIMEOUT)
    write = threading.Thread(target=writer, daemon=True)
    write.start()
    wait_until(lambda: lock._writers_waiting, TIMEOUT, "the writer to queue", interval_s=0.001)
    late = threading.Thread(target=late_reader, daemon=True)
    late.start()
    late.join(0.05)
    assert late.is_alive(), "new readers wait behind the writer"
    release.set()
    write.join(TIMEOUT)
    late.join(TIMEOUT)
    assert order == ["writer", "late reader"]


def test_readers_that_waited_get_in_between_back_to_back_writes() -> None:
    lock = ReadWriteLock()
    order: list[str] = []
    first_write, release = threading.Event(), threading.Event()

    def writer() -> None:
        for chunk in range(3):  # like an update applied chunk by chunk
            with lock.write():
                if chunk == 0:
                    first_write.set()
                    release.wait(TIMEOUT)
                order.append(f"write {chunk}")

    def reader() -> None:
        with lock.read():
            order.append("read")

    write = threading.Thread(target=writer, daemon=True)
    write.start()
    assert first_write.wait(TIMEOUT)
    read = threading.Thread(target=reader, daemon=True)
    read.start()
    wait_until(lambda: lock._waiting, TIMEOUT, "the reader to queue behind the first chunk",
               interval_s=0.001)
    release.set()
    write.join(TIMEOUT)
    read.join(TIMEOUT)
    assert order.index("read") == 1, order
