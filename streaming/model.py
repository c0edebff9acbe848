"""The track vectors of every model the stream writes for (active + ready), broadcast once each.

Checked once per micro-batch with one small query (`store.write_models`); a model that
appears is loaded and broadcast, one that leaves (activated elsewhere, retired) is destroyed.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pymongo.database import Database

from playlist2vec import store
from playlist2vec.errors import NotReady
from playlist2vec.spark_vectors import TrackTable

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ModelVectors:
    version: str
    dim: int
    track_vectors: TrackTable


class WriteModels:
    """Answers "which models, which vectors" once per micro-batch."""

    def __init__(self, spark: SparkSession, db: Database[dict[str, Any]]) -> None:
        self.spark = spark
        self.db = db
        self.loaded: dict[str, ModelVectors] = {}
        self.order: list[str] = []

    def current(self) -> list[ModelVectors]:
        """The active model's vectors first, then each ready model's; loads new ones, drops gone ones.

        While no model is active or ready (e.g. between two registry writes) the cached set
        stays in use; with nothing cached it is NotReady.
        """
        models = store.write_models(self.db)
        if not models:
            if not self.order:
                raise NotReady("no active model: run `playlist2vec train` first")
            return [self.loaded[v] for v in self.order]
        versions = [str(m["_id"]) for m in models]
        for model in models:
            if model["_id"] not in self.loaded:
                self.loaded[model["_id"]] = self._load(model)
        for gone in set(self.loaded) - set(versions):
            self.loaded.pop(gone).track_vectors.destroy()
            log.info("model %s no longer written: its track vectors are released", gone)
        self.order = versions
        return [self.loaded[v] for v in versions]

    def _load(self, model: dict[str, Any]) -> ModelVectors:
        version = str(model["_id"])
        uris, matrix = store.load_track_vectors(self.db, version)
        if not uris:
            raise NotReady(f"model {version} ({model['status']}) has no track vectors")
        dim = int(model.get("vector_size") or matrix.shape[1])
        log.info("loaded model %s (%s): %d track vectors of dimension %d", version, model["status"],
                 len(uris), dim)
        return ModelVectors(version=version, dim=dim, track_vectors=TrackTable(self.spark, uris, matrix))

    def close(self) -> None:
        for loaded in self.loaded.values():
            loaded.track_vectors.destroy()
        self.loaded.clear()
        self.order = []
