"""`playlist2vec demo`: the whole pipeline on the embedded stack, in a few readable lines."""

from __future__ import annotations

import logging
from typing import Annotated

import typer

from playlist2vec.demo import DemoOptions, run_demo


def demo(
    ctx: typer.Context,
    once: Annotated[bool, typer.Option(help="Show one measured live update, then stop and exit 0")] = False,
    playlists: Annotated[int, typer.Option(min=200, help="Size of the generated corpus")] = 3000,
    seed: Annotated[int, typer.Option(help="Corpus seed")] = 7,
    rate: Annotated[float, typer.Option(min=0.1, help="Live edits per second after the tour")] = 2.0,
) -> None:
    """Start the stack, generate a corpus, train, stream, serve, and show fresh recommendations."""
    # the tour speaks for itself; the stages log to P2V_HOME/logs
    logging.getLogger().setLevel(logging.WARNING)
    result = run_demo(ctx.obj, DemoOptions(playlists=playlists, seed=seed, once=once, trickle_rate=rate))
    print(f"\nstopped cleanly; measured Kafka-to-answer latency {result.update_seconds:.2f}s")
