"""The playlist map: the active model's playlist vectors, sampled, projected to 2-D by PCA, coloured
by k-means cluster or by a keyword in the playlist name, drawn as a PNG."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from pymongo.database import Database

from playlist2vec import documents, store, vectors
from playlist2vec.errors import InvalidInput, NotReady
from playlist2vec.settings import Settings

COLOR_BY = ("cluster", "keyword")
OTHER = "other"
FIGSIZE = (9.0, 6.5)  # inches
DPI = 100


@dataclass(frozen=True)
class PlotOptions:
    """`playlist2vec plot`'s options; a bad one fails here, before MongoDB is read."""

    out: Path = Path("playlists-pca.png")  # the PNG
    sample: int | None = 2000  # playlists drawn at random (at most); None: all
    color_by: str = "cluster"  # or "keyword"
    keywords: tuple[str, ...] = ()  # with color_by="keyword": the words to colour by
    clusters: int = 8  # k of k-means, with color_by="cluster"
    seed: int = 0  # of the sample and of k-means

    def __post_init__(self) -> None:
        if self.color_by not in COLOR_BY:
            raise InvalidInput(f"--color-by must be one of {', '.join(COLOR_BY)}, got {self.color_by!r}")
        if self.sample is not None and self.sample < 2:
            raise InvalidInput("--sample must be at least 2")


@dataclass(frozen=True)
class PlaylistMap:
    """What the picture shows; the coordinates are returned so callers and tests can check them."""

    model_version: str
    pids: np.ndarray  # (n,) int
    names: list[str]
    coords: np.ndarray  # (n, 2) float64, PCA of the unit playlist vectors
    explained: tuple[float, float]  # share of variance of each axis
    groups: np.ndarray  # (n,) int, index into `legend`
    legend: list[str]
    color_by: str


def load_vectors(db: Database[dict[str, Any]], sample: int | None,
                 seed: int = 0) -> tuple[str, np.ndarray, list[str], np.ndarray]:
    """(model version, pids, names, vectors) of at most `sample` random active-model playlists."""
    version = store.active_model(db)["_id"]
    query = {"_id.m": version, "vector": {"$exists": True}, "deleted": {"$ne": True}}
    pids = np.array([d["_id"]["p"] for d in db[store.PLAYLIST_VECTORS].find(query, {"_id": 1})])
    if pids.size == 0:
        raise NotReady(f"model {version} has no playlist vectors to plot")
    if sample is not None and sample < pids.size:
        pids = np.sort(np.random.default_rng(seed).choice(pids, size=sample, replace=False))
    wanted = pids.tolist()
    keys = [documents.playlist_vector_key(version, pid) for pid in wanted]
    found = {d["_id"]["p"]: vectors.decode(d["vector"])
             for d in db[store.PLAYLIST_VECTORS].find({"_id": {"$in": keys}, "vector": {"$exists": True}},
                                                      {"vector": 1})}
    named = {d["_id"]: d.get("name") or ""
             for d in db[store.PLAYLISTS].find({"_id": {"$in": wanted}}, {"name": 1})}
    pids = np.array([p for p in wanted if p in found])  # a concurrent delete may drop one
    matrix = np.stack([found[p] for p in pids.tolist()])
    return version, pids, [named.get(p, "") for p in pids.tolist()], matrix


def pca_2d(matrix: np.ndarray) -> tuple[np.ndarray, tuple[float, float]]:
    """(n, 2) projection on the two principal axes, and each axis' share of the variance."""
    centred = np.asarray(matrix, dtype=np.float64) - matrix.mean(axis=0)
    _, singular, components = np.linalg.svd(centred, full_matrices=False)
    variance = singular**2
    total = variance.sum() or 1.0
    axes = components[:2]
    coords = centred @ axes.T
    if coords.shape[1] < 2:  # a one-dimensional model: draw on a line
        coords = np.column_stack([coords, np.zeros(len(coords))])
    shares = [*(variance[:2] / total).tolist(), 0.0]
    return coords, (float(shares[0]), float(shares[1]))


