"""The token bucket spaces acquisitions to the rate, allows the burst, and can be disabled.

Time is a fake clock that only the bucket's sleeps advance: the answers are exact and do not
depend on how busy the machine is.
"""

from __future__ import annotations

import asyncio
import math

import pytest

from batch.lyrics.ratelimit import TokenBucket


class FakeTime:
    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []

    def clock(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        # a real sleep always lets some time pass, even when asked for 1e-18 s (rounding)
        self.now = max(self.now + seconds, math.nextafter(self.now, math.inf))
        await asyncio.sleep(0)  # let the other acquirers run, as a real sleep would


def _elapsed(rate: float, n: int, burst: float | None = None) -> tuple[float, FakeTime]:
    """Simulated seconds `n` concurrent acquisitions take, and the fake time they used."""
    time = FakeTime()
    bucket = TokenBucket(rate=rate, burst=burst, clock=time.clock, sleep=time.sleep)

    async def run() -> None:
        await asyncio.gather(*(bucket.acquire() for _ in range(n)))

    asyncio.run(run())
    return time.now, time


def test_rate_bounds_acquisitions_per_second() -> None:
    # 1 token up front, then 20 more at 100/s: 0.2 s
    elapsed, _ = _elapsed(rate=100.0, n=21, burst=1)
    assert elapsed == pytest.approx(0.2)


def test_a_slower_rate_takes_proportionally_longer() -> None:
    assert _elapsed(rate=25.0, n=21, burst=1)[0] == pytest.approx(0.8)


def test_default_burst_is_a_tenth_of_a_second() -> None:
    # 20 at once, then 20 more at 200/s: 0.1 s, half the 0.2 s it would take without the burst
    elapsed, _ = _elapsed(rate=200.0, n=40)
    assert elapsed == pytest.approx(0.1)


def test_burst_is_served_at_once() -> None:
    elapsed, time = _elapsed(rate=10.0, n=20, burst=20)
    assert elapsed == 0 and time.sleeps == []


def test_the_burst_refills_while_idle() -> None:
    time = FakeTime()
    bucket = TokenBucket(rate=10.0, burst=5, clock=time.clock, sleep=time.sleep)

    async def run() -> None:
        await asyncio.gather(*(bucket.acquire() for _ in range(5)))
        time.now += 0.5  # idle long enough to refill the 5 tokens
        await asyncio.gather(*(bucket.acquire() for _ in range(5)))

    asyncio.run(run())
    assert time.sleeps == []


def test_zero_rate_means_unlimited() -> None:
    elapsed, time = _elapsed(rate=0, n=1000)
    assert elapsed == 0 and time.sleeps == []
