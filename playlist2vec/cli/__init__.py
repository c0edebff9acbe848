"""The `playlist2vec` command: global settings flags, logging, one-line errors, subcommand dispatch.

Each subcommand lives in a module of this package and calls one library function; this is
the only place in `playlist2vec/` that imports `batch`, `streaming` and `serving` (lazily,
inside the commands, so `--help` stays fast).
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path
from typing import Annotated

import typer

# typer (pinned) carries its own copy of click: its usage errors are not the click package's
from typer._click.exceptions import NoArgsIsHelpError
from typer.exceptions import TyperException

from playlist2vec.cli import (
    batch,
    chaos,
    demo,
    lyrics,
    models,
    plot,
    probe,
    projector,
    serving,
    stack,
    streaming,
)
from playlist2vec.errors import P2VError
from playlist2vec.settings import Settings

app = typer.Typer(
    name="playlist2vec",
    help="Fresh playlist and track embeddings: Spark Word2Vec, Kafka streaming, MongoDB, Annoy serving.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,  # plain help: rich markup would swallow "[env P2V_X, default y]"
    context_settings={"max_content_width": 120},  # whole command summaries on a wide terminal
)
bench = typer.Typer(help="Benchmarks: numbers printed and written to a JSON report.",
                    no_args_is_help=True, rich_markup_mode=None)
app.add_typer(stack.app, name="stack")
app.add_typer(models.app, name="models")
app.add_typer(bench, name="bench")
app.add_typer(lyrics.app, name="lyrics")
app.command("export-projector")(projector.export_projector)
bench.command("lyrics-fetch")(lyrics.bench_fetch)
app.command("demo")(demo.demo)
app.command("chaos")(chaos.chaos)
app.command("plot")(plot.plot)
app.command("generate")(batch.generate)
app.command("train")(batch.train)
app.command("evaluate")(batch.evaluate)
bench.command("train")(batch.bench_train)
bench.command("switch")(batch.bench_switch)
app.command("serve")(serving.serve)
app.command("route")(serving.route)
bench.command("serve")(serving.bench_serve)
app.command("produce")(streaming.produce)
app.command("stream")(streaming.stream)
app.command("probe")(probe.probe)
bench.command("stream")(streaming.bench_stream)


@app.callback()
def root(
    ctx: typer.Context,
    home: Annotated[Path | None, typer.Option(help="State folder [env P2V_HOME, default ./.p2v]")] = None,
    kafka_bootstrap: Annotated[
        str | None, typer.Option(help="Kafka bootstrap servers [env P2V_KAFKA_BOOTSTRAP]")
    ] = None,
    mongo_uri: Annotated[str | None, typer.Option(help="MongoDB URI [env P2V_MONGO_URI]")] = None,
    mongo_db: Annotated[str | None, typer.Option(help="MongoDB database [env P2V_MONGO_DB]")] = None,
    spark_master: Annotated[str | None, typer.Option(help="Spark master URL [env P2V_SPARK_MASTER]")] = None,
    log_level: Annotated[str, typer.Option(help="DEBUG, INFO, WARNING or ERROR")] = "INFO",
) -> None:
    """Settings come from P2V_* environment variables; these flags override them."""
    logging.basicConfig(
        level=log_level.upper(), stream=sys.stderr,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    for noisy in ("py4j", "pymongo", "httpx"):  # httpx logs every request at INFO
        logging.getLogger(noisy).setLevel(logging.WARNING)
    # kafka-python and librdkafka log every refused connection (of a readiness probe, of a
    # producer waiting out an outage) at ERROR; our own errors say what failed in one line.
    for kafka_logger in ("kafka", "librdkafka"):
        logging.getLogger(kafka_logger).setLevel(
            logging.CRITICAL if log_level.upper() != "DEBUG" else logging.DEBUG)
    ctx.obj = Settings.load(home=home, kafka_bootstrap=kafka_bootstrap, mongo_uri=mongo_uri,
                            mongo_db=mongo_db, spark_master=spark_master)


def main(argv: list[str] | None = None) -> int:
    """Run the CLI; P2VError and usage errors become one line on stderr and a non-zero exit."""
    try:
        # without standalone mode click returns the exit code of typer.Exit instead of exiting
        code = app(args=argv, prog_name="playlist2vec", standalone_mode=False)
    except P2VError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code
    except typer.Abort:
        print("aborted", file=sys.stderr)
        return 130
    except NoArgsIsHelpError as exc:  # `playlist2vec`, `playlist2vec bench`: their help
        print(exc.format_message(), file=sys.stderr)
        return exc.exit_code
    except TyperException as exc:  # a bad or missing flag
        print(f"error: {exc.format_message()}", file=sys.stderr)
        return exc.exit_code
    return code if isinstance(code, int) else 0
