"""Export the active model's track or playlist vectors for TensorFlow's standalone Embedding Projector.

Writes `vectors.tsv` (tab-separated floats, no header), `metadata.tsv` (a header row, then one
row per vector, in the same order) and `projector_config.json` pointing at both.
"""

from __future__ import annotations

import json
import random
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from pymongo.database import Database

from playlist2vec import store, vectors
from playlist2vec.errors import InvalidInput, NotFound
from playlist2vec.settings import Settings

WHAT = ("tracks", "playlists")
TRACK_COLUMNS = ("track_uri", "track_name", "artist_name", "count")
PLAYLIST_COLUMNS = ("pid", "name", "n_tracks", "n_known")
LOOKUP_BATCH = 1_000


@dataclass(frozen=True)
class ProjectorOptions:
    """`playlist2vec export-projector`'s options; a bad one fails here, before MongoDB is read."""

    out: Path  # folder for vectors.tsv, metadata.tsv and projector_config.json
    what: str = "tracks"  # or "playlists"
    sample: int | None = None  # a uniform random sample of this many; None: all
    seed: int = 0  # of the sample

    def __post_init__(self) -> None:
        if self.what not in WHAT:
            raise InvalidInput(f"--what must be one of {', '.join(WHAT)}, got {self.what!r}")
        if self.sample is not None and self.sample < 1:
            raise InvalidInput(f"--sample must be at least 1, got {self.sample}")


@dataclass(frozen=True)
class ExportSummary:
    what: str
    model_version: str
    rows: int
    dim: int
    out: Path

    def line(self) -> str:
        return (f"{self.rows} {self.what} x {self.dim} dims of model {self.model_version} -> {self.out} "
                f"(load {self.out / 'projector_config.json'} in the standalone Embedding Projector)")


def reservoir(items: Iterable[Any], size: int | None, rng: random.Random) -> list[Any]:
    """All items, or a uniform sample of `size` of them in one pass (never all in memory)."""
    if size is None:
        return list(items)
    sample: list[Any] = []
    for seen, item in enumerate(items):
        if seen < size:
            sample.append(item)
        else:
            slot = rng.randrange(seen + 1)
            if slot < size:
                sample[slot] = item
    return sample


def _cell(value: Any) -> str:
    # a tab or newline inside a name would break the TSV's columns or rows
    return "" if value is None else " ".join(str(value).split())


def write_projector(out: Path, tensor_name: str, matrix: np.ndarray, columns: Sequence[str],
                    rows: Sequence[Sequence[Any]]) -> None:
    if len(rows) != len(matrix):
        raise ValueError(f"{len(rows)} metadata rows for {len(matrix)} vectors")
    out.mkdir(parents=True, exist_ok=True)
    np.savetxt(out / "vectors.tsv", matrix, fmt="%.7g", delimiter="\t")
    with (out / "metadata.tsv").open("w", encoding="utf-8") as f:
        for row in [columns, *rows]:
            f.write("\t".join(_cell(v) for v in row) + "\n")
    config = {"embeddings": [{"tensorName": tensor_name, "tensorShape": list(matrix.shape),
                              "tensorPath": "vectors.tsv", "metadataPath": "metadata.tsv"}]}
    (out / "projector_config.json").write_text(json.dumps(config, indent=2) + "\n")


def _lookup(collection: Any, ids: Sequence[Any], fields: Sequence[str]) -> dict[Any, dict[str, Any]]:
    """Documents by id, asked for in batches so one query never carries millions of ids."""
    found: dict[Any, dict[str, Any]] = {}
    for start in range(0, len(ids), LOOKUP_BATCH):
        batch = list(ids[start:start + LOOKUP_BATCH])
        found |= {d["_id"]: d for d in collection.find({"_id": {"$in": batch}}, list(fields))}
    return found


def _track_rows(db: Database[dict[str, Any]], version: str, sample: int | None,
                rng: random.Random) -> tuple[list[np.ndarray], list[tuple[Any, ...]]]:
    docs = reservoir(store.iter_docs(db[store.TRACK_VECTORS], store.track_vector_query(version),
                                     ["vector", "count"]), sample, rng)
    uris = [d["_id"]["t"] for d in docs]
    meta = _lookup(db[store.TRACKS], uris, ["track_name", "artist_name"])
    rows = [(uri, meta.get(uri, {}).get("track_name"), meta.get(uri, {}).get("artist_name"), d.get("count"))
            for uri, d in zip(uris, docs, strict=True)]
    return [vectors.decode(d["vector"]) for d in docs], rows


def _playlist_rows(db: Database[dict[str, Any]], version: str, sample: int | None,
                   rng: random.Random) -> tuple[list[np.ndarray], list[tuple[Any, ...]]]:
    # playlists none of whose tracks the model knows have no vector: nothing to show
    query = {"_id.m": version, "vector": {"$exists": True}, "deleted": {"$ne": True}}
    docs = reservoir(store.iter_docs(db[store.PLAYLIST_VECTORS], query, ["vector", "n_tracks", "n_known"]),
                     sample, rng)
    names = _lookup(db[store.PLAYLISTS], [d["_id"]["p"] for d in docs], ["name"])
    rows = [(d["_id"]["p"], names.get(d["_id"]["p"], {}).get("name"), d.get("n_tracks"),
             d.get("n_known")) for d in docs]
    return [vectors.decode(d["vector"]) for d in docs], rows


def export_projector(settings: Settings, options: ProjectorOptions) -> ExportSummary:
    """`playlist2vec export-projector`: the active model's vectors and metadata, as TSV files."""
    what = options.what
    with store.opened(settings) as db:
        model = store.active_model(db)
        version = str(model["_id"])
        read = _track_rows if what == "tracks" else _playlist_rows
        vecs, rows = read(db, version, options.sample, random.Random(options.seed))
    if not vecs:
        raise NotFound(f"the active model {version} has no {what} vectors to export")
    matrix = np.stack([vectors.validate(v, model.get("vector_size")) for v in vecs])
    columns = TRACK_COLUMNS if what == "tracks" else PLAYLIST_COLUMNS
    write_projector(options.out, f"playlist2vec {what} ({version})", matrix, columns, rows)
    return ExportSummary(what, version, len(rows), matrix.shape[1], options.out)

