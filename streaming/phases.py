"""Where a partition task's time goes: wall seconds per phase, which the task returns with its
counts and the driver sums per batch (logged, and `p2v_stream_task_seconds_total{phase}`)."""

from __future__ import annotations

import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager

PHASES = (
    "read",             # the task's Kafka rows from the JVM, through Arrow, into records
    "parse",            # parse, validate, newest event per pid
    "playlists",        # the conditional `playlists` writes, built
    "playlist_writes",  # ... encoded and sent, to the server's answers
    "fold_in",          # fold-in's reads and writes (0 while it is off)
    "vectors",          # the means and the vector and track writes, built
    "vector_writes",    # ... encoded and sent, to the server's answers
    "dead_letters",     # publishing the task's dead letters, to their acknowledgements
)


class Phases:
    """Seconds spent in each phase of one task so far."""

    def __init__(self) -> None:
        self.seconds = dict.fromkeys(PHASES, 0.0)

    @contextmanager
    def timed(self, phase: str) -> Iterator[None]:
        """Add the block's wall time to `phase` (also when it raises)."""
        started = time.perf_counter()
        try:
            yield
        finally:
            self.seconds[phase] += time.perf_counter() - started


def describe(seconds: Mapping[str, float]) -> str:
    """`read 0.41s, parse 0.20s, ...`: the phases that took any time, in task order."""
    return ", ".join(f"{phase} {seconds[phase]:.2f}s" for phase in PHASES if seconds.get(phase, 0.0) > 0.0)
