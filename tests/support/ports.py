"""Free loopback ports for services a test starts."""

from __future__ import annotations

import socket


def free_port() -> int:
    """A loopback port nobody listens on right now (the OS picks it)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def free_addr() -> str:
    """`127.0.0.1:<free port>`, the form of the `*_addr` settings."""
    return f"127.0.0.1:{free_port()}"


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
