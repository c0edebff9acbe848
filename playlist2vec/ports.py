"""Free loopback ports, for services a process starts for itself (benchmarks, tests)."""

from __future__ import annotations

import socket

LOOPBACK = "127.0.0.1"


def free_port() -> int:
    """A loopback port nobody listens on right now (the OS picks it)."""
    with socket.socket() as sock:
        sock.bind((LOOPBACK, 0))
        return int(sock.getsockname()[1])


def free_addr() -> str:
    """`127.0.0.1:<free port>`, the form of the `*_addr` settings."""
    return f"{LOOPBACK}:{free_port()}"
