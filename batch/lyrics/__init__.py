"""Lyrics: fetch them from an HTTP provider, embed them with Word2Vec, correlate with song embeddings."""
