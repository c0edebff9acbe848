"""Free loopback ports for services a test starts (one port: playlist2vec.ports)."""

from __future__ import annotations

import socket

from playlist2vec.ports import free_addr, free_port

__all__ = ["free_addr", "free_port", "free_run"]


def free_run(length: int) -> int:
    """The first of `length` consecutive free loopback ports (for services on port, port + 1, ...)."""
    for _ in range(100):
        base = free_port()
        if base + length >= 65536:
            continue
        try:
            for port in range(base, base + length):
                with socket.socket() as sock:
                    sock.bind(("127.0.0.1", port))
        except OSError:
            continue
        return base
    raise RuntimeError(f"no run of {length} free loopback ports")
