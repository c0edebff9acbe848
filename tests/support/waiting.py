"""Waiting with a deadline: poll a condition, or gather items, instead of sleeping a guess."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from typing import TypeVar

T = TypeVar("T")


def wait_until(predicate: Callable[[], T], timeout_s: float, what: str, *, interval_s: float = 0.02,
               alive: Callable[[], str | None] | None = None) -> T:
    """Poll `predicate` every `interval_s` until it returns something truthy, and return that.

    AssertionError naming `what` after `timeout_s`, or as soon as `alive()` returns a reason
    (a child process that exited, a thread that died) why waiting longer cannot help."""
    deadline = time.monotonic() + timeout_s
    while True:
        value = predicate()
        if value:
            return value
        if alive is not None and (reason := alive()) is not None:
            raise AssertionError(f"{reason} while waiting for {what}")
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout_s:g}s waiting for {what}")
        time.sleep(interval_s)


def gather(fetch: Callable[[int], Iterable[T]], n: int, timeout_s: float, *,
           interval_s: float = 0.02) -> list[T]:
    """Call `fetch(still_wanted)` until `n` items came back or `timeout_s` passed; what came.

    Returns short rather than raising, so a caller can assert on what it got (or that nothing
    came)."""
    got: list[T] = []
    deadline = time.monotonic() + timeout_s
    while len(got) < n and time.monotonic() < deadline:
        batch = list(fetch(n - len(got)))
        if batch:
            got.extend(batch)
        else:
            time.sleep(interval_s)
    return got
