"""The serving router (`playlist2vec route`): one HTTP front for playlist shards.

Shards are `playlist2vec serve --shard i/n` processes: each indexes the playlists with
pid % n == i and the whole track index. So "playlists like this one" is scattered to every
shard and their top-k lists merged by score (exact: each shard returns its own best k, so the
global best k are among them; ties broken by pid as one server does), while the track routes
need one shard only and go to the next shard in turn (the next again if it fails).

A shard that does not answer within the timeout (or refuses the connection, or answers 5xx)
leaves a merged answer `partial: true`, naming it; only when no shard answers is the request
refused (503). Answers of different models (shards mid-switch) are not mixed: the model most
shards answered with wins and the others count as missing.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import logging
import time
from collections import Counter
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import httpx
import uvicorn
from fastapi import FastAPI, Request, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from pydantic import BaseModel

from playlist2vec.errors import ConfigError, Unavailable
from playlist2vec.settings import Settings, split_addr
from serving.api import ERRORS, K, Pid, PlaylistItem, TrackAnswer, TrackPath
from serving.http import BodyLimit, Observe, add_error_handlers
from serving.router_metrics import RouterMetrics

log = logging.getLogger(__name__)

SIMILAR_ROUTE = "/v1/playlists/{pid}/similar"
FORWARDED = ("retry-after", "content-type")
"""Headers of a shard's answer that the router passes on."""


def parse_shard_url(text: str) -> str:
    """`http(s)://host:port` (a trailing slash dropped), or ConfigError."""
    parts = urlsplit(text)
    if parts.scheme not in ("http", "https") or not parts.hostname or parts.path.strip("/") \
            or parts.query:
        raise ConfigError(f"--shard expects a base URL like http://127.0.0.1:8001, got {text!r}")
    return text.rstrip("/")


@dataclass(frozen=True)
class RouterOptions:
    shards: tuple[str, ...]
    timeout: float
    max_body_bytes: int = 1 << 20

    def __post_init__(self) -> None:
        if not self.shards:
            raise ConfigError("the router needs at least one --shard URL")
        if len(set(self.shards)) != len(self.shards):
            raise ConfigError("each --shard URL may be given once")

    @classmethod
    def from_settings(cls, settings: Settings, shards: Sequence[str], timeout: float | None = None
                      ) -> RouterOptions:
        """`route`'s options: its `--shard` URLs, and `--timeout` or the setting."""
        if timeout is not None and timeout <= 0:
            raise ConfigError(f"--timeout must be positive, got {timeout}")
        return cls(shards=tuple(parse_shard_url(url) for url in shards),
                   timeout=timeout or settings.router_shard_timeout,
                   max_body_bytes=settings.http_max_body_bytes)


@dataclass(frozen=True)
class ShardAnswer:
    """One shard's answer; `status` None when it gave none (timeout or no connection)."""

    shard: str
    status: int | None
    content: bytes = b""
    headers: Mapping[str, str] | None = None
    outcome: str = "ok"

    @property
    def usable(self) -> bool:
        """An answer to pass on or merge: 2xx or 4xx (a 4xx is the request's fault)."""
        return self.status is not None and self.status < 500


class SimilarAnswer(BaseModel):
    model_version: str
    pid: int
    items: list[PlaylistItem]
    partial: bool
    missing_shards: list[str]


def merge_top_k(answers: Sequence[Mapping[str, Any]], k: int) -> tuple[str, list[dict[str, Any]]]:
    """The global best k of shards' `/similar` answers: (model version, items).

    Only answers of the model most shards answered with are merged (ties: the greatest
    version); items are ordered by score, ties by pid, as one server orders them.
    """
    votes = Counter(answer["model_version"] for answer in answers)
    version = max(votes, key=lambda v: (votes[v], v))
    used = [answer for answer in answers if answer["model_version"] == version]
    best: dict[int, dict[str, Any]] = {}
    for answer in used:
        for item in answer["items"]:
            seen = best.get(item["pid"])
            if seen is None or item["score"] > seen["score"]:
                best[item["pid"]] = item
    items = sorted(best.values(), key=lambda item: (-item["score"], item["pid"]))
    return version, items[:k]


