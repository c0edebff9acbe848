"""playlist2vec: fresh playlist and track embeddings (Spark Word2Vec, Kafka, MongoDB, Annoy)."""

from __future__ import annotations

__version__ = "0.1.0"
