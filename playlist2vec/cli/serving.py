"""`playlist2vec serve`, `playlist2vec route` and `playlist2vec bench serve`: the serving process,
the router in front of its shards, and its benchmark."""

from __future__ import annotations

import logging
from typing import Annotated

import typer

from playlist2vec.cli.common import BenchOutput, print_report


def serve(
    ctx: typer.Context,
    rebuild_interval: Annotated[float, typer.Option(
        min=1, help="rebuild the playlist snapshot after this many seconds")] = 300.0,
    rebuild_max_delta: Annotated[int, typer.Option(
        min=0, help="rebuild when more playlists than this changed since the snapshot (and "
                    "more than --rebuild-delta-share of its size)")] = 10_000,
    rebuild_delta_share: Annotated[float, typer.Option(
        min=0, help="rebuild only once the delta holds this share of the snapshot's size: the "
                    "rebuild work per change stays constant as the index grows")] = 0.25,
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
    from serving.options import ServeOptions
    from serving.server import serve as run

    options = ServeOptions.from_settings(
        ctx.obj, index=index, trees=trees, search_k=search_k, hnsw_m=hnsw_m,
        hnsw_ef_construction=hnsw_ef_construction, hnsw_ef=hnsw_ef,
        rebuild_interval=rebuild_interval, rebuild_max_delta=rebuild_max_delta,
        rebuild_delta_share=rebuild_delta_share, shard=shard,
        instance=instance, live_quality=live_quality)
    run(ctx.obj.with_flags(http_addr=http_addr), options)


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
    from serving.router import RouterOptions, serve_router

    options = RouterOptions.from_settings(ctx.obj, shard, timeout)
    serve_router(ctx.obj.with_flags(http_addr=http_addr), options)


def bench_serve(
    ctx: typer.Context,
    items: Annotated[int, typer.Option(min=1000, help="vectors in the index")] = 100_000,
    dim: Annotated[int, typer.Option(min=2, help="vector dimension")] = 32,
    distribution: Annotated[str, typer.Option(help="clustered or gaussian")] = "clustered",
    queries: Annotated[int, typer.Option(min=10, help="queries per measurement")] = 200,
    index: Annotated[list[str] | None, typer.Option(
        help="configurations to measure, in order (repeat) [default: all: "
             "exact, annoy-10, annoy-50, hnsw-16]")] = None,
    output: BenchOutput = None,
) -> None:
    """Build every index strategy over synthetic vectors; time builds and queries, measure recall."""
    from serving.bench import ServeBenchOptions, run, table

    logging.getLogger("httpx").setLevel(logging.WARNING)  # one line per request otherwise
    options = ServeBenchOptions.from_settings(ctx.obj, items=items, dim=dim, distribution=distribution,
                                              queries=queries, indexes=index, output=output)
    print_report(table(options, run(ctx.obj, options)), options.output)