class ShardClient:
    """Asks shards over one pooled HTTP client, each request bounded by the timeout."""

    def __init__(self, options: RouterOptions, metrics: RouterMetrics,
                 transport: httpx.AsyncBaseTransport | None = None) -> None:
        self.options = options
        self.metrics = metrics
        self._transport = transport
        self._client: httpx.AsyncClient | None = None
        self._turn = itertools.count()

    async def __aenter__(self) -> ShardClient:
        limits = httpx.Limits(max_connections=64 * len(self.options.shards),
                              max_keepalive_connections=16 * len(self.options.shards))
        self._client = httpx.AsyncClient(timeout=self.options.timeout, limits=limits,
                                         transport=self._transport)
        return self

    async def __aexit__(self, *_: object) -> None:
        if self._client is not None:
            await self._client.aclose()

    async def ask(self, shard: str, method: str, path: str, params: Mapping[str, str],
                  content: bytes | None = None, headers: Mapping[str, str] | None = None
                  ) -> ShardAnswer:
        assert self._client is not None, "use the ShardClient as an async context manager"
        started = time.perf_counter()
        try:
            # wait_for bounds the whole exchange; httpx's timeout bounds each read and write
            response = await asyncio.wait_for(self._client.request(
                method, shard + path, params=params, content=content, headers=headers),
                self.options.timeout)
            answer = ShardAnswer(shard, response.status_code, response.content,
                                 {h: response.headers[h] for h in FORWARDED if h in response.headers},
                                 _outcome(response.status_code))
        except (TimeoutError, httpx.TimeoutException):
            answer = ShardAnswer(shard, None, outcome="timeout")
        except httpx.TransportError as exc:
            log.debug("shard %s unreachable: %s", shard, exc)
            answer = ShardAnswer(shard, None, outcome="unreachable")
        self.metrics.shard_answer(shard, answer.outcome, time.perf_counter() - started)
        return answer

    async def scatter(self, path: str, params: Mapping[str, str]) -> list[ShardAnswer]:
        return list(await asyncio.gather(*(self.ask(shard, "GET", path, params)
                                           for shard in self.options.shards)))

    async def any_shard(self, method: str, path: str, params: Mapping[str, str],
                        content: bytes | None = None, headers: Mapping[str, str] | None = None
                        ) -> ShardAnswer:
        """The first usable answer, asking shards in turn from a rotating start."""
        shards = self.options.shards
        start = next(self._turn) % len(shards)
        answer = None
        for shard in shards[start:] + shards[:start]:
            answer = await self.ask(shard, method, path, params, content, headers)
            if answer.usable:
                return answer
        assert answer is not None
        return answer


def _outcome(status: int) -> str:
    return "ok" if status < 400 else "client_error" if status < 500 else "server_error"


def relay(answer: ShardAnswer) -> Response:
    """A shard's answer as the router's (503 when it gave none)."""
    if answer.status is None:
        raise Unavailable("no shard answered in time")
    return Response(answer.content, status_code=answer.status, headers=dict(answer.headers or {}))


def create_router(options: RouterOptions, metrics: RouterMetrics,
                  transport: httpx.AsyncBaseTransport | None = None) -> FastAPI:
    """The router app; its HTTP client to the shards lives in the lifespan."""
    client = ShardClient(options, metrics, transport)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        async with client:
            yield

    app = FastAPI(title="playlist2vec router", version="1", lifespan=lifespan)
    app.add_middleware(BodyLimit, max_bytes=options.max_body_bytes)
    app.add_middleware(Observe, metrics=metrics, routes=app.routes)
    add_error_handlers(app)

    @app.get(SIMILAR_ROUTE, response_model=SimilarAnswer, responses=ERRORS)
    async def similar_playlists(pid: Pid, k: K = 10) -> Any:
        """The nearest playlists over every shard, merged; `partial` when a shard is missing."""
        answers = await client.scatter(f"/v1/playlists/{pid}/similar", {"k": str(k)})
        found = {a.shard: json.loads(a.content) for a in answers if a.status == 200}
        if not found:  # every shard refused (404: no such playlist) or failed
            usable = [a for a in answers if a.usable]
            return relay(usable[0] if usable else answers[0])
        version, items = merge_top_k(list(found.values()), k)
        missing = [a.shard for a in answers
                   if a.shard not in found or found[a.shard]["model_version"] != version]
        if missing:
            metrics.partial_answer(SIMILAR_ROUTE)
        return SimilarAnswer(model_version=version, pid=pid, items=[PlaylistItem(**i) for i in items],
                             partial=bool(missing),
                             missing_shards=missing)

    @app.get("/v1/playlists/{pid}/recommendations", response_model=TrackAnswer, responses=ERRORS)
    async def playlist_recommendations(pid: Pid, request: Request) -> Response:
        """Tracks to continue the playlist, from one shard (each holds the whole track index)."""
        return relay(await client.any_shard("GET", request.url.path, request.query_params))

    @app.post("/v1/recommendations", response_model=TrackAnswer, responses=ERRORS)
    async def recommendations(request: Request) -> Response:
        """Tracks to continue an ad-hoc track list, from one shard."""
        body = await request.body()
        return relay(await client.any_shard(
            "POST", request.url.path, request.query_params, body,
            {"content-type": request.headers.get("content-type", "application/json")}))

    @app.get("/v1/tracks/{track_uri:path}/similar", response_model=TrackAnswer, responses=ERRORS)
    async def similar_tracks(track_uri: TrackPath, request: Request) -> Response:
        """The nearest tracks to one track, from one shard."""
        return relay(await client.any_shard("GET", request.url.path, request.query_params))

    @app.get("/healthz")
    async def healthz() -> dict[str, bool]:
        return {"ok": True}

    @app.get("/readyz")
    async def readyz() -> JSONResponse:
        """Ready while at least one shard is (answers are then partial); lists the others."""
        answers = await client.scatter("/readyz", {})
        not_ready = [a.shard for a in answers if a.status != 200]
        ready = len(not_ready) < len(answers)
        return JSONResponse({"ready": ready, "shards": len(answers), "not_ready": not_ready},
                            status_code=200 if ready else 503)

    @app.get("/metrics", response_class=Response)
    async def metrics_endpoint() -> Response:
        return Response(generate_latest(metrics.registry), media_type=CONTENT_TYPE_LATEST)

    return app


def serve_router(settings: Settings, options: RouterOptions) -> None:
    """Route until interrupted, on `settings.http_addr`."""
    host, port = split_addr(settings.http_addr)
    log.info("routing on http://%s:%d to %d shards", host, port, len(options.shards))
    uvicorn.run(create_router(options, RouterMetrics()), host=host, port=port, log_level="warning")
