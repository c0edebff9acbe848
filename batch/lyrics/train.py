"""`lyrics train`: read cached lyrics -> tokenise -> Spark Word2Vec -> song means -> `lyric_vectors`.

A document per song: `_id` track_uri, `vector` (the mean of its known word vectors), `n_words`
(tokens), `n_known` (tokens in the vocabulary), `model` (version and parameters). Songs none
of whose words made the vocabulary get no document; documents of earlier models are removed,
so the collection always holds one model's vectors.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from pymongo import ReplaceOne
from pymongo.database import Database

from batch import word2vec
from batch.lyrics import cache, embed
from batch.lyrics.options import LyricsTrainOptions
from batch.lyrics.tokens import tokenize
from batch.word2vec import Word2VecParams
from playlist2vec import spark, store, vectors
from playlist2vec.errors import NotReady
from playlist2vec.settings import Settings

if TYPE_CHECKING:
    from pyspark.sql import DataFrame


@dataclass(frozen=True)
class TrainSummary:
    version: str
    songs: int  # with lyrics
    written: int
    vocab_size: int
    elapsed_s: float

    def line(self) -> str:
        return (f"lyric model {self.version}: {self.vocab_size} words, {self.written} of {self.songs} songs "
                f"with lyrics embedded in {self.elapsed_s:.1f}s")


def token_lists(db: Database[dict[str, Any]], stop_words: frozenset[str]) -> Iterator[tuple[str, list[str]]]:
    """(track_uri, words) of every song with lyrics and at least one word."""
    for doc in store.iter_docs(db[store.LYRICS], {"status": cache.FOUND}, ["text"]):
        words = tokenize(doc.get("text") or "", stop_words)
        if words:
            yield doc["_id"], words


def fit(songs: DataFrame, options: LyricsTrainOptions) -> tuple[DataFrame, int]:
    """(track_uri, vector, n_words, n_known) per song, and the vocabulary size."""
    sentences = embed.as_sentences(songs)
    model = word2vec.fit(sentences, Word2VecParams(
        vector_size=options.vector_size, window=options.window, iterations=options.iterations,
        min_count=options.min_count, seed=options.seed))
    words = word2vec.track_vectors(model)
    return embed.song_means(sentences, words), words.count()


def build_writes(rows: Iterable[Mapping[str, Any]], model: Mapping[str, Any],
                 subtype: int) -> Iterator[ReplaceOne[dict[str, Any]]]:
    """Whole-document upserts for the songs that have a vector."""
    for row in rows:
        if row["vector"] is None:
            continue
        yield ReplaceOne({"_id": row["track_uri"]}, {
            "_id": row["track_uri"], "vector": vectors.encode(row["vector"], subtype),
            "n_words": int(row["n_words"]), "n_known": int(row["n_known"]), "model": dict(model),
        }, upsert=True)


def train_lyrics(settings: Settings, options: LyricsTrainOptions | None = None) -> TrainSummary:
    options = options or LyricsTrainOptions()
    started = time.monotonic()
    with store.opened(settings) as db:
        songs = list(token_lists(db, options.stop_words))
        if not songs:
            raise NotReady("no lyrics with words cached: run `playlist2vec lyrics fetch` first")
        session = spark.session(settings, "p2v-lyrics-train", kafka=False,
                                conf=word2vec.SPARK_CONF)
        frame = session.createDataFrame(songs, "track_uri string, words array<string>")
        means, vocab_size = fit(frame, options)
        version = datetime.now(UTC).strftime("lyrics-%Y%m%dT%H%M%SZ-") + uuid.uuid4().hex[:6]
        params = asdict(options) | {"stop_words": len(options.stop_words)}
        model = {"version": version, **params, "vocab_size": vocab_size, "trained_at": datetime.now(UTC)}
        written = store.bulk_write(db[store.LYRIC_VECTORS],
                                   build_writes((r.asDict() for r in means.toLocalIterator()), model,
                                                settings.vector_subtype))
        db[store.LYRIC_VECTORS].delete_many({"model.version": {"$ne": version}})
    return TrainSummary(version, len(songs), written, vocab_size, time.monotonic() - started)
