"""Spark batch: MPD reader, Word2Vec training, model registry, batch writes, evaluation."""
