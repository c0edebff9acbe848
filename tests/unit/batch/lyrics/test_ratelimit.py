"""The token bucket spaces acquisitions to the rate, allows the burst, and can be disabled."""

from __future__ import annotations

import asyncio
import time

from batch.lyrics.ratelimit import TokenBucket


def _time_acquisitions(bucket: TokenBucket, n: int) -> float:
    async def run() -> float:
        started = time.monotonic()
        await asyncio.gather(*(bucket.acquire() for _ in range(n)))
        return time.monotonic() - started

    return asyncio.run(run())


def test_rate_bounds_acquisitions_per_second() -> None:
    # 1 token up front, then 20 more at 100/s: at least 0.2 s
    elapsed = _time_acquisitions(TokenBucket(rate=100.0, burst=1), 21)
    assert 0.19 <= elapsed < 1.5


def test_default_burst_is_a_tenth_of_a_second() -> None:
    # 20 at once, then 20 more at 200/s: at least 0.1 s, far less than the 0.2 s without the burst
    elapsed = _time_acquisitions(TokenBucket(rate=200.0), 40)
    assert 0.09 <= elapsed < 0.19


def test_burst_is_served_at_once() -> None:
    assert _time_acquisitions(TokenBucket(rate=10.0, burst=20), 20) < 0.05


def test_zero_rate_means_unlimited() -> None:
    assert _time_acquisitions(TokenBucket(rate=0), 1000) < 0.5
