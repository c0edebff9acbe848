"""`playlist2vec stack up|down|status|logs|jars`: the local (or external) service stack."""

from __future__ import annotations

from typing import Annotated

import typer

from playlist2vec import stack as services
from playlist2vec.errors import StackError
from playlist2vec.stack import jars
from playlist2vec.stack.up import UpOptions, bring_up

app = typer.Typer(
    help="Start, stop and inspect the local Kafka and MongoDB-wire services.", no_args_is_help=True,
    rich_markup_mode=None,
)


def _print_status(statuses: list[services.ServiceStatus]) -> bool:
    for s in statuses:
        pid = f"pid {s.pid}" if s.pid else "-"
        print(f"{s.name:7} {'healthy' if s.healthy else 'DOWN':8} {s.address:22} {pid:10} {s.detail}")
    return all(s.healthy for s in statuses)


@app.command()
def up(
    ctx: typer.Context,
    brokers: Annotated[int | None, typer.Option(
        min=1, help="Kafka brokers (KRaft quorum, topics replicated 3 times with min ISR 2 from "
                    "3 on) [default: one per address in P2V_KAFKA_BOOTSTRAP]")] = None,
    spark_workers: Annotated[int, typer.Option(
        min=0, help="also a Spark standalone master (at P2V_SPARK_MASTER if spark://127.0.0.1:"
                    "port, else :7077) with this many 1-core workers")] = 0,
) -> None:
    """Start Kafka (KRaft) and the MongoDB-wire server in the background and wait until ready."""
    options = UpOptions.from_settings(ctx.obj, brokers=brokers, spark_workers=spark_workers)
    report = bring_up(ctx.obj, options)
    _print_status(report.statuses)
    print(f"ready in {report.seconds:.1f}s (logs: {report.logs_dir}); stop with `playlist2vec stack down`")
    for name, value in report.exports.items():
        print(f"for the other commands: export {name}={value}")


@app.command()
def down(ctx: typer.Context) -> None:
    """Stop the services that `stack up` started (and nothing else)."""
    stopped = services.for_settings(ctx.obj).down()
    print(f"stopped: {', '.join(stopped)}" if stopped else "nothing was running")


@app.command()
def status(ctx: typer.Context) -> None:
    """Health of each service; exits 1 if any is down."""
    if not _print_status(services.for_settings(ctx.obj).status()):
        raise typer.Exit(1)


@app.command()
def logs(
    ctx: typer.Context,
    service: Annotated[str, typer.Argument(
        help="kafka (kafka-1.. in a cluster), mongo, spark-master or spark-worker-N")],
    lines: Annotated[int, typer.Option("--lines", "-n", min=1, help="how many lines")] = 50,
) -> None:
    """The last lines of a local service's log."""
    print(services.for_settings(ctx.obj).logs(service, lines))


@app.command("jars")
def resolve_jars(ctx: typer.Context) -> None:
    """Resolve the JVM dependencies (Kafka, mongo-java-server, Spark's Kafka connector) with Maven."""
    target = jars.ensure_jars(ctx.obj)
    counts = {m: len(list((target / m).glob("*.jar"))) for m in jars.MODULES}
    if not all(counts.values()):
        raise StackError(f"missing jars after resolution: {counts}")
    print("  ".join(f"{m}: {n} jars" for m, n in counts.items()) + f"  in {target}")
