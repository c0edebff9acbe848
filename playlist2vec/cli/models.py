"""`playlist2vec models list | activate VERSION | rollback | retire VERSION | compare`: the model
registry."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Annotated, Any

import typer

from playlist2vec.quality import MIN_TRIALS
from playlist2vec.settings import Settings

app = typer.Typer(help="List the trained models and switch between them.", no_args_is_help=True,
                  rich_markup_mode=None)
Version = Annotated[str, typer.Argument(help="model version (see `models list`)")]


@contextmanager
def _db(settings: Settings) -> Iterator[Any]:
    from playlist2vec import store

    with store.opened(settings) as db:
        yield db


def _when(value: datetime | None) -> str:
    return "-" if value is None else f"{value:%Y-%m-%d %H:%M:%S}"


def _num(value: float | None, spec: str) -> str:
    return "-" if value is None else format(value, spec)


@app.command("list")
def list_models(ctx: typer.Context) -> None:
    """Every model, newest first: status, when created and activated, its vectors, quality and cost."""
    from batch import registry

    with _db(ctx.obj) as db:
        models = registry.models(db)
    print(f"{'VERSION':30} {'STATUS':8} {'CREATED':19}  {'ACTIVATED':19}  {'VOCAB':>7}  {'VECTORS':7}  "
          f"{'DIM':>4} {'VAL R-PREC':>10} {'POP':>6} {'MB':>7} {'FIT s':>7} {'P99 ms':>7}")
    for m in models:
        kept = "removed" if m.get("vectors_removed_at") else "kept"
        q = registry.quality_and_cost(m)
        print(f"{m['_id']:30} {m['status']:8} {_when(m.get('created_at')):19}  "
              f"{_when(m.get('activated_at')):19}  {m.get('vocab_size') or '-':>7}  {kept:7}  "
              f"{q['vector_size'] or '-':>4} {_num(q['r_precision'], '.4f'):>10} "
              f"{_num(q['popularity'], '.4f'):>6} {_num(q['vector_mb'], '.1f'):>7} "
              f"{_num(q['fit_seconds'], '.1f'):>7} {_num(q['k500_p99_ms'], '.1f'):>7}")


@app.command()
def activate(
    ctx: typer.Context,
    version: Version,
    require_better: Annotated[bool, typer.Option(
        help="refuse unless its live recall@500 (scored in shadow by serving) beats the "
             "active model's on the same edits")] = False,
    min_trials: Annotated[int, typer.Option(
        min=1, help="with --require-better: live trials (added tracks) needed first")] = MIN_TRIALS,
) -> None:
    """Switch to a ready or retired model (catch-up of recent changes, then active)."""
    from batch import registry

    with _db(ctx.obj) as db:
        model = registry.activate_version(db, version, ctx.obj.vector_subtype,
                                          min_trials if require_better else None)
    print(f"model {model['_id']} active ({model.get('caught_up', 0)} playlists caught up)")


@app.command()
def compare(
    ctx: typer.Context,
    sample: Annotated[int, typer.Option(min=1, help="live playlists sampled for overlap@10")] = 200,
    seed: Annotated[int, typer.Option(help="sample seed")] = 0,
) -> None:
    """Each ready (shadow) model against the active one: live recall@500 and overlap@10."""
    from batch.compare import compare as run

    with _db(ctx.obj) as db:
        rows = run(db, sample, seed)
    if not rows:
        print("no ready model to compare with the active one")
        return
    print(f"{'CANDIDATE':30} {'AGAINST':30} {'TRIALS':>7}  {'RECALL':>6}  {'ACTIVE':>6}  "
          f"{'OVERLAP@10':>10}")
    for row in rows:
        live = row.live
        trials = f"{live.trials:>7}  {live.recall:6.3f}  {live.against_recall:6.3f}" if live and live.trials \
            else f"{0:>7}  {'-':>6}  {'-':>6}"
        overlap = "-" if row.overlap is None else f"{row.overlap:.3f}"
        print(f"{row.candidate:30} {row.active:30} {trials}  {overlap:>10}")


@app.command()
def rollback(ctx: typer.Context) -> None:
    """Make the previously active (retired) model active again; its vectors are still there."""
    from batch import registry

    with _db(ctx.obj) as db:
        model = registry.rollback(db, ctx.obj.vector_subtype)
    print(f"rolled back: model {model['_id']} active ({model.get('caught_up', 0)} playlists "
          "caught up)")


@app.command()
def retire(ctx: typer.Context, version: Version) -> None:
    """Retire a model that is not active (a failed one too) and remove its vectors now."""
    from batch import registry

    with _db(ctx.obj) as db:
        registry.retire(db, version)
    print(f"model {version} retired, its vectors removed")
