"""The HTTP API (FastAPI app factory): recommendations, similar items, health, metrics, admin."""

from __future__ import annotations

import hmac
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from typing import Annotated, Any

from fastapi import Depends, FastAPI, Header, Path, Query, Request, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from pydantic import BaseModel, Field, StringConstraints

from playlist2vec.errors import NotFound, P2VError, Unauthorized
from playlist2vec.events import MAX_TRACK_CHARS, MAX_TRACKS
from playlist2vec.recommend import Scored
from playlist2vec.settings import Settings
from serving.engine import Engine
from serving.metrics import ServingMetrics

MAX_K = 1000
MAX_PID = 2**63 - 1  # BSON int64

K = Annotated[int, Query(ge=1, le=MAX_K, description="number of results (1..1000)")]
Pid = Annotated[int, Path(ge=0, le=MAX_PID)]
TrackUri = Annotated[str, StringConstraints(min_length=1, max_length=MAX_TRACK_CHARS)]


class TrackItem(BaseModel):
    track_uri: str
    score: float
    track_name: str | None = None
    artist_name: str | None = None


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


class Readiness(BaseModel):
    ready: bool
    model_version: str | None = None


def create_app(settings: Settings, engine: Engine, metrics: ServingMetrics) -> FastAPI:
    """The app; `engine` is started in the lifespan (loading happens in its background threads)."""

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        engine.start()
        try:
            yield
        finally:
            engine.stop()

    app = FastAPI(title="playlist2vec serving", version="1", lifespan=lifespan)

    @app.exception_handler(P2VError)
    async def p2v_error(_: Request, exc: P2VError) -> JSONResponse:
        return JSONResponse({"error": type(exc).__name__, "detail": str(exc)}, status_code=exc.status)

    @app.middleware("http")
    async def observe(request: Request, call_next: Callable[[Request], Awaitable[Response]]
                      ) -> Response:
        started = time.perf_counter()
        response = await call_next(request)
        route = request.scope.get("route")
        metrics.observe_request(getattr(route, "path", "unmatched"), response.status_code,
                                time.perf_counter() - started)
        return response

    def track_items(scored: Sequence[Scored]) -> list[TrackItem]:
        names = engine.source.track_names([s.item for s in scored]) if engine.source else {}
        return [TrackItem(track_uri=s.item, score=s.score,
                          track_name=names.get(s.item, {}).get("track_name"),
                          artist_name=names.get(s.item, {}).get("artist_name")) for s in scored]

    @app.get("/v1/playlists/{pid}/recommendations", response_model=TrackAnswer)
    def playlist_recommendations(pid: Pid, k: K = 500) -> TrackAnswer:
        """Tracks to continue the playlist, excluding its own tracks."""
        playlist = engine.source.playlist(pid) if engine.source else None
        if playlist is None:
            raise NotFound(f"playlist {pid} not found")
        version, scored = engine.recommend_tracks(playlist.get("tracks") or [], k)
        return TrackAnswer(pid=pid, model_version=version, items=track_items(scored))

    @app.post("/v1/recommendations", response_model=TrackAnswer)
    def recommendations(body: TracksQuery) -> TrackAnswer:
        """Tracks to continue an ad-hoc track list, excluding the list's own tracks."""
        version, scored = engine.recommend_tracks(body.tracks, body.k)
        return TrackAnswer(model_version=version, items=track_items(scored))

    @app.get("/v1/playlists/{pid}/similar", response_model=PlaylistAnswer)
    def similar_playlists(pid: Pid, k: K = 10) -> PlaylistAnswer:
        """The nearest playlists (fresh: includes changes since the last index build)."""
        version, scored = engine.similar_playlists(pid, k)
        names = engine.source.playlist_names([s.item for s in scored]) if engine.source else {}
        items = [PlaylistItem(pid=int(s.item), score=s.score, name=names.get(s.item))
                 for s in scored]
        return PlaylistAnswer(pid=pid, model_version=version, items=items)

    # `:path` so the route matches whatever a track id contains (Spotify URIs carry colons)
    @app.get("/v1/tracks/{track_uri:path}/similar", response_model=TrackAnswer)
    def similar_tracks(track_uri: str, k: K = 10) -> TrackAnswer:
        """The nearest tracks to one track."""
        version, scored = engine.similar_tracks(track_uri, k)
        return TrackAnswer(track_uri=track_uri, model_version=version, items=track_items(scored))

    @app.get("/healthz")
    def healthz() -> dict[str, bool]:
        return {"ok": True}

    @app.get("/readyz", response_model=Readiness, responses={503: {"model": Readiness}})
    def readyz() -> Any:
        if not engine.ready:
            return JSONResponse(Readiness(ready=False).model_dump(), status_code=503)
        return Readiness(ready=True, model_version=engine.state().version)

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
