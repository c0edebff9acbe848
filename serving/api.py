"""The HTTP API (FastAPI app factory): recommendations, similar items, health, metrics, admin."""

from __future__ import annotations

import functools
import hmac
import logging
from collections.abc import AsyncIterator, Callable, Collection, Mapping, Sequence
from contextlib import AbstractContextManager, asynccontextmanager, nullcontext
from typing import Annotated, Any, TypeVar

import pymongo
from fastapi import Depends, FastAPI, Header, Path, Query, Request, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from pydantic import BaseModel, Field, StringConstraints
from pymongo.errors import PyMongoError

from playlist2vec import store
from playlist2vec.errors import NotFound, Unauthorized, Unavailable
from playlist2vec.events import MAX_TRACK_CHARS, MAX_TRACKS
from playlist2vec.recommend import Explanation, Scored
from playlist2vec.settings import Settings
from serving.engine import Engine
from serving.http import (
    BodyLimit,
    Observe,
    add_error_handlers,
    error_response,
    printable,
)
from serving.metrics import ServingMetrics

log = logging.getLogger(__name__)
T = TypeVar("T")

MAX_K = 1000
MAX_PID = 2**63 - 1  # BSON int64

K = Annotated[int, Query(ge=1, le=MAX_K, description="number of results (1..1000)")]
MAX_EXPLAIN_TOP = 100
Explain = Annotated[bool, Query(description="split each score over the seed tracks")]
ExplainTop = Annotated[int, Query(ge=1, le=MAX_EXPLAIN_TOP,
                                  description="seed tracks named per explanation (1..100)")]
Provisional = Annotated[bool, Query(
    description="answer provisional tracks too (folded in by the stream, not yet trained)")]


Pid = Annotated[int, Path(ge=0, le=MAX_PID)]
# pydantic refuses strings with lone surrogates itself (as 422; the answer must not echo them)
TrackUri = Annotated[str, StringConstraints(min_length=1, max_length=MAX_TRACK_CHARS)]
TrackPath = Annotated[str, Path(min_length=1, max_length=MAX_TRACK_CHARS,
                                description="a track URI (at most 256 characters)")]


class SeedPart(BaseModel):
    track_uri: str
    contribution: float
    track_name: str | None = None
    artist_name: str | None = None


class ExplanationOut(BaseModel):
    """A score split over the seed tracks (docs/serving.md, "Explanations"): the named seeds'
    contributions plus `rest` (every other seed's) sum to the item's score."""

    seeds: list[SeedPart]
    rest: float
    seeds_known: int


class TrackItem(BaseModel):
    track_uri: str
    score: float
    track_name: str | None = None
    artist_name: str | None = None
    provisional: bool = False  # a track the model never saw, folded in by the stream
    explanation: ExplanationOut | None = None


class PlaylistItem(BaseModel):
    pid: int
    score: float
    name: str | None = None


class TrackAnswer(BaseModel):
    model_version: str
    items: list[TrackItem]
    pid: int | None = None
    track_uri: str | None = None


class PlaylistAnswer(BaseModel):
    model_version: str
    pid: int
    items: list[PlaylistItem]


class TracksQuery(BaseModel):
    tracks: list[TrackUri] = Field(min_length=1, max_length=MAX_TRACKS)
    k: int = Field(500, ge=1, le=MAX_K)


class ErrorAnswer(BaseModel):
    error: str
    detail: str


ERRORS: dict[int | str, dict[str, Any]] = {
    status: {"model": ErrorAnswer} for status in (404, 413, 422, 503)}


class Readiness(BaseModel):
    ready: bool
    model_version: str | None = None
    reason: str | None = None


