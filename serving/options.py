"""`ServeOptions`: how one serving instance builds, rebuilds and follows its indexes."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from serving import indexes
from serving.indexes import IndexParams
from serving.shard import Shard


@dataclass(frozen=True)
class ServeOptions:
    indexes_dir: Path
    strategy: str = "annoy"
    params: IndexParams = field(default_factory=IndexParams)
    rebuild_interval: float = 300.0
    rebuild_max_delta: int = 10_000
    instance: str = "serving"
    shard: Shard | None = None
    poll_wait: float = 0.1
    max_batch: int = 1_000
    live_quality: bool = False

    def __post_init__(self) -> None:
        indexes.check(self.strategy)  # at start, not in the builder thread
