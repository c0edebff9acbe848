"""`playlist2vec export-projector`: vectors and metadata for TensorFlow's Embedding Projector."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer


def export_projector(
    ctx: typer.Context,
    out: Annotated[Path, typer.Option(file_okay=False, help="folder for vectors.tsv, metadata.tsv, config")],
    what: Annotated[str, typer.Option(help="tracks or playlists")] = "tracks",
    sample: Annotated[int | None, typer.Option(min=1, help="a uniform random sample of this many")] = None,
    seed: Annotated[int, typer.Option(help="random seed for --sample")] = 0,
) -> None:
    """Write the active model's track or playlist vectors for the standalone Embedding Projector."""
    from batch.projector import ProjectorOptions
    from batch.projector import export_projector as export

    options = ProjectorOptions(out=out, what=what, sample=sample, seed=seed)
    print(export(ctx.obj, options).line())
