"""One song's fetch against scripted answers (httpx.MockTransport): what is retried, what is recorded."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

import httpx
import pytest

from batch.lyrics.cache import Outcome, Track
from batch.lyrics.fetch import FetchSummary, fetch_one
from batch.lyrics.options import FetchOptions
from batch.lyrics.provider import ProviderTemplate
from batch.lyrics.ratelimit import TokenBucket

OPTIONS = FetchOptions(max_attempts=3, backoff_s=0.001, backoff_max_s=0.5, rate=0, progress=False)
PROVIDER = ProviderTemplate.parse("http://provider.test/l?a={artist}&t={title}")


def _fetch(answers: list[httpx.Response | Exception]) -> tuple[Outcome, list[httpx.Request]]:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        answer = answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer

    async def run() -> Outcome:
        async with httpx.AsyncClient(transport=httpx.MockTransport(handler)) as client:
            return await fetch_one(client, TokenBucket(0), PROVIDER, Track("t:1", "A & B", "x/y"), OPTIONS)

    return asyncio.run(run()), seen


def test_found_on_first_attempt_with_encoded_url() -> None:
    outcome, seen = _fetch([httpx.Response(200, text="  la la\n")])
    assert (outcome.status, outcome.text, outcome.attempts) == ("found", "la la", 1)
    assert str(seen[0].url) == "http://provider.test/l?a=A%20%26%20B&t=x%2Fy"


@pytest.mark.parametrize("failure", [
    lambda: httpx.Response(503), lambda: httpx.Response(429), lambda: httpx.ReadTimeout("slow"),
    lambda: httpx.ConnectError("refused"),
])
def test_transient_failures_are_retried(failure: Callable[[], httpx.Response | Exception]) -> None:
    outcome, seen = _fetch([failure(), failure(), httpx.Response(200, text="words")])
    assert (outcome.status, outcome.attempts, len(seen)) == ("found", 3, 3)


def test_gives_up_after_max_attempts_and_records_why() -> None:
    outcome, seen = _fetch([httpx.Response(500)] * 3)
    assert outcome.status == "error" and outcome.attempts == len(seen) == 3
    assert outcome.error == "gave up after 3 attempts: HTTP 500"


def test_retry_after_is_honoured() -> None:
    started = time.monotonic()
    outcome, _ = _fetch([httpx.Response(429, headers={"Retry-After": "0.3"}), httpx.Response(200, text="ok")])
    assert outcome.status == "found" and time.monotonic() - started >= 0.3


@pytest.mark.parametrize("answer, status", [(httpx.Response(404), "not_found"),
                                            (httpx.Response(200, text=" \n"), "not_found"),
                                            (httpx.Response(403), "error")])
def test_permanent_answers_are_not_retried(answer: httpx.Response, status: str) -> None:
    outcome, seen = _fetch([answer])
    assert (outcome.status, len(seen)) == (status, 1)
    assert outcome.text is None


def test_unexpected_errors_are_recorded_not_raised() -> None:
    outcome, _ = _fetch([ValueError("bad bytes")])
    assert outcome.status == "error" and outcome.error == "ValueError: bad bytes"


def test_summary_rate() -> None:
    summary = FetchSummary(found=50, not_found=5, errors=5, cached=0, unnamed=0, requests=70, elapsed_s=30)
    assert summary.fetched == 60 and summary.songs_per_min == 120
    assert "120 songs/min" in summary.line()
