"""`playlist2vec serve`, `playlist2vec route` and `playlist2vec bench serve`: the serving process,
the router in front of its shards, and its benchmark."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Annotated

import typer

from playlist2vec.errors import ConfigError
from playlist2vec.settings import Settings, split_addr


def _with_addr(settings: Settings, http_addr: str | None) -> Settings:
    if http_addr is None:
        return settings
    try:
        split_addr(http_addr)
    except ValueError as exc:
        raise ConfigError(f"--http-addr: {exc}") from None
    return settings.model_copy(update={"http_addr": http_addr})


def serve(
    ctx: typer.Context,
    rebuild_interval: Annotated[float, typer.Option(
        min=1, help="rebuild the playlist snapshot after this many seconds")] = 300.0,
    rebuild_max_delta: Annotated[int, typer.Option(
        min=0, help="rebuild when more playlists than this changed since the snapshot")] = 10_000,
    index: Annotated[str | None, typer.Option(
        help="index strategy: annoy, exact, hnsw or auto (exact below 200k items, hnsw from "
             "there) [env P2V_INDEX_STRATEGY, default annoy]")] = None,
    trees: Annotated[int, typer.Option(min=1, help="Annoy trees")] = 10,
    search_k: Annotated[int, typer.Option(
        help="Annoy nodes inspected per query; -1: max(200 x results asked for, 10000)")] = -1,
    hnsw_m: Annotated[int, typer.Option(min=2, help="hnsw links per node")] = 16,
    hnsw_ef_construction: Annotated[int, typer.Option(
        min=1, help="hnsw build-time candidate list")] = 64,
    hnsw_ef: Annotated[int, typer.Option(
        help="hnsw query-time candidate list; -1: max(results asked for, 64)")] = -1,
    shard: Annotated[str | None, typer.Option(
        help="i/n: serve only playlists with pid % n == i (tracks are served whole)")] = None,
    instance: Annotated[str | None, typer.Option(
        help="instance name for resume tokens [env P2V_SERVING_INSTANCE, default serving]")] = None,
    http_addr: Annotated[str | None, typer.Option(
        help="bind host:port [env P2V_HTTP_ADDR, default 127.0.0.1:8000]")] = None,
    live_quality: Annotated[bool | None, typer.Option(
        help="score live edits: live recall@500 of the active and the ready models "
             "[env P2V_LIVE_QUALITY, default off]")] = None,
) -> None:
    """Serve recommendations over HTTP, kept fresh by MongoDB change streams."""
    from serving.engine import ServeOptions
    from serving.indexes import IndexParams
    from serving.server import serve as run
    from serving.shard import Shard

    settings = _with_addr(ctx.obj, http_addr)
    options = ServeOptions(
        indexes_dir=settings.indexes_dir,
        strategy=index or settings.index_strategy,
        params=IndexParams(trees=trees, search_k=search_k, hnsw_m=hnsw_m,
                           hnsw_ef_construction=hnsw_ef_construction, hnsw_ef=hnsw_ef),
        rebuild_interval=rebuild_interval,
        rebuild_max_delta=rebuild_max_delta,
        instance=instance or settings.serving_instance,
        shard=Shard.parse(shard) if shard else None,
        live_quality=settings.live_quality if live_quality is None else live_quality,
        provisional_penalty=settings.fold_in_penalty,
    )
    run(settings, options)


def route(
    ctx: typer.Context,
    shard: Annotated[list[str], typer.Option(
        help="base URL of a `serve --shard i/n` process (repeat, one per shard)")],
    timeout: Annotated[float | None, typer.Option(
        help="seconds per shard request [env P2V_ROUTER_SHARD_TIMEOUT, default 1.0]")] = None,
    http_addr: Annotated[str | None, typer.Option(
        help="bind host:port [env P2V_HTTP_ADDR, default 127.0.0.1:8000]")] = None,
) -> None:
    """Route queries to playlist shards: merge their top-k, answer partially when one is down."""
    from serving.router import RouterOptions, parse_shard_url, serve_router

    settings = ctx.obj
    if timeout is not None and timeout <= 0:
        raise ConfigError(f"--timeout must be positive, got {timeout}")
    options = RouterOptions(shards=tuple(parse_shard_url(url) for url in shard),
                            timeout=timeout or settings.router_shard_timeout,
                            max_body_bytes=settings.http_max_body_bytes)
    serve_router(_with_addr(settings, http_addr), options)


def bench_serve(
    ctx: typer.Context,
    items: Annotated[int, typer.Option(min=1000, help="vectors in the index")] = 100_000,
    dim: Annotated[int, typer.Option(min=2, help="vector dimension")] = 32,
    distribution: Annotated[str, typer.Option(help="clustered or gaussian")] = "clustered",
    queries: Annotated[int, typer.Option(min=10, help="queries per measurement")] = 200,
    index: Annotated[list[str] | None, typer.Option(
        help="configurations to measure, in order (repeat) [default: all: "
             "exact, annoy-10, annoy-50, hnsw-16]")] = None,
    out: Annotated[Path | None, typer.Option(
        help="JSON file [default P2V_HOME/bench/serve-<distribution>-<items>.json]")] = None,
) -> None:
    """Build every index strategy over synthetic vectors; time builds and queries, measure recall."""
    from serving.bench import run, table

    logging.getLogger("httpx").setLevel(logging.WARNING)  # one line per request otherwise
    settings = ctx.obj
    out = out or settings.home / "bench" / f"serve-{distribution}-{items}.json"
    report = run(settings, items, dim, distribution, queries, out, index)
    print(table(report))
    print(f"wrote {out}")
