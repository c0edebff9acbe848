"""Fetch lyrics for the catalogue concurrently: concurrency cap, rate limit, retries, MongoDB cache."""

from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import httpx
from pymongo.database import Database
from tenacity import AsyncRetrying, RetryCallState, retry_if_exception_type, stop_after_attempt
from tenacity.wait import wait_random_exponential
from tqdm import tqdm

from batch.lyrics import cache
from batch.lyrics.options import FetchOptions
from batch.lyrics.provider import Answer, ProviderTemplate, classify
from batch.lyrics.ratelimit import TokenBucket
from playlist2vec import store
from playlist2vec.settings import Settings

log = logging.getLogger(__name__)
USER_AGENT = "playlist2vec-lyrics/0.1"


class Transient(Exception):
    """A failure worth retrying: 429, 5xx, a timeout or a broken connection."""

    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


@dataclass(frozen=True)
class FetchSummary:
    found: int
    not_found: int
    errors: int
    cached: int
    unnamed: int
    requests: int
    elapsed_s: float

    @property
    def fetched(self) -> int:
        return self.found + self.not_found + self.errors

    @property
    def songs_per_min(self) -> float:
        return self.fetched / self.elapsed_s * 60 if self.elapsed_s > 0 else 0.0

    def line(self) -> str:
        return (f"fetched {self.fetched} songs in {self.elapsed_s:.1f}s ({self.songs_per_min:.0f} songs/min, "
                f"{self.requests} requests): found {self.found}, not found {self.not_found}, "
                f"errors {self.errors}; already cached {self.cached}, without title/artist {self.unnamed}")


def _retry_after(response: httpx.Response) -> float | None:
    value = response.headers.get("retry-after", "")
    try:
        return max(0.0, float(value))
    except ValueError:  # absent, or an HTTP date: fall back to our own backoff
        return None


def _wait(options: FetchOptions) -> Callable[[RetryCallState], float]:
    """Full-jitter exponential backoff, or the provider's Retry-After when it gave one."""
    backoff = wait_random_exponential(multiplier=options.backoff_s, max=options.backoff_max_s)

    def wait(state: RetryCallState) -> float:
        exc = state.outcome.exception() if state.outcome else None
        if isinstance(exc, Transient) and exc.retry_after is not None:
            return min(exc.retry_after, options.backoff_max_s)
        return backoff(state)

    return wait


async def _request(client: httpx.AsyncClient, url: str) -> httpx.Response:
    try:
        response = await client.get(url)
    except httpx.TransportError as exc:  # timeouts included
        raise Transient(f"{type(exc).__name__}: {exc}".rstrip(": ")) from exc
    if classify(response.status_code) is Answer.RETRY:
        raise Transient(f"HTTP {response.status_code}", _retry_after(response))
    return response


async def fetch_one(client: httpx.AsyncClient, limiter: TokenBucket, provider: ProviderTemplate,
                    track: cache.Track, options: FetchOptions) -> cache.Outcome:
    """One track's outcome; never raises, so one bad song cannot stop the run."""
    url = provider.url(track.artist, track.title)
    attempts = 0
    status, text, error = cache.ERROR, None, None
    try:
        retrying = AsyncRetrying(stop=stop_after_attempt(options.max_attempts), wait=_wait(options),
                                 retry=retry_if_exception_type(Transient), reraise=True)
        async for attempt in retrying:
            with attempt:
                attempts += 1
                await limiter.acquire()
                response = await _request(client, url)
        answer = classify(response.status_code)
        body = response.text.strip() if answer is Answer.FOUND else ""
        if body:
            status, text = cache.FOUND, body
        elif answer in (Answer.FOUND, Answer.NOT_FOUND):
            status = cache.NOT_FOUND
        else:
            error = f"HTTP {response.status_code}"
    except Transient as exc:
        error = f"gave up after {attempts} attempts: {exc}"
    except Exception as exc:  # recorded in the cache and retried by --retry-errors
        log.warning("lyrics for %s failed: %r", track.uri, exc)
        error = f"{type(exc).__name__}: {exc}"
    return cache.Outcome(track.uri, status, attempts, datetime.now(UTC), text=text, error=error)


async def fetch_all(db: Database[dict[str, Any]], provider: ProviderTemplate,
                    tracks: list[cache.Track], options: FetchOptions) -> Counter[str]:
    """Fetch every track with at most `options.concurrency` in flight; cache outcomes in batches."""
    counts: Counter[str] = Counter()
    pending: list[cache.Outcome] = []
    slots = asyncio.Semaphore(options.concurrency)
    limiter = TokenBucket(options.rate)
    limits = httpx.Limits(max_connections=options.concurrency,
                          max_keepalive_connections=options.concurrency)

    async def flush() -> None:
        batch = pending[:]
        pending.clear()
        await asyncio.to_thread(store.bulk_write, db[store.LYRICS], cache.build_writes(batch))

    async with httpx.AsyncClient(timeout=options.timeout_s, limits=limits,
                                 headers={"User-Agent": USER_AGENT}) as client:
        with tqdm(total=len(tracks), unit="song", disable=not options.progress) as bar:

            async def one(track: cache.Track) -> None:
                try:
                    outcome = await fetch_one(client, limiter, provider, track, options)
                finally:
                    slots.release()
                counts[outcome.status] += 1
                counts["requests"] += outcome.attempts
                pending.append(outcome)
                bar.update()
                if len(pending) >= options.write_batch:
                    await flush()

            tasks: set[asyncio.Task[None]] = set()
            for track in tracks:
                await slots.acquire()  # at most `concurrency` songs (and so requests) in flight
                task = asyncio.create_task(one(track))
                tasks.add(task)
                task.add_done_callback(tasks.discard)
            await asyncio.gather(*tasks)
    await flush()
    return counts


def fetch_lyrics(settings: Settings, template: str, options: FetchOptions | None = None) -> FetchSummary:
    """Fetch and cache lyrics for every catalogue track that has no cached answer yet."""
    options = options or FetchOptions()
    provider = ProviderTemplate.parse(template)
    with store.opened(settings) as db:
        todo = cache.backlog(db, options.retry_errors)
        started = time.monotonic()
        counts = asyncio.run(fetch_all(db, provider, todo.todo, options))
    return FetchSummary(found=counts[cache.FOUND], not_found=counts[cache.NOT_FOUND],
                        errors=counts[cache.ERROR], cached=todo.cached, unnamed=todo.unnamed,
                        requests=counts["requests"], elapsed_s=time.monotonic() - started)