def kmeans(matrix: np.ndarray, k: int, seed: int = 0) -> np.ndarray:
    """Cluster label per row (k-means++ on the rows as given), numbered by falling cluster size."""
    from scipy.cluster.vq import kmeans2

    k = max(1, min(k, len(matrix)))
    _, labels = kmeans2(np.asarray(matrix, dtype=np.float64), k, minit="++", rng=seed)
    by_size = [label for label, _ in Counter(labels.tolist()).most_common()]
    renumber = {old: new for new, old in enumerate(by_size)}
    return np.array([renumber[label] for label in labels.tolist()])


def keyword_groups(names: Sequence[str], keywords: Sequence[str]) -> tuple[np.ndarray, list[str]]:
    """Group per name: the first keyword it contains as a whole word (case-insensitive), else `other`."""
    words = [w.strip().lower() for w in keywords if w.strip()]
    if not words:
        raise InvalidInput("--color-by keyword needs at least one --keyword")
    legend = [*words, OTHER]
    # whole words, so `rap` does not colour "trap" or "grapes"
    patterns = [re.compile(rf"(?<!\w){re.escape(w)}(?!\w)", re.IGNORECASE) for w in words]
    groups = [next((i for i, p in enumerate(patterns) if p.search(name)), len(words))
              for name in names]
    return np.array(groups, dtype=int), legend


def _cluster_legend(labels: np.ndarray, names: Sequence[str]) -> list[str]:
    """'cluster i: <its most common playlist name>' so a reader sees what each cluster is about."""
    legend = []
    for label in range(int(labels.max()) + 1):
        members = [names[i].strip().lower() for i in np.flatnonzero(labels == label)]
        common = Counter(n for n in members if n).most_common(1)
        legend.append(f"cluster {label}: {common[0][0]!r}" if common else f"cluster {label}")
    return legend


def build_map(db: Database[dict[str, Any]], options: PlotOptions) -> PlaylistMap:
    """Load, project and colour; no drawing (see `render`)."""
    version, pids, names, matrix = load_vectors(db, options.sample, options.seed)
    # Cosine geometry is what the recommender uses, so cluster and project the unit vectors.
    unit = vectors.normalize(matrix)
    coords, explained = pca_2d(unit)
    if options.color_by == "keyword":
        groups, legend = keyword_groups(names, options.keywords)
    else:
        groups = kmeans(unit, options.clusters, options.seed)
        legend = _cluster_legend(groups, names)
    return PlaylistMap(version, pids, names, coords, explained, groups, legend, options.color_by)


def render(playlist_map: PlaylistMap, out: Path) -> Path:
    """Draw the map as a FIGSIZE x DPI PNG with a legend and a title."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot as plt

    m = playlist_map
    fig, ax = plt.subplots(figsize=FIGSIZE, dpi=DPI)
    try:
        palette = plt.get_cmap("tab10" if len(m.legend) <= 10 else "tab20")
        for group, label in enumerate(m.legend):
            points = m.coords[m.groups == group]
            if not len(points):
                continue
            grey = label == OTHER
            ax.scatter(points[:, 0], points[:, 1], s=6 if grey else 12, alpha=0.35 if grey else 0.8,
                       color="0.7" if grey else palette(group % palette.N), linewidths=0,
                       label=f"{label} ({len(points)})", zorder=1 if grey else 2)
        ax.set_title(f"{len(m.pids)} playlist vectors in 2-D (PCA), coloured by {m.color_by}\n"
                     f"model {m.model_version}", fontsize=11)
        ax.set_xlabel(f"PC1 ({m.explained[0]:.0%} of variance)")
        ax.set_ylabel(f"PC2 ({m.explained[1]:.0%} of variance)")
        ax.legend(loc="center left", bbox_to_anchor=(1.01, 0.5), fontsize=8, frameon=False,
                  markerscale=2)
        ax.grid(alpha=0.2)
        fig.tight_layout()
        out.parent.mkdir(parents=True, exist_ok=True)
        # a fixed canvas (no bbox_inches="tight") keeps the image size predictable
        fig.savefig(out, format="png")
    finally:
        plt.close(fig)
    return out


def plot(settings: Settings, options: PlotOptions) -> PlaylistMap:
    """`playlist2vec plot`: read the active model's playlist vectors, write the PNG."""
    with store.opened(settings) as db:
        playlist_map = build_map(db, options)
    render(playlist_map, options.out)
    return playlist_map
