"""The hexbin plot of song-embedding distance against lyric-embedding distance, as a PNG."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from batch.lyrics.stats import Correlation, fmt


def hexbin(song_distance: np.ndarray, lyric_distance: np.ndarray, result: Correlation, out: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")  # files only, no display
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.4, 4.8), dpi=100)
    try:
        cells = ax.hexbin(song_distance, lyric_distance, gridsize=40, bins="log", cmap="viridis", mincnt=1)
        fig.colorbar(cells, ax=ax, label="song pairs (log scale)")
        ax.set_xlabel("cosine distance of song embeddings (playlists)")
        ax.set_ylabel("cosine distance of lyric embeddings")
        low, high = result.spearman_ci
        ax.set_title(f"{result.n} song pairs: Spearman {fmt(result.spearman)} "
                     f"[{fmt(low)}, {fmt(high)}], Pearson {fmt(result.pearson)}", fontsize=10)
        out.parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(out, bbox_inches="tight")
    finally:
        plt.close(fig)
    return out
