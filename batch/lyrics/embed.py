"""Pure Spark transforms for lyric embeddings: word vectors from Word2Vec, a song's mean word vector."""

from __future__ import annotations

from typing import TYPE_CHECKING

from playlist2vec.spark_vectors import playlist_means

if TYPE_CHECKING:
    from pyspark.ml.feature import Word2VecModel
    from pyspark.sql import DataFrame


def word_vectors(model: Word2VecModel) -> DataFrame:
    """(word, vector array<float>) for the model's vocabulary."""
    from pyspark.ml.functions import vector_to_array

    return model.getVectors().select("word", vector_to_array("vector", "float32").alias("vector"))


def song_means(songs: DataFrame, words: DataFrame) -> DataFrame:
    """(track_uri, words) x (word, vector) -> (track_uri, vector, n_words, n_known).

    A song is to its words what a playlist is to its tracks, so this is the playlist mean
    with the columns renamed: the mean over known words, repeats counting; null if none is known.
    """
    from pyspark.sql import functions as F

    as_playlists = songs.select(F.col("track_uri").alias("pid"), F.col("words").alias("tracks"))
    as_tracks = words.select(F.col("word").alias("track_uri"), "vector")
    return playlist_means(as_playlists, as_tracks).select(
        F.col("pid").alias("track_uri"), "vector", F.col("n_tracks").alias("n_words"), "n_known")
