"""`playlist2vec probe`: the canary that measures edit-to-answer freshness from outside."""

from __future__ import annotations

from typing import Annotated

import typer

from playlist2vec.events import CANARY_PIDS


def probe(
    ctx: typer.Context,
    api_url: Annotated[str | None, typer.Option(
        help="serving base URL [default http://P2V_HTTP_ADDR]")] = None,
    interval: Annotated[float, typer.Option(min=1.0, help="seconds between canary edits")] = 10.0,
    timeout: Annotated[float, typer.Option(
        min=0.5, help="seconds an edit may take to be served before the round fails")] = 20.0,
    pid: Annotated[int, typer.Option(
        help=f"canary pid (its 3 anchors follow it), in {CANARY_PIDS.start}..")] = CANARY_PIDS.start,
    track: Annotated[list[str] | None, typer.Option(
        help="3 known tracks for the canary (repeat) [default: 3 of the active model's]")] = None,
    rounds: Annotated[int | None, typer.Option(
        min=1, help="stop after this many rounds; exit 1 if any failed [default: run until Ctrl-C]")] = None,
    metrics_addr: Annotated[str | None, typer.Option(
        help="Prometheus endpoint host:port [env P2V_PROBE_METRICS_ADDR, default 127.0.0.1:9110]")] = None,
) -> None:
    """Publish a canary playlist every --interval and export how long the API takes to serve it."""
    from playlist2vec.probe import ProbeOptions, run_probe

    options = ProbeOptions.from_settings(
        ctx.obj, api_url=api_url, interval_s=interval, timeout_s=timeout, pid=pid,
        tracks=track or (), rounds=rounds, metrics_addr=metrics_addr)
    run_probe(ctx.obj, options, echo=typer.echo)
