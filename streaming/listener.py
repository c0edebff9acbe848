"""A StreamingQueryListener that feeds batch counts, durations and Kafka lag into StreamMetrics."""

from __future__ import annotations

import json
from typing import Any

from pyspark.sql.streaming import StreamingQueryListener

from streaming.metrics import StreamMetrics


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


class MetricsListener(StreamingQueryListener):
    """Records the progress of the query named `query_name` (a session may run several)."""

    def __init__(self, metrics: StreamMetrics, query_name: str) -> None:
        self.metrics = metrics
        self.query_name = query_name

    def onQueryStarted(self, event: Any) -> None:
        pass

    def onQueryProgress(self, event: Any) -> None:
        progress = event.progress
        if progress.name != self.query_name:
            return
        self.metrics.record_batch(progress.batchDuration / 1000.0)
        for source in progress.sources:
            self.metrics.record_lag(kafka_lag(source.endOffset, source.latestOffset))

    def onQueryIdle(self, event: Any) -> None:
        pass

    def onQueryTerminated(self, event: Any) -> None:
        pass
