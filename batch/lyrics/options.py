"""Tunable knobs of the lyrics jobs, with their defaults (stdlib only, so the CLI imports it cheaply)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path


@dataclass(frozen=True)
class FetchOptions:
    """How politely and persistently `fetch` talks to the lyrics provider."""

    concurrency: int = 32  # requests in flight at most
    rate: float = 200.0  # requests per second at most (every attempt counts); 0 = unlimited
    timeout_s: float = 10.0  # per request (connect, read, write, pool each)
    max_attempts: int = 5  # per song, the first try included
    backoff_s: float = 0.5  # scale of the exponential backoff between attempts (full jitter)
    backoff_max_s: float = 30.0  # cap of one wait, Retry-After included
    retry_errors: bool = False  # also fetch songs whose last fetch ended in `error`
    write_batch: int = 200  # cached results per MongoDB bulk write
    progress: bool = True  # tqdm bar on stderr


@dataclass(frozen=True)
class LyricsTrainOptions:
    """Word2Vec over lyric words (the playlist model's knobs, see batch.word2vec.Word2VecParams)."""

    vector_size: int = 32
    min_count: int = 5  # words seen fewer times are dropped from the vocabulary
    window: int = 5
    iterations: int = 5
    seed: int = 42
    stop_words: frozenset[str] = field(default_factory=frozenset)


@dataclass(frozen=True)
class CorrelateOptions:
    """Which song pairs `correlate` compares and where its plot goes."""

    pairs: int = 20_000  # random song pairs with both embeddings
    out: Path = Path("lyrics-correlation.png")  # the hexbin plot
    seed: int = 0  # of the pair sample
