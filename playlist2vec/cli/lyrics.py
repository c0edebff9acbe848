"""`playlist2vec lyrics fetch|train|correlate` and `bench lyrics-fetch`: the lyrics workflow."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from batch.lyrics.options import CorrelateOptions, FetchOptions, LyricsTrainOptions
from playlist2vec.cli.common import BenchOutput, print_report

app = typer.Typer(
    help="Lyrics: fetch from an HTTP provider, embed with Word2Vec, correlate with song embeddings.",
    no_args_is_help=True, rich_markup_mode=None)
FETCH, TRAIN, CORRELATE = FetchOptions(), LyricsTrainOptions(), CorrelateOptions()


@app.command()
def fetch(
    ctx: typer.Context,
    provider_url: Annotated[str, typer.Option(
        help="URL template with {artist} and {title}, e.g. 'https://host/lyrics?a={artist}&t={title}'")],
    concurrency: Annotated[int, typer.Option(min=1, help="requests in flight")] = FETCH.concurrency,
    rate: Annotated[float, typer.Option(min=0, help="requests per second, 0: no limit")] = FETCH.rate,
    timeout: Annotated[float, typer.Option(min=0.1, help="seconds per request")] = FETCH.timeout_s,
    max_attempts: Annotated[int, typer.Option(min=1, help="attempts per song")] = FETCH.max_attempts,
    backoff: Annotated[float, typer.Option(min=0, help="backoff scale in seconds")] = FETCH.backoff_s,
    retry_errors: Annotated[bool, typer.Option(help="fetch songs whose last fetch failed again")] = False,
) -> None:
    """Fetch lyrics for catalogue tracks that have no cached answer in `lyrics` yet."""
    from batch.lyrics.fetch import fetch_lyrics

    options = FetchOptions(concurrency=concurrency, rate=rate, timeout_s=timeout, max_attempts=max_attempts,
                           backoff_s=backoff, retry_errors=retry_errors)
    print(fetch_lyrics(ctx.obj, provider_url, options).line())


@app.command()
def train(
    ctx: typer.Context,
    vector_size: Annotated[int, typer.Option(min=2, help="lyric embedding dimension")] = TRAIN.vector_size,
    min_count: Annotated[int, typer.Option(min=1, help="drop words seen fewer times")] = TRAIN.min_count,
    window: Annotated[int, typer.Option(min=1, help="Word2Vec window")] = TRAIN.window,
    iterations: Annotated[int, typer.Option(min=1, help="passes over the lyrics")] = TRAIN.iterations,
    seed: Annotated[int, typer.Option(help="random seed")] = TRAIN.seed,
    stop_words: Annotated[Path | None, typer.Option(
        exists=True, dir_okay=False, help="file of words to drop, one per line")] = None,
) -> None:
    """Train Word2Vec on lyric words; write each song's mean word vector to `lyric_vectors`."""
    from batch.lyrics import tokens
    from batch.lyrics.train import train_lyrics

    words = tokens.read_stop_words(stop_words) if stop_words else frozenset()
    options = LyricsTrainOptions(vector_size=vector_size, min_count=min_count, window=window,
                           iterations=iterations, seed=seed, stop_words=words)
    print(train_lyrics(ctx.obj, options).line())


@app.command()
def correlate(
    ctx: typer.Context,
    pairs: Annotated[int, typer.Option(min=10, help="random song pairs to compare")] = CORRELATE.pairs,
    out: Annotated[Path, typer.Option(dir_okay=False, help="hexbin plot PNG")] = CORRELATE.out,
    seed: Annotated[int, typer.Option(help="random seed for the pair sample")] = CORRELATE.seed,
) -> None:
    """Do songs close in playlists have close lyrics? Pearson and Spearman over song pairs, and a plot."""
    from batch.lyrics.correlate import correlate_embeddings

    report = correlate_embeddings(ctx.obj, CorrelateOptions(pairs=pairs, out=out, seed=seed))
    print(report.details())
    print(report.conclusion)


def bench_fetch(
    ctx: typer.Context,
    songs: Annotated[int, typer.Option(min=1, help="synthetic songs to fetch")] = 2_000,
    latency_ms: Annotated[float, typer.Option(min=0, help="provider latency per request")] = 200.0,
    concurrency: Annotated[int, typer.Option(min=1, help="requests in flight")] = FETCH.concurrency,
    rate: Annotated[float, typer.Option(min=0, help="requests per second, 0: no limit")] = FETCH.rate,
    output: BenchOutput = None,
) -> None:
    """Lyrics fetch throughput (songs/min) against the synthetic provider, in a scratch database."""
    from batch.lyrics.bench import FetchBenchOptions
    from batch.lyrics.bench import bench_fetch as run

    options = FetchBenchOptions.from_settings(ctx.obj, songs=songs, latency_ms=latency_ms,
                                              concurrency=concurrency, rate=rate, output=output)
    print_report(run(ctx.obj, options).line(), options.output)
