"""A token bucket for asyncio: at most `rate` acquisitions per second on average."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable


class TokenBucket:
    """Refills `rate` tokens per second up to `burst`; `acquire` waits for one. rate <= 0: no limit.

    The default burst is a tenth of a second's worth: small enough to stay polite, large enough
    that a late wake-up of the event loop does not throw tokens away (which would undershoot).
    """

    def __init__(self, rate: float, burst: float | None = None,
                 clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], Awaitable[None]] = asyncio.sleep) -> None:
        self.rate = rate
        self.capacity = max(1.0, rate / 10 if burst is None else burst)
        self.tokens = self.capacity
        self.clock = clock
        self.sleep = sleep  # a test passes a fake clock and a sleep that advances it
        self.updated = clock()
        # one waiter at a time, so tokens go out in arrival order
        self._lock = asyncio.Lock()

    async def acquire(self) -> None:
        if self.rate <= 0:
            return
        async with self._lock:
            while True:
                now = self.clock()
                self.tokens = min(self.capacity, self.tokens + (now - self.updated) * self.rate)
                self.updated = now
                if self.tokens >= 1.0:
                    self.tokens -= 1.0
                    return
                await self.sleep((1.0 - self.tokens) / self.rate)
