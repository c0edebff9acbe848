"""`playlist2vec probe`: the canary that measures edit-to-answer freshness from outside."""

from __future__ import annotations

import signal
import threading
from typing import Annotated

import typer

from playlist2vec.errors import ConfigError, Unavailable
from playlist2vec.events import CANARY_PIDS
from playlist2vec.settings import split_addr


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
    from playlist2vec.probe import Probe, ProbeMetrics, ProbeOptions, Round

    settings = ctx.obj
    addr = metrics_addr or settings.probe_metrics_addr
    try:
        split_addr(addr)
    except ValueError as exc:
        raise ConfigError(f"--metrics-addr: {exc}") from None
    options = ProbeOptions(api_url=api_url or f"http://{settings.http_addr}", interval_s=interval,
                           timeout_s=timeout, pid=pid, tracks=tuple(track or ()))
    metrics = ProbeMetrics()
    runner = Probe(settings, options, metrics)
    metrics.serve(addr)
    stop = threading.Event()
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    failed: list[Round] = []

    def report(outcome: Round) -> None:
        if outcome.failure is not None:
            failed.append(outcome)
            typer.echo(f"round {outcome.number}: FAILED ({outcome.failure})")
        else:
            typer.echo(f"round {outcome.number}: served in {outcome.seconds:.2f}s")

    typer.echo(f"probing {options.api_url} with canary pid {pid}; metrics on http://{addr}/metrics")
    runner.run(stop, rounds, report)
    if rounds is not None and failed:
        raise Unavailable(f"{len(failed)} of {rounds} canary rounds failed")
