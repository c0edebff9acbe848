from __future__ import annotations

import httpx
import pytest
from prometheus_client import CollectorRegistry, Counter

from playlist2vec.errors import ConfigError
from playlist2vec.exposition import serve_registry
from tests.support.ports import free_port


def test_the_registry_is_served_and_a_taken_port_names_the_setting() -> None:
    registry = CollectorRegistry()
    Counter("p2v_example_total", "an example", registry=registry).inc()
    port = free_port()
    serve_registry(registry, f"127.0.0.1:{port}", "P2V_EXAMPLE_ADDR")
    assert "p2v_example_total 1.0" in httpx.get(f"http://127.0.0.1:{port}/metrics").text
    with pytest.raises(ConfigError, match="P2V_EXAMPLE_ADDR"):
        serve_registry(CollectorRegistry(), f"127.0.0.1:{port}", "P2V_EXAMPLE_ADDR")
