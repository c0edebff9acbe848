"""`ServeOptions`: how one serving instance builds, rebuilds and follows its indexes."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from playlist2vec.foldin import PENALTY
from playlist2vec.settings import Settings
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
    rebuild_delta_share: float = 0.25  # and at least this share of the snapshot's size
    instance: str = "serving"
    shard: Shard | None = None
    poll_wait: float = 0.1
    max_batch: int = 1_000
    live_quality: bool = False
    provisional_penalty: float = PENALTY  # P2V_FOLD_IN_PENALTY

    def __post_init__(self) -> None:
        indexes.check(self.strategy)  # at start, not in the builder thread

    @classmethod
    def from_settings(cls, settings: Settings, *, index: str | None = None, trees: int = 10,
                      search_k: int = -1, hnsw_m: int = 16, hnsw_ef_construction: int = 64,
                      hnsw_ef: int = -1, rebuild_interval: float = 300.0,
                      rebuild_max_delta: int = 10_000, rebuild_delta_share: float = 0.25,
                      shard: str | None = None,
                      instance: str | None = None, live_quality: bool | None = None
                      ) -> ServeOptions:
        """`serve`'s options: its flags, and settings where a flag is not given (None)."""
        return cls(
            indexes_dir=settings.indexes_dir,
            strategy=index or settings.index_strategy,
            params=IndexParams(trees=trees, search_k=search_k, hnsw_m=hnsw_m,
                               hnsw_ef_construction=hnsw_ef_construction, hnsw_ef=hnsw_ef),
            rebuild_interval=rebuild_interval,
            rebuild_max_delta=rebuild_max_delta,
            rebuild_delta_share=rebuild_delta_share,
            instance=instance or settings.serving_instance,
            shard=Shard.parse(shard) if shard else None,
            live_quality=settings.live_quality if live_quality is None else live_quality,
            provisional_penalty=settings.fold_in_penalty,
        )
