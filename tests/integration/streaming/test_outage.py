"""MongoDB unreachable from the executors: the batch fails after the retries, with a clear error,
and nothing is committed (so the batch re-runs after a restart instead of being skipped)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from prometheus_client import CollectorRegistry
from pydantic import SecretStr

from playlist2vec import store
from playlist2vec.settings import Settings
from streaming import job
from streaming.metrics import StreamMetrics
from streaming.model import WriteModels
from tests.support.ports import free_port

pytestmark = [pytest.mark.integration, pytest.mark.spark, pytest.mark.slow]


def test_a_write_that_keeps_failing_fails_the_batch_with_the_reason(
        settings: Settings, db: Any, spark: Any, make_model: Any) -> None:
    make_model(db, "m1")
    unreachable = settings.model_copy(update={"mongo_uri": SecretStr(f"mongodb://127.0.0.1:{free_port()}")})
    models = WriteModels(spark, db)
    ctx = job.BatchContext(settings=unreachable, db=db, models=models,
                           metrics=StreamMetrics(CollectorRegistry()))
    rows = spark.createDataFrame(
        [(b"1", b'{"pid": 1, "name": "x", "tracks": [], "modified_at": 1}', 0, 0, datetime.now(UTC))],
        "key binary, value binary, partition int, offset long, timestamp timestamp")
    try:
        with pytest.raises(Exception) as failure:
            job.process_batch(ctx, rows, 0)
    finally:
        models.close()
    assert job.failure_line(str(failure.value)).startswith("bulk write to playlists failed")
    assert ctx.metrics.registry.get_sample_value("p2v_stream_events_total", {"result": "applied"}) == 0
    assert db[store.PLAYLISTS].count_documents({}) == 0
