"""Spark MLlib Word2Vec over playlists (tracks as words): parameters, fit, and the track vectors."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pyspark.ml.feature import Word2VecModel
    from pyspark.sql import DataFrame


SPARK_CONF = {f"spark.{side}.defaultJavaOptions": "-Ddev.ludovic.netlib.blas.allowNative=false"
              for side in ("driver", "executor")}
"""The Spark settings of a session that fits: the JDK's BLAS, never a system one. Spark's
Word2Vec calls a system BLAS (libblas.so.3) whenever one can be loaded, and a JNI call for each
of its dot products and saxpys of a few dozen floats made the fit 1.9x slower
(docs/benchmarks.md). The default JVM options, so that a job's own extraJavaOptions still apply."""


@dataclass(frozen=True)
class Word2VecParams:
    """Training knobs. Defaults chosen by hold-out evaluation on generated data (docs/batch.md).

    Spark's Word2Vec is skip-gram with hierarchical softmax and has neither negative sampling
    nor sub-sampling, so window, iterations, vector size and min-count are the levers.
    """

    vector_size: int = 64
    window: int = 5
    iterations: int = 5
    min_count: int = 5
    partitions: int = 2
    step_size: float = 0.025
    seed: int = 42

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def fit(sentences: DataFrame, params: Word2VecParams) -> Word2VecModel:
    """Train on the `tracks` column (array<string>, one playlist per row, in play order)."""
    from pyspark.ml.feature import Word2Vec

    # Playlists are at most 250 tracks in the MPD, but edited ones may be longer: keep them whole.
    estimator = Word2Vec(
        vectorSize=params.vector_size, windowSize=params.window, maxIter=params.iterations,
        minCount=params.min_count, numPartitions=params.partitions, stepSize=params.step_size,
        seed=params.seed, maxSentenceLength=10_000, inputCol="tracks",
    )
    return estimator.fit(sentences.select("tracks"))


def track_vectors(model: Word2VecModel) -> DataFrame:
    """(track_uri, vector array<float>) for every word in the model's vocabulary."""
    from pyspark.ml.functions import vector_to_array
    from pyspark.sql import functions as F

    return model.getVectors().select(
        F.col("word").alias("track_uri"),
        vector_to_array(F.col("vector"), "float32").alias("vector"))
