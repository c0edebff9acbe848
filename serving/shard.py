"""Sharding by playlist id: instance i of n serves the playlists with pid % n == i."""

from __future__ import annotations

import zlib
from dataclasses import dataclass
from typing import Any

from playlist2vec.errors import ConfigError


@dataclass(frozen=True)
class Shard:
    index: int
    count: int

    @classmethod
    def parse(cls, text: str) -> Shard:
        """`i/n` with 0 <= i < n, or ConfigError."""
        left, sep, right = text.partition("/")
        if not sep or not left.isdigit() or not right.isdigit() or not 0 <= int(left) < int(right):
            raise ConfigError(f"--shard expects i/n with 0 <= i < n, got {text!r}")
        return cls(int(left), int(right))

    def owns(self, pid: Any) -> bool:
        # ints map to themselves so operators can predict placement; other ids use a stable
        # hash (Python's hash() of str is salted per process)
        key = pid if isinstance(pid, int) else zlib.crc32(str(pid).encode())
        return key % self.count == self.index
