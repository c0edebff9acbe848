"""`playlist2vec produce`, `stream` and `bench stream`: the streaming side of the CLI."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from playlist2vec.cli.common import BenchOutput, print_report


def produce(
    ctx: typer.Context,
    input_path: Annotated[Path, typer.Option(
        "--input", exists=True, help="an MPD slice file or a folder of them")],
    rate: Annotated[float, typer.Option(min=0, help="events per second (0: as fast as possible)")] = 0.0,
    edits: Annotated[float, typer.Option(min=0, help="edit events, as a fraction of the playlists")] = 1.0,
    deletes: Annotated[float, typer.Option(min=0, help="deletions, as a fraction of the playlists")] = 0.05,
    invalid: Annotated[float, typer.Option(
        min=0, max=0.99, help="fraction of malformed events mixed in")] = 0.0,
    count: Annotated[int | None, typer.Option(min=1, help="stop after this many events")] = None,
    partitions: Annotated[int, typer.Option(min=1, help="partitions of topics created if missing")] = 4,
    seed: Annotated[int, typer.Option(help="random seed of the edit stream")] = 0,
) -> None:
    """Publish playlists from MPD slices, then edits, renames, moves and deletions, to Kafka."""
    from streaming.producer import ProduceOptions
    from streaming.producer import produce as run

    options = ProduceOptions(input_path, rate=rate, edits=edits, deletes=deletes, invalid=invalid,
                             count=count, partitions=partitions, seed=seed)
    print(run(ctx.obj, options).summary())


def stream(
    ctx: typer.Context,
    trigger: Annotated[str | None, typer.Option(
        help="micro-batch interval [env P2V_STREAM_TRIGGER, default 250ms]")] = None,
    checkpoint: Annotated[Path | None, typer.Option(
        help="checkpoint folder [default P2V_HOME/checkpoints/stream]")] = None,
    max_offsets_per_trigger: Annotated[int | None, typer.Option(
        min=1, help="Kafka records per micro-batch at most [env P2V_STREAM_MAX_OFFSETS_PER_TRIGGER]")] = None,
) -> None:
    """Keep MongoDB playlist vectors current from the Kafka topic (Spark Structured Streaming).

    Stops after the running micro-batch on SIGTERM or Ctrl-C; restarts resume from the checkpoint.
    """
    from streaming.job import StreamOptions, run

    run(ctx.obj, StreamOptions.from_settings(ctx.obj, checkpoint, trigger, max_offsets_per_trigger))
    print("stream stopped")


def bench_stream(
    ctx: typer.Context,
    events: Annotated[int, typer.Option(min=100, help="events to publish (distinct playlists)")] = 60_000,
    rate: Annotated[float, typer.Option(min=1, help="offered load, events per second")] = 5_000.0,
    producers: Annotated[int, typer.Option(min=1, help="producer processes sharing the load")] = 4,
    partitions: Annotated[int, typer.Option(min=1, help="partitions of the benchmark topic")] = 2,
    trigger: Annotated[str, typer.Option(help="the job's micro-batch interval")] = "250ms",
    max_offsets_per_trigger: Annotated[int, typer.Option(
        min=1, help="the job's per-batch record cap")] = 20_000,
    vocab_size: Annotated[int, typer.Option(min=1, help="tracks in the synthetic active model")] = 20_000,
    serve: Annotated[bool, typer.Option(
        help="also run `playlist2vec serve` and measure Kafka -> servable latency")] = True,
    samples: Annotated[int, typer.Option(
        min=1, help="playlists polled on serving (an outside check of its freshness histogram)")] = 50,
    warm_up: Annotated[float, typer.Option(
        min=0, help="seconds of load at --rate before the measured run (JVMs compile their hot "
        "paths; a steady state is measured)")] = 15.0,
    spark_master: Annotated[str, typer.Option(help="Spark master of the job")] = "local[2]",
    metrics_addr: Annotated[str | None, typer.Option(
        help="where the benchmarked job serves metrics [default: a free port]")] = None,
    track_meta: Annotated[bool, typer.Option(
        help="events carry each track's metadata, as MPD events do (the job upserts it into "
        "`tracks`)")] = False,
    output: BenchOutput = None,
) -> None:
    """Kafka -> MongoDB and Kafka -> servable latency (p50/p95/p99) and sustained throughput.

    Exits non-zero when events are still missing from MongoDB at the deadline.
    """
    from streaming.bench import BenchOptions
    from streaming.bench import bench_stream as run

    options = BenchOptions.from_settings(
        ctx.obj, events=events, rate=rate, producers=producers, partitions=partitions,
        trigger=trigger, max_offsets_per_trigger=max_offsets_per_trigger, vocab_size=vocab_size,
        serve=serve, samples=samples, warm_up_s=warm_up, spark_master=spark_master,
        metrics_addr=metrics_addr, track_meta=track_meta, output=output)
    print_report(json.dumps(run(ctx.obj, options), indent=2), options.output)
