"""A synthetic lyrics provider on 127.0.0.1 for demos, tests and the fetch benchmark.

It follows the provider contract (`GET /lyrics?artist=..&title=..`), answers after a fixed
latency, can inject faults per title (429, 5xx, extra delay), and counts requests and the
largest number it had in flight at once.
"""

from __future__ import annotations

import asyncio
import hashlib
import socket
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse
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

    return Starlette(routes=[Route("/lyrics", lyrics)])


@dataclass
class RunningProvider:
    port: int
    stats: Stats

    @property
    def url_template(self) -> str:
        return f"http://127.0.0.1:{self.port}/lyrics?artist={{artist}}&title={{title}}"


@contextmanager
def serve(script: Script, startup_timeout_s: float = 10.0) -> Iterator[RunningProvider]:
    """Run the provider in a background thread on a free 127.0.0.1 port until the block ends."""
    stats = Stats()
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    config = uvicorn.Config(build_app(script, stats), log_level="warning", lifespan="off",
                            access_log=False, backlog=4096)
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True,
                              name="synthetic-lyrics")
    thread.start()
    deadline = time.monotonic() + startup_timeout_s
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise StackError("synthetic lyrics provider did not start")
        time.sleep(0.01)
    try:
        yield RunningProvider(sock.getsockname()[1], stats)
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()
