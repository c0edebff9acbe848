"""The HTTP edge: every error as the same short JSON answer, the request-body limit, request metrics.

The two middlewares are plain ASGI (not `BaseHTTPMiddleware`), so they see every answer: the
metrics one wraps the app's own error handling and records an unhandled exception as the 500
it becomes; the body limit answers 413 before the app has read a byte too many.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from http import HTTPStatus
from typing import Any, Protocol

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException
from starlette.routing import BaseRoute, Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from playlist2vec.errors import InvalidInput, P2VError, PayloadTooLarge

MAX_DETAIL_CHARS = 300
"""An error answer never echoes more of the request than this."""
UNMATCHED = "unmatched"


def printable(text: str, limit: int = MAX_DETAIL_CHARS) -> str:
    """`text` cut to `limit` characters and safe to encode (lone surrogates escaped)."""
    text = text.encode("utf-8", "backslashreplace").decode()
    return text if len(text) <= limit else text[: limit - 3] + "..."


def error_response(exc: P2VError) -> JSONResponse:
    headers = {"Retry-After": str(exc.retry_after)} if exc.retry_after else None
    return JSONResponse({"error": type(exc).__name__, "detail": printable(str(exc))},
                        status_code=exc.status, headers=headers)


def http_error_response(exc: HTTPException) -> JSONResponse:
    """Starlette's own errors (unknown route, wrong method) in the same JSON shape."""
    name = HTTPStatus(exc.status_code).phrase.title().replace(" ", "").replace("-", "")
    return JSONResponse({"error": name, "detail": printable(str(exc.detail))},
                        status_code=exc.status_code, headers=exc.headers)


def add_error_handlers(app: FastAPI) -> None:
    """Our errors, schema violations and Starlette's own errors, all as the same JSON answer."""

    @app.exception_handler(P2VError)
    async def p2v_error(_: Request, exc: P2VError) -> JSONResponse:
        return error_response(exc)

    @app.exception_handler(RequestValidationError)
    async def invalid_request(_: Request, exc: RequestValidationError) -> JSONResponse:
        return error_response(validation_error(exc))

    @app.exception_handler(HTTPException)
    async def http_error(_: Request, exc: HTTPException) -> JSONResponse:
        return http_error_response(exc)


def validation_error(exc: RequestValidationError) -> InvalidInput:
    """Where and why a request broke its schema, without the offending values (which may be
    huge or not even printable)."""
    parts = []
    for error in exc.errors()[:5]:
        where = ".".join(printable(str(part), 40) for part in error.get("loc", ()))
        parts.append(f"{where}: {error.get('msg', 'invalid')}")
    return InvalidInput("; ".join(parts) or "invalid request")


class BodyLimit:
    """Refuses a request body over `max_bytes` with 413, declared (Content-Length) or streamed.

    The body is read here, at most `max_bytes` + one chunk, and handed to the app in one message.
    """

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope["headers"]).get(b"content-length", b"0")
        if not declared.isdigit() or len(declared) > 15 or int(declared) > self.max_bytes:
            await self._refuse(scope, receive, send)
            return
        chunks: list[bytes] = []
        size, more = 0, True
        while more:
            message = await receive()
            if message["type"] != "http.request":  # the client left: let the app see that
                await self.app(scope, _replay(message, receive), send)
                return
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_bytes:
                await self._refuse(scope, receive, send)
                return
            chunks.append(chunk)
            more = message.get("more_body", False)
        body: Message = {"type": "http.request", "body": b"".join(chunks), "more_body": False}
        await self.app(scope, _replay(body, receive), send)

    async def _refuse(self, scope: Scope, receive: Receive, send: Send) -> None:
        response = error_response(PayloadTooLarge(f"request body over {self.max_bytes} bytes"))
        response.headers["Connection"] = "close"  # the rest of the body is not read
        await response(scope, receive, send)


def _replay(first: Message, receive: Receive) -> Receive:
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if sent:
            return await receive()
        sent = True
        return first

    return replay


class RequestObserver(Protocol):
    """What `Observe` records into (the serving and the router metrics)."""

    def observe_request(self, route: str, status: int, seconds: float) -> None: ...


class Observe:
    """Counts every answer by route template and status code and times it, whatever produced
    it: a route, an error handler, the body limit, or an unhandled exception (then 500)."""

    def __init__(self, app: ASGIApp, metrics: RequestObserver, routes: Sequence[BaseRoute]) -> None:
        self.app = app
        self.metrics = metrics
        self.routes = routes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def recording(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, recording)
        finally:
            self.metrics.observe_request(self._route(scope), status, time.perf_counter() - started)

    def _route(self, scope: Scope) -> str:
        """The matched route's template; answers given before routing (413) look it up."""
        route: Any = scope.get("route")
        if route is None:
            route = next((r for r in self.routes if r.matches(scope)[0] is Match.FULL), None)
        return str(getattr(route, "path", UNMATCHED))
