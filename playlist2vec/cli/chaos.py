"""`playlist2vec chaos`: seeded kill -9 rounds against the whole pipeline, checked against an oracle."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Annotated

import typer

from playlist2vec.chaos import ChaosOptions, run_chaos
from playlist2vec.cli.common import print_report


def chaos(
    ctx: typer.Context,
    events: Annotated[int, typer.Option(min=100, help="events to publish")] = 20_000,
    rounds: Annotated[int, typer.Option(
        min=0, help="kill -9 rounds (stream job, server, Kafka, MongoDB)")] = 10,
    seed: Annotated[int, typer.Option(help="seed of the events and of the faults")] = 1,
    poison: Annotated[float, typer.Option(
        min=0, max=0.5, help="fraction of malformed or poison events")] = 0.05,
    rate: Annotated[float, typer.Option(min=10, help="events published per second")] = 1_000.0,
    playlists: Annotated[int, typer.Option(min=200, help="size of the generated training corpus")] = 1_000,
    settle_timeout: Annotated[float, typer.Option(
        min=10, help="seconds allowed to converge after the faults")] = 600,
    out: Annotated[Path | None, typer.Option(help="report file [default P2V_HOME/chaos/report.json]")] = None,
) -> None:
    """Inject faults into the whole pipeline on this machine's loopback services and check that
    nothing is lost: exit 1 when MongoDB, the dead letters or the served answers disagree with
    an oracle replayed from the topic. Starts (and stops) its own stack: run it on a P2V_HOME
    whose stack is down."""
    logging.getLogger().setLevel(logging.WARNING)
    options = ChaosOptions.from_settings(
        ctx.obj, events=events, rounds=rounds, seed=seed, poison=poison, rate=rate,
        playlists=playlists, settle_timeout_s=settle_timeout, report=out)
    report = run_chaos(ctx.obj, options)
    if options.report is None:  # from_settings always names one
        print(report.summary())
    else:
        print_report(report.summary(), options.report)
    if not report.passed:
        raise typer.Exit(1)
