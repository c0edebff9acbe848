"""A partition task's result rows survive the Arrow round trip to the driver: counts and letters."""

from __future__ import annotations

import pyarrow as pa

from streaming import transform
from streaming.dead_letters import dead_letter


def test_letters_and_counts_of_several_partitions_are_summed_and_kept() -> None:
    letters = [dead_letter(b"1", b"{", "bad JSON", "t", 0, 5),
               dead_letter(None, None, "bad tombstone", "t", 0, 6)]
    first = transform._result_batch(letters, {"applied": 3, "stale": 1, "invalid": 2, "unknown": 4})
    second = transform._result_batch([], {"applied": 1, "deleted": 2})
    counts, back = transform.summarise(pa.Table.from_batches([first, second]))
    assert counts == {"applied": 4, "stale": 1, "deleted": 2, "invalid": 2, "unknown": 4}
    assert back == letters
