"""The serving cost of a tuned model (`train --tune`): `bench serve` of the index serving would
build for it, recorded on the model. Here because it joins batch and serving, which never
import each other."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from playlist2vec.settings import Settings

if TYPE_CHECKING:
    from batch.train import TrainReport

QUERIES = 200  # queries per latency measurement


def measure(settings: Settings, items: int, dim: int,
            progress: Callable[[str], None]) -> dict[str, Any]:
    """`bench serve` of the index serving would build (its strategy at this size) over `items`
    clustered synthetic vectors of dimension `dim`; the numbers a model's registry entry keeps."""
    from serving import bench, indexes

    for noisy in ("httpx", bench.__name__):  # a line per request, a dict per index otherwise
        logging.getLogger(noisy).setLevel(logging.WARNING)
    strategy = indexes.resolve(settings.index_strategy, items)
    label = next(label for label, kind, _ in bench.CONFIGS if kind == strategy)
    progress(f"serving cost: bench serve of {label} over {items} x {dim} vectors ...")
    options = bench.ServeBenchOptions.from_settings(settings, items=items, dim=dim,
                                                    queries=QUERIES, indexes=[label])
    measured = bench.run(settings, options)
    row = measured["indexes"][0]
    return {"index": label, "items": items, "dim": dim, "queries": QUERIES,
            "k500_p99_ms": row["k500"]["p99_ms"], "k500_http_p99_ms": row["k500"]["http_p99_ms"],
            "k500_recall": row["k500"]["recall"], "index_mb": row["size_mb"],
            "build_s": row["build_s"], "load": measured["load"], "report": str(options.output)}


def measure_and_record(settings: Settings, report: TrainReport,
                       progress: Callable[[str], None]) -> None:
    """Measure a tuned model's serving cost; keep it on `report` and in the model registry."""
    from batch import registry
    from playlist2vec import store

    if report.tuning is None:  # only a tuned run has a chosen dimension to cost
        return
    report.serving = measure(settings, report.vocab_size, report.tuning["best_params"]["vector_size"],
                             progress)
    with store.opened(settings) as db:
        registry.record_serving_cost(db, report.version, report.serving)
