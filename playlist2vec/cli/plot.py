"""`playlist2vec plot`: a PNG map of the playlist vectors (2-D PCA, coloured by cluster or word)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer


def plot(
    ctx: typer.Context,
    out: Annotated[Path, typer.Option(help="PNG file to write")] = Path("playlists-pca.png"),
    sample: Annotated[int, typer.Option(min=2, help="playlists drawn at random (at most)")] = 2000,
    color_by: Annotated[str, typer.Option(
        help="`cluster` (k-means) or `keyword` (in the playlist name)")] = "cluster",
    keyword: Annotated[list[str] | None, typer.Option(
        help="with --color-by keyword: a word to colour by (repeat for several)")] = None,
    clusters: Annotated[int, typer.Option(min=1, max=20, help="k for --color-by cluster")] = 8,
    seed: Annotated[int, typer.Option(help="random seed of the sample and of k-means")] = 0,
) -> None:
    """Draw the active model's playlist vectors in 2-D and write a PNG."""
    from batch.plot import PlotOptions
    from batch.plot import plot as draw

    options = PlotOptions(out=out, sample=sample, color_by=color_by, keywords=tuple(keyword or ()),
                          clusters=clusters, seed=seed)
    playlist_map = draw(ctx.obj, options)
    print(f"wrote {out}: {len(playlist_map.pids)} playlists of model {playlist_map.model_version}, "
          f"{len(playlist_map.legend)} groups by {color_by}")
