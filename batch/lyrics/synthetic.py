"""A synthetic lyrics provider on 127.0.0.1 for demos, tests and the fetch benchmark.

It follows the provider contract (`GET /lyrics?artist=..&title=..`), answers after a fixed
latency, can inject faults per title (429, 5xx, extra delay), and counts requests and the
largest number it had in flight at once.
"""

from __future__ import annotations

import asyncio
import hashlib
import multiprocessing
import socket
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import httpx
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse
from starlette.routing import Route

from playlist2vec.errors import StackError

THEMES = {
    "love": ["love", "heart", "kiss", "baby", "darling", "forever", "hold", "tonight", "touch", "eyes"],
    "road": ["road", "drive", "highway", "miles", "engine", "wheels", "town", "dust", "leaving", "west"],
    "party": ["dance", "party", "floor", "lights", "bass", "shake", "jump", "loud", "drink", "weekend"],
    "sea": ["sea", "waves", "ocean", "tide", "sail", "shore", "salt", "deep", "blue", "storm"],
}
FILLER = ["the", "a", "and", "i", "you", "my", "we", "oh", "yeah", "it", "in", "on"]


def themed_lyrics(artist: str, title: str, words: int = 80) -> str:
    """Deterministic lyrics for a song: words of one theme (chosen by a hash) and filler words."""
    digest = hashlib.sha256(f"{artist}\n{title}".encode()).digest()
    theme = THEMES[sorted(THEMES)[digest[0] % len(THEMES)]]
    lines = []
    for i in range(words):
        pool = theme if digest[(i + 1) % len(digest)] % 3 else FILLER
        lines.append(pool[(digest[i % len(digest)] + i * 7) % len(pool)])
    return "\n".join(" ".join(lines[i:i + 8]) for i in range(0, len(lines), 8))


@dataclass(frozen=True)
class Fault:
    """One injected answer: a status instead of the normal answer, and/or extra delay first."""

    status: int | None = None
    delay_s: float = 0.0
    retry_after: float | None = None


@dataclass
class Script:
    """What the provider answers: lyrics (None -> 404), latency, and faults per title in request order."""

    lyrics: Callable[[str, str], str | None] = themed_lyrics
    latency_s: float = 0.0
    faults: dict[str, list[Fault]] = field(default_factory=dict)


@dataclass
class Stats:
    requests: int = 0
    in_flight: int = 0
    max_in_flight: int = 0
    per_title: Counter[str] = field(default_factory=Counter)


def build_app(script: Script, stats: Stats) -> Starlette:
    async def lyrics(request: Request) -> PlainTextResponse:
        artist, title = request.query_params.get("artist", ""), request.query_params.get("title", "")
        stats.requests += 1
        stats.per_title[title] += 1
        stats.in_flight += 1
        stats.max_in_flight = max(stats.max_in_flight, stats.in_flight)
        try:
            queue = script.faults.get(title)
            fault = queue.pop(0) if queue else Fault()
            await asyncio.sleep(script.latency_s + fault.delay_s)
            if fault.status is not None:
                headers = {"Retry-After": str(fault.retry_after)} if fault.retry_after is not None else {}
                return PlainTextResponse("injected fault", fault.status, headers=headers)
            text = script.lyrics(artist, title)
            return PlainTextResponse(text, 200) if text is not None else PlainTextResponse("no lyrics", 404)
        finally:
            stats.in_flight -= 1

    async def report(request: Request) -> JSONResponse:
        return JSONResponse({"requests": stats.requests, "in_flight": stats.in_flight,
                             "max_in_flight": stats.max_in_flight, "per_title": dict(stats.per_title)})

    return Starlette(routes=[Route("/lyrics", lyrics), Route("/stats", report)])


@dataclass(frozen=True)
class RunningProvider:
    port: int

    @property
    def url_template(self) -> str:
        return f"http://127.0.0.1:{self.port}/lyrics?artist={{artist}}&title={{title}}"

    def stats(self) -> Stats:
        """The provider's counters so far (read over HTTP, so it works across processes)."""
        data = httpx.get(f"http://127.0.0.1:{self.port}/stats", timeout=5).json()
        return Stats(**{**data, "per_title": Counter(data["per_title"])})


def _server(script: Script, port: int | None = None) -> uvicorn.Server:
    config = uvicorn.Config(build_app(script, Stats()), host="127.0.0.1", port=port or 0,
                            log_level="warning", lifespan="off", access_log=False, backlog=4096)
    return uvicorn.Server(config)


def _run_in_process(script: Script, port: int) -> None:
    _server(script, port).run()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait_ready(provider: RunningProvider, alive: Callable[[], bool], timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            provider.stats()
            return
        except httpx.TransportError:
            if time.monotonic() > deadline or not alive():
                raise StackError("synthetic lyrics provider did not start") from None
            time.sleep(0.05)


@contextmanager
def serve(script: Script, own_process: bool = False,
          startup_timeout_s: float = 20.0) -> Iterator[RunningProvider]:
    """Run the provider on a free 127.0.0.1 port until the block ends.

    In a thread by default (faults scripted with any callable); in its own process when the
    caller measures its own CPU-bound throughput, as a remote provider would not share it (the
    process is spawned, so the script must pickle and `__main__` must be import-safe).
    """
    if own_process:
        provider = RunningProvider(_free_port())
        process = multiprocessing.get_context("spawn").Process(
            target=_run_in_process, args=(script, provider.port), daemon=True, name="synthetic-lyrics")
        process.start()
        try:
            _wait_ready(provider, process.is_alive, startup_timeout_s)
            yield provider
        finally:
            process.terminate()
            process.join(timeout=10)
        return
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    server = _server(script)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True,
                              name="synthetic-lyrics")
    thread.start()
    try:
        provider = RunningProvider(sock.getsockname()[1])
        _wait_ready(provider, thread.is_alive, startup_timeout_s)
        yield provider
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()
