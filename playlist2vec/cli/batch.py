"""`playlist2vec generate | train | evaluate | bench train | bench switch`: the batch side of the CLI."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from batch.word2vec import SPARK_CONF, Word2VecParams
from playlist2vec import reports
from playlist2vec.cli import serving_cost
from playlist2vec.cli.common import BenchOutput, print_report
from playlist2vec.errors import InvalidInput
from playlist2vec.settings import Settings

VectorSize = Annotated[int, typer.Option(min=2, max=1000, help="embedding dimension")]
Window = Annotated[int, typer.Option(min=1, help="context window (tracks on each side)")]
Iterations = Annotated[int, typer.Option(min=1, help="passes over the corpus")]
MinCount = Annotated[int, typer.Option(min=1, help="ignore tracks seen fewer times")]
Partitions = Annotated[int, typer.Option(min=1, help="Word2Vec numPartitions (parallel fit)")]
StepSize = Annotated[float, typer.Option(min=0.0001, max=1.0, help="learning rate (stepSize)")]
SkipBad = Annotated[bool, typer.Option("--skip-bad", help="skip and count malformed files/records")]
DEFAULTS = Word2VecParams()  # the knobs' defaults are the library's (chosen by measurement)


def _params(vector_size: int, window: int, iterations: int, min_count: int, partitions: int,
            step_size: float = DEFAULTS.step_size) -> Any:
    return Word2VecParams(vector_size=vector_size, window=window, iterations=iterations,
                          min_count=min_count, partitions=partitions, step_size=step_size)


def _spark(settings: Settings, app_name: str) -> Any:
    from playlist2vec import spark

    return spark.session(settings, app_name, kafka=False, conf=SPARK_CONF)


def _err(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


def _floats(spec: str) -> list[float]:
    try:
        return [float(x) for x in spec.split(",") if x.strip()]
    except ValueError:
        raise InvalidInput(f"expected comma-separated numbers, got {spec!r}") from None


def generate(
    playlists: Annotated[int, typer.Option(min=1, help="how many playlists")],
    out: Annotated[Path, typer.Option(help="folder for the mpd.slice.*.json files")],
    seed: Annotated[int, typer.Option(help="random seed (same seed, same corpus)")] = 0,
) -> None:
    """Write synthetic MPD-format slices (1,000 playlists each) with latent scenes."""
    from tqdm import tqdm

    from batch.generate import generate_corpus

    with tqdm(total=playlists, unit="playlist", file=sys.stderr) as bar:
        files = generate_corpus(playlists, out, seed, progress=bar.update)
    print(f"wrote {playlists} playlists in {len(files)} slices to {out}")


def train(
    ctx: typer.Context,
    input: Annotated[str, typer.Option(help="slice file, folder or glob (or a Hadoop URI)")],
    vector_size: VectorSize = DEFAULTS.vector_size, window: Window = DEFAULTS.window,
    iterations: Iterations = DEFAULTS.iterations, min_count: MinCount = DEFAULTS.min_count,
    partitions: Partitions = DEFAULTS.partitions, step_size: StepSize = DEFAULTS.step_size,
    sample: Annotated[float | None, typer.Option(min=0.0, max=1.0, help="train on this fraction")] = None,
    skip_bad: SkipBad = False,
    artifacts: Annotated[str | None, typer.Option(help="artifact root URI [P2V_HOME/models]")] = None,
    tune: Annotated[bool, typer.Option(
        "--tune", help="first search the knobs on a validation split (the given ones: trial 1)")] = False,
    tune_budget: Annotated[str, typer.Option(help="trials (12) or minutes (30m) of the search")] = "12",
    tune_seed: Annotated[int, typer.Option(help="seed of the search (same seed, same trials)")] = 0,
    tune_subsample: Annotated[float, typer.Option(
        min=0.05, max=0.9, help="share of the training split a trial is fitted on before pruning")] = 0.25,
    tune_report: Annotated[Path | None, typer.Option(
        dir_okay=False, help="search report JSON [default P2V_HOME/tune/tune-<UTC time>.json]")] = None,
) -> None:
    """Train Word2Vec on MPD slices, write vectors to MongoDB and activate the new model."""
    from batch.train import TrainOptions
    from batch.train import train as run

    settings: Settings = ctx.obj
    options = TrainOptions.from_settings(
        settings, input=input,
        params=_params(vector_size, window, iterations, min_count, partitions, step_size),
        sample=sample, skip_bad=skip_bad, artifact_root=artifacts, tune=tune, tune_budget=tune_budget,
        tune_seed=tune_seed, tune_subsample=tune_subsample, tune_report=tune_report)
    report = run(settings, _spark(settings, "p2v-train"), options, progress=_err)
    if not report.tuning or options.tune_report is None:
        print(report.summary())
        return
    serving_cost.measure_and_record(settings, report, progress=_err)
    print_report(report.summary(), reports.write_json(options.tune_report, report.as_dict()))


def evaluate(
    ctx: typer.Context,
    input: Annotated[str, typer.Option(help="slice file, folder or glob")],
    holdout_fraction: Annotated[float, typer.Option(min=0.001, max=0.5, help="playlists held out")] = 0.05,
    seed_tracks: Annotated[int, typer.Option(min=0, help="tracks given as the seed")] = 10,
    k: Annotated[int, typer.Option(min=1, max=1000, help="recommendations per playlist")] = 500,
    vector_size: VectorSize = DEFAULTS.vector_size, window: Window = DEFAULTS.window,
    iterations: Iterations = DEFAULTS.iterations, min_count: MinCount = DEFAULTS.min_count,
    partitions: Partitions = DEFAULTS.partitions, step_size: StepSize = DEFAULTS.step_size,
    skip_bad: SkipBad = False,
    out: Annotated[Path | None, typer.Option(
        "--out", "--output", dir_okay=False,
        help="JSON report [default P2V_HOME/eval/eval-<UTC time>.json]")] = None,
    sweep: Annotated[list[str] | None, typer.Option(
        help="also score variants: KNOB=V1,V2 (repeatable), one knob changed at a time")] = None,
    fold_in: Annotated[float | None, typer.Option(
        "--fold-in", min=0.01, max=0.9,
        help="instead: this share of the held-out playlists' tracks exists only in stream events; "
             "score with and without fold-in, seen and unseen tracks apart")] = None,
    fold_in_penalties: Annotated[str, typer.Option(
        help="with --fold-in: comma-separated penalties off provisional tracks' scores to compare")
    ] = "0,0.1,0.2,0.3",
    fold_in_min_support: Annotated[int | None, typer.Option(
        min=1, help="with --fold-in: minimum support [default P2V_FOLD_IN_MIN_SUPPORT]")] = None,
) -> None:
    """RecSys-2018 metrics (R-precision, NDCG, clicks) on held-out playlists beside popularity."""
    from batch.evaluate import EvalOptions
    from batch.evaluate import evaluate as run

    settings: Settings = ctx.obj
    options = EvalOptions.from_flags(
        input, holdout_fraction=holdout_fraction, seed_tracks=seed_tracks, k=k, skip_bad=skip_bad,
        params=_params(vector_size, window, iterations, min_count, partitions, step_size),
        sweep=sweep or [])
    if fold_in is not None:
        from batch.foldin_eval import evaluate_fold_in

        support = fold_in_min_support or settings.fold_in_min_support or 1
        folded = evaluate_fold_in(_spark(settings, "p2v-evaluate"), options, fold_in, support,
                                  progress=_err, penalties=_floats(fold_in_penalties))
        path = out or reports.timestamped(settings.home / "eval", "fold-in")
        print_report(folded.table(), reports.write_json(path, folded.as_dict()))
        return
    report = run(_spark(settings, "p2v-evaluate"), options, progress=_err)
    path = out or reports.timestamped(settings.home / "eval", "eval")
    print_report(report.table(), reports.write_json(path, report.as_dict()))


def bench_train(
    ctx: typer.Context,
    playlists: Annotated[int, typer.Option(min=100, help="generated corpus size")] = 50_000,
    input: Annotated[str | None, typer.Option(help="use these slices instead of generating")] = None,
    vector_size: VectorSize = DEFAULTS.vector_size, window: Window = DEFAULTS.window,
    iterations: Iterations = DEFAULTS.iterations, min_count: MinCount = DEFAULTS.min_count,
    partitions: Partitions = DEFAULTS.partitions,
    holdout_fraction: Annotated[float, typer.Option(min=0.001, max=0.5, help="playlists held out")] = 0.02,
    output: BenchOutput = None,
) -> None:
    """Spark train (per stage, tokens/s) vs gensim skip-gram HS and NS, with hold-out quality."""
    from batch.bench import BenchOptions, report_lines
    from batch.bench import bench_train as run

    settings: Settings = ctx.obj
    options = BenchOptions.from_settings(
        settings, playlists=playlists, input=input, holdout_fraction=holdout_fraction,
        params=_params(vector_size, window, iterations, min_count, partitions), output=output)
    results = run(settings, _spark(settings, "p2v-bench-train"), options, progress=_err)
    print_report("\n".join(report_lines(results)), options.output)


def bench_switch(
    ctx: typer.Context,
    playlists: Annotated[int, typer.Option(min=100, help="generated corpus size")] = 50_000,
    edits: Annotated[int, typer.Option(
        min=0, help="playlists edited right after the new model's derive pass")] = 1_000,
    before: Annotated[float, typer.Option(
        min=1.0, help="seconds of query latency measured before the switch")] = 20.0,
    vector_size: VectorSize = DEFAULTS.vector_size, window: Window = DEFAULTS.window,
    iterations: Iterations = DEFAULTS.iterations, min_count: MinCount = DEFAULTS.min_count,
    partitions: Partitions = DEFAULTS.partitions,
    output: BenchOutput = None,
) -> None:
    """Train model A, serve it, train and switch to B: derive, catch-up, swap times, query p99."""
    from batch.switch_bench import SwitchBenchOptions, report_lines
    from batch.switch_bench import bench_switch as run

    settings: Settings = ctx.obj
    options = SwitchBenchOptions.from_settings(
        settings, playlists=playlists, edits=edits, before_s=before,
        params=_params(vector_size, window, iterations, min_count, partitions), output=output)
    results = run(settings, _spark(settings, "p2v-bench-switch"), options, progress=_err)
    print_report("\n".join(report_lines(results)), options.output)
