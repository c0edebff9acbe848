"""`playlist2vec models list | activate VERSION | rollback | retire VERSION`: the model registry."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Annotated, Any

import typer

from playlist2vec.settings import Settings

app = typer.Typer(help="List the trained models and switch between them.", no_args_is_help=True)
Version = Annotated[str, typer.Argument(help="model version (see `models list`)")]


@contextmanager
def _db(settings: Settings) -> Iterator[Any]:
    from playlist2vec import store

    db = store.database(settings)
    try:
        yield db
    finally:
        db.client.close()


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
          f"{'DIM':>4} {'VAL R-PREC':>10} {'POP':>6} {'MB':>7} {'FIT s':>7}")
    for m in models:
        kept = "removed" if m.get("vectors_removed_at") else "kept"
        q = registry.quality_and_cost(m)
        print(f"{m['_id']:30} {m['status']:8} {_when(m.get('created_at')):19}  "
              f"{_when(m.get('activated_at')):19}  {m.get('vocab_size') or '-':>7}  {kept:7}  "
              f"{q['vector_size'] or '-':>4} {_num(q['r_precision'], '.4f'):>10} "
              f"{_num(q['popularity'], '.4f'):>6} {_num(q['vector_mb'], '.1f'):>7} "
              f"{_num(q['fit_seconds'], '.1f'):>7}")


@app.command()
def activate(ctx: typer.Context, version: Version) -> None:
    """Switch to a ready or retired model (catch-up of recent changes, then active)."""
    from batch import registry

    with _db(ctx.obj) as db:
        model = registry.activate_version(db, version, ctx.obj.vector_subtype)
    print(f"model {model['_id']} active ({model.get('caught_up', 0)} playlists caught up)")


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
