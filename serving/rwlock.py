"""A phase-fair readers-writer lock: readers share, writers are exclusive, neither starves."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager


class ReadWriteLock:
    """Readers share; a waiting writer holds new readers back, and when it releases, every
    reader that waited through its turn gets in before the next writer. So a writer applying
    many small chunks back to back cannot shut queries out (each waits at most one chunk), and
    a steady stream of queries cannot starve the writer."""

    def __init__(self) -> None:
        self._cond = threading.Condition(threading.Lock())
        self._readers = 0
        self._writing = False
        self._writers_waiting = 0
        self._waiting = 0  # readers waiting to enter
        self._turn = 0  # writer releases so far
        self._owed = 0  # readers that waited through the last writer's turn, not yet in

    @contextmanager
    def read(self) -> Iterator[None]:
        with self._cond:
            ticket = self._turn
            self._waiting += 1
            while self._writing or (self._writers_waiting and ticket == self._turn):
                self._cond.wait()
            self._waiting -= 1
            if ticket != self._turn:
                self._owed -= 1
            self._readers += 1
        try:
            yield
        finally:
            with self._cond:
                self._readers -= 1
                if not self._readers:
                    self._cond.notify_all()

    @contextmanager
    def write(self) -> Iterator[None]:
        with self._cond:
            self._writers_waiting += 1
            while self._writing or self._readers or self._owed:
                self._cond.wait()
            self._writers_waiting -= 1
            self._writing = True
        try:
            yield
        finally:
            with self._cond:
                self._writing = False
                self._turn += 1
                self._owed = self._waiting
                self._cond.notify_all()
