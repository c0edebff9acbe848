"""Runs the serving process: engine over MongoDB, HTTP app, uvicorn on `settings.http_addr`."""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

import uvicorn
from fastapi import FastAPI

from playlist2vec import store
from playlist2vec.ports import free_port
from playlist2vec.settings import Settings, split_addr
from serving.api import create_app
from serving.engine import Engine, ServeOptions
from serving.metrics import ServingMetrics
from serving.source import MongoSource

log = logging.getLogger(__name__)


def build_app(settings: Settings, options: ServeOptions,
              metrics: ServingMetrics | None = None) -> FastAPI:
    """The app over the database named in `settings` (nothing connects before the lifespan); its
    MongoDB client is closed when the app shuts down."""
    metrics = metrics or ServingMetrics()
    db = store.database(settings)
    engine = Engine(MongoSource(db), options, metrics)
    return create_app(settings, engine, metrics, owned=db.client)


def serve(settings: Settings, options: ServeOptions) -> None:
    """Serve until interrupted."""
    host, port = split_addr(settings.http_addr)
    log.info("serving on http://%s:%d (index %s)", host, port, options.strategy)
    uvicorn.run(build_app(settings, options), host=host, port=port, log_level="warning")


class BackgroundServer:
    """uvicorn in a thread on a free loopback port (benchmarks and tests); `with` yields its URL."""

    def __init__(self, app: Any) -> None:
        self.port = free_port()
        self.server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=self.port,
                                                    log_level="warning"))
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> str:
        self.thread.start()
        deadline = time.monotonic() + 30
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("HTTP server did not start")
            time.sleep(0.05)
        return f"http://127.0.0.1:{self.port}"

    def __exit__(self, *_: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=30)
