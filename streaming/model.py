"""The active model's track vectors, broadcast once to the executors, reloaded when the model changes."""

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


class ActiveVectors:
    """Answers "which model, which vectors" once per micro-batch with one small query."""

    def __init__(self, spark: SparkSession, db: Database[dict[str, Any]]) -> None:
        self.spark = spark
        self.db = db
        self.loaded: ModelVectors | None = None

    def current(self) -> ModelVectors:
        """The active model's vectors; loads them when the active version differs from the cached one.

        While no model is active (e.g. between two registry writes) the cached one stays in
        use; with nothing cached it is NotReady.
        """
        try:
            model = store.active_model(self.db)
        except NotReady:
            if self.loaded is None:
                raise
            return self.loaded
        if self.loaded is None or self.loaded.version != model["_id"]:
            self._load(model)
        assert self.loaded is not None
        return self.loaded

    def _load(self, model: dict[str, Any]) -> None:
        version = model["_id"]
        uris, matrix = store.load_track_vectors(self.db, version)
        if not uris:
            raise NotReady(f"active model {version} has no track vectors")
        dim = int(model.get("vector_size") or matrix.shape[1])
        table = TrackTable(self.spark, uris, matrix)
        if self.loaded is not None:
            self.loaded.track_vectors.destroy()
        self.loaded = ModelVectors(version=version, dim=dim, track_vectors=table)
        log.info("loaded model %s: %d track vectors of dimension %d", version, len(uris), dim)

    def close(self) -> None:
        if self.loaded is not None:
            self.loaded.track_vectors.destroy()
            self.loaded = None