def create_app(settings: Settings, engine: Engine, metrics: ServingMetrics,
               owned: AbstractContextManager[object] | None = None) -> FastAPI:
    """The app; `engine` is started in the lifespan (loading happens in its background threads).
    `owned` (the MongoDB client under the engine's source, when the app made it) is closed at
    the end of the lifespan, after the engine's threads stopped reading through it."""

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        with owned or nullcontext():
            engine.start()
            try:
                yield
            finally:
                engine.stop()

    app = FastAPI(title="playlist2vec serving", version="1", lifespan=lifespan)
    app.add_middleware(BodyLimit, max_bytes=settings.http_max_body_bytes)
    app.add_middleware(Observe, metrics=metrics, routes=app.routes)  # outermost: sees every answer

    add_error_handlers(app)

    @app.exception_handler(PyMongoError)
    async def mongo_error(_: Request, exc: PyMongoError) -> JSONResponse:
        if store.outage(exc):  # the client learns what to do, not the topology
            log.warning("answering 503, MongoDB is unavailable: %s", printable(str(exc), 200))
            return error_response(Unavailable("MongoDB is unavailable; retry later"))
        log.error("MongoDB error: %s", exc)
        return JSONResponse({"error": "InternalError", "detail": "MongoDB refused the request"},
                            status_code=500)

    @app.exception_handler(Exception)
    async def internal_error(_: Request, exc: Exception) -> JSONResponse:
        return JSONResponse({"error": "InternalError", "detail": type(exc).__name__},
                            status_code=500)

    def bounded(route: Callable[..., T]) -> Callable[..., T]:
        """Run a route with a deadline on every MongoDB call it makes (server selection
        included), so an outage is a prompt 503 rather than a hung request."""
        @functools.wraps(route)
        def run(*args: Any, **kwargs: Any) -> T:
            with pymongo.timeout(settings.http_mongo_timeout):
                return route(*args, **kwargs)
        return run

    def names(lookup: Callable[[Collection[Any]], Mapping[Any, T]], ids: Collection[Any]
              ) -> Mapping[Any, T]:
        """Names decorate answers computed in memory: without MongoDB they are left out."""
        try:
            return lookup(ids)
        except PyMongoError as exc:
            if not store.outage(exc):
                raise
            log.warning("answering without names: %s", printable(str(exc), 120))
            return {}

    def track_items(scored: Sequence[Scored], explained: Sequence[Explanation] = ()
                    ) -> list[TrackItem]:
        uris = {s.item for s in scored} | {seed for e in explained for seed, _ in e.parts}
        found = names(engine.source.track_names, uris)

        def named(uri: str) -> dict[str, Any]:
            doc = found.get(uri, {})
            return {"track_name": doc.get("track_name"), "artist_name": doc.get("artist_name")}

        provisional = engine.provisional(s.item for s in scored)
        items = [TrackItem(track_uri=s.item, score=s.score, provisional=s.item in provisional,
                           **named(s.item)) for s in scored]
        for item, explanation in zip(items, explained, strict=False):
            item.explanation = ExplanationOut(
                seeds=[SeedPart(track_uri=seed, contribution=part, **named(seed))
                       for seed, part in explanation.parts],
                rest=explanation.rest, seeds_known=explanation.known)
        return items

    @app.get("/v1/playlists/{pid}/recommendations", response_model=TrackAnswer,
             responses=ERRORS)
    @bounded
    def playlist_recommendations(pid: Pid, k: K = 500, explain: Explain = False,
                                 explain_top: ExplainTop = 3,
                                 include_provisional: Provisional = True) -> TrackAnswer:
        """Tracks to continue the playlist, excluding its own tracks; `explain=true` adds each
        one's score split over the playlist's tracks."""
        playlist = engine.source.playlist(pid)
        if playlist is None:
            raise NotFound(f"playlist {pid} not found")
        version, scored, explained = engine.recommend_tracks(
            playlist.get("tracks") or [], k, explain_top if explain else 0, include_provisional)
        return TrackAnswer(pid=pid, model_version=version, items=track_items(scored, explained))

    @app.post("/v1/recommendations", response_model=TrackAnswer, responses=ERRORS)
    @bounded
    def recommendations(body: TracksQuery, explain: Explain = False,
                        explain_top: ExplainTop = 3,
                        include_provisional: Provisional = True) -> TrackAnswer:
        """Tracks to continue an ad-hoc track list, excluding the list's own tracks;
        `explain=true` adds each one's score split over the list's tracks."""
        version, scored, explained = engine.recommend_tracks(
            body.tracks, body.k, explain_top if explain else 0, include_provisional)
        return TrackAnswer(model_version=version, items=track_items(scored, explained))

    @app.get("/v1/playlists/{pid}/similar", response_model=PlaylistAnswer, responses=ERRORS)
    @bounded
    def similar_playlists(pid: Pid, k: K = 10) -> PlaylistAnswer:
        """The nearest playlists (fresh: includes changes since the last index build)."""
        version, scored = engine.similar_playlists(pid, k)
        found = names(engine.source.playlist_names, [s.item for s in scored])
        items = [PlaylistItem(pid=int(s.item), score=s.score, name=found.get(s.item))
                 for s in scored]
        return PlaylistAnswer(pid=pid, model_version=version, items=items)

    # `:path` so the route matches whatever a track id contains (Spotify URIs carry colons)
    @app.get("/v1/tracks/{track_uri:path}/similar", response_model=TrackAnswer, responses=ERRORS)
    @bounded
    def similar_tracks(track_uri: TrackPath, k: K = 10,
                       include_provisional: Provisional = True) -> TrackAnswer:
        """The nearest tracks to one track (a provisional one too)."""
        version, scored = engine.similar_tracks(track_uri, k, include_provisional)
        return TrackAnswer(track_uri=track_uri, model_version=version, items=track_items(scored))

    @app.get("/healthz")
    def healthz() -> dict[str, bool]:
        return {"ok": True}

    @app.get("/readyz", response_model=Readiness, response_model_exclude_none=True,
             responses={503: {"model": Readiness}})
    def readyz() -> Any:
        """Ready: an index is loaded and the change streams keep it fresh."""
        if not engine.ready:
            return JSONResponse(Readiness(ready=False, reason="no index loaded yet").model_dump(
                exclude_none=True), status_code=503)
        version = engine.state().version
        problem = engine.follower_problem(settings.follower_max_lag)
        if problem is not None:
            return JSONResponse(Readiness(ready=False, model_version=version, reason=problem
                                          ).model_dump(exclude_none=True), status_code=503)
        return Readiness(ready=True, model_version=version)

    @app.get("/metrics", response_class=Response)
    def metrics_endpoint() -> Response:
        return Response(generate_latest(metrics.registry), media_type=CONTENT_TYPE_LATEST)

    def admin(authorization: Annotated[str | None, Header()] = None) -> None:
        expected = settings.admin_token
        if expected is None:
            raise Unauthorized("admin routes are disabled: set P2V_ADMIN_TOKEN")
        scheme, _, token = (authorization or "").partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(
                token.encode(), expected.get_secret_value().encode()):
            raise Unauthorized("admin routes need `Authorization: Bearer <P2V_ADMIN_TOKEN>`")

    @app.post("/v1/admin/rebuild", status_code=202, dependencies=[Depends(admin)])
    def rebuild() -> dict[str, bool]:
        """Start a rebuild of the playlist snapshot in the background."""
        engine.request_rebuild()
        return {"accepted": True}

    return app
