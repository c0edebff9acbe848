"""Pure Spark transforms for lyric embeddings: songs as Word2Vec sentences, a song's mean word vector."""

from __future__ import annotations

from typing import TYPE_CHECKING

from playlist2vec.spark_vectors import playlist_means

if TYPE_CHECKING:
    from pyspark.sql import DataFrame


def as_sentences(songs: DataFrame) -> DataFrame:
    """(track_uri, words) -> (pid, tracks): a song is to its words what a playlist is to its tracks,
    so the playlist Word2Vec fit and the playlist mean apply unchanged."""
    from pyspark.sql import functions as F

    return songs.select(F.col("track_uri").alias("pid"), F.col("words").alias("tracks"))


def song_means(sentences: DataFrame, word_vectors: DataFrame) -> DataFrame:
    """(pid, tracks) x (track_uri, vector) as words -> (track_uri, vector, n_words, n_known).

    The mean over the song's known words, repeats counting; null when no word is known.
    """
    from pyspark.sql import functions as F

    return playlist_means(sentences, word_vectors).select(
        F.col("pid").alias("track_uri"), "vector", F.col("n_tracks").alias("n_words"), "n_known")
