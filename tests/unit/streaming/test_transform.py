"""A partition task's counts survive the Arrow round trip to the driver and are summed."""

from __future__ import annotations

import pyarrow as pa

from streaming import transform


def test_counts_of_several_partitions_are_summed() -> None:
    schema = pa.schema([(name, pa.int64()) for name in transform.COUNTS])
    first = pa.RecordBatch.from_pydict({"applied": [3], "stale": [1], "deleted": [0], "invalid": [2],
                                        "unknown": [4]}, schema=schema)
    second = pa.RecordBatch.from_pydict({"applied": [1], "stale": [0], "deleted": [2], "invalid": [0],
                                         "unknown": [0]}, schema=schema)
    counts = transform.summarise(pa.Table.from_batches([first, second]))
    assert counts == {"applied": 4, "stale": 1, "deleted": 2, "invalid": 2, "unknown": 4}
