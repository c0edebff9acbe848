"""The query's progress (batch durations, Kafka lag) into StreamMetrics, read by polling.

A PySpark StreamingQueryListener converts every progress event field by field over py4j (about
300 JVM calls per micro-batch, a third of them class lookups that scan the classpath): measured
at a trickle, that cost the driver a third of a core and made each batch ~40% longer. Reading
`lastProgress` (one call that returns JSON) a few times a second costs next to nothing; a
progress superseded within one interval is not seen, so the metrics sample the batches.
"""

from __future__ import annotations

import json
import logging
import threading
from typing import TYPE_CHECKING

from streaming.metrics import StreamMetrics

if TYPE_CHECKING:
    from pyspark.sql.streaming.query import StreamingQuery

log = logging.getLogger(__name__)

POLL_S = 0.25


def kafka_lag(end_offset: str | None, latest_offset: str | None) -> dict[str, int]:
    """Per partition, the records between what a batch read up to and what the topic holds.

    Both arguments are the Kafka source's JSON offsets `{"topic": {"partition": offset}}`.
    """
    if not end_offset or not latest_offset:
        return {}
    end, latest = json.loads(end_offset), json.loads(latest_offset)
    lag: dict[str, int] = {}
    for topic, partitions in latest.items():
        done = end.get(topic, {})
        for partition, offset in partitions.items():
            lag[partition] = max(0, int(offset) - int(done.get(partition, 0)))
    return lag


class ProgressPoller:
    """Records each new progress of `query` (a daemon thread until `stop`)."""

    def __init__(self, query: StreamingQuery, metrics: StreamMetrics, poll_s: float = POLL_S) -> None:
        self.query = query
        self.metrics = metrics
        self.poll_s = poll_s
        self.last_batch = -1
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="p2v-progress", daemon=True)

    def start(self) -> ProgressPoller:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=10 * self.poll_s)

    def poll(self) -> None:
        progress = self.query.lastProgress
        if progress is None or progress.batchId <= self.last_batch:
            return
        self.last_batch = progress.batchId
        self.metrics.record_batch(progress.batchDuration / 1000.0)
        for source in progress.sources:
            self.metrics.record_lag(kafka_lag(source.endOffset, source.latestOffset))

    def _run(self) -> None:
        while not self._stop.wait(self.poll_s):
            try:
                self.poll()
            except Exception as exc:  # a stopped or failed query: its owner reports that
                log.debug("progress not read: %s", exc)
                if not self.query.isActive:
                    return
