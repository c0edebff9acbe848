"""Prometheus exposition for processes that are not HTTP servers themselves (the streaming
job, the canary probe): their registry on a host:port of their own."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, start_http_server

from playlist2vec.errors import ConfigError
from playlist2vec.settings import split_addr


def serve_registry(registry: CollectorRegistry, addr: str, setting: str) -> None:
    """Expose `registry` on `addr` (host:port) from a daemon thread; ConfigError naming
    `setting` if the address cannot be bound."""
    host, port = split_addr(addr)
    try:
        start_http_server(port, addr=host, registry=registry)
    except OSError as exc:
        raise ConfigError(f"cannot serve metrics on {addr} ({setting}): {exc}") from None
