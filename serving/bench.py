"""`bench serve`: build time, size, latency (in-process and HTTP), recall and update rate of
every index strategy."""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import numpy as np

from playlist2vec import reports
from playlist2vec.errors import InvalidInput
from playlist2vec.settings import Settings
from playlist2vec.vectors import cosine_top_k, normalize
from serving import synthetic
from serving.api import create_app
from serving.engine import Engine, ServeOptions
from serving.indexes import IndexParams
from serving.live import LiveIndex
from serving.memory import MemorySource
from serving.metrics import ServingMetrics
from serving.server import BackgroundServer
from serving.snapshot import SnapshotBuilder
from serving.state import ModelState, TrackVectors

log = logging.getLogger(__name__)

KS = (10, 500)
UPDATES = 10_000
"""Changed vectors applied to an index that accepts updates, in follower-sized batches."""
UPDATE_BATCH = 1_000
CONFIGS: tuple[tuple[str, str, IndexParams], ...] = (
    ("exact", "exact", IndexParams()),
    ("annoy-10", "annoy", IndexParams(trees=10)),
    ("annoy-50", "annoy", IndexParams(trees=50)),
    ("hnsw-16", "hnsw", IndexParams(hnsw_m=16)),
)


@dataclass(frozen=True)
class ServeBenchOptions:
    """What `bench serve` measures and where its report goes."""

    items: int = 100_000
    dim: int = 32
    distribution: str = "clustered"
    queries: int = 200
    indexes: tuple[str, ...] = tuple(label for label, _, _ in CONFIGS)  # measured in this order
    output: Path = field(kw_only=True)  # the report (from_settings: --output or the default path)

    def __post_init__(self) -> None:
        known = [label for label, _, _ in CONFIGS]
        unknown = sorted(set(self.indexes) - set(known))
        if unknown:
            raise InvalidInput(f"unknown benchmark index {unknown}, expected some of {sorted(known)}")

    @classmethod
    def from_settings(cls, settings: Settings, *, items: int = 100_000, dim: int = 32,
                      distribution: str = "clustered", queries: int = 200,
                      indexes: list[str] | None = None, output: Path | None = None
                      ) -> ServeBenchOptions:
        """Options from the command's flags; no `indexes`: every configuration of CONFIGS."""
        return cls(items, dim, distribution, queries, tuple(indexes) if indexes else cls.indexes,
                   output=reports.output_path(settings, "serve", output))


def run(settings: Settings, options: ServeBenchOptions) -> dict[str, Any]:
    """Measure the configurations of `options.indexes`; write the report after each one (see
    playlist2vec.reports), return its results: a row per index and the load average."""
    known = {label: (strategy, params) for label, strategy, params in CONFIGS}
    items, dim, queries = options.items, options.dim, options.queries
    distribution = options.distribution
    updates = min(UPDATES, items // 10)
    data = synthetic.vectors(items + queries + updates, dim, distribution)
    matrix, held_out, changed = data[:items], data[items:items + queries], data[items + queries:]
    ids = [f"t{i}" for i in range(items)]
    unit = normalize(matrix)
    truth = [cosine_top_k(q, unit, max(KS))[0] for q in held_out]
    rng = np.random.default_rng(1)
    http_ids = [ids[i] for i in rng.choice(items, size=queries, replace=False)]
    changes = dict(zip((ids[i] for i in rng.choice(items, size=updates, replace=False)), changed,
                       strict=True))
    (settings.home / "bench").mkdir(parents=True, exist_ok=True)
    workdir = Path(tempfile.mkdtemp(prefix="indexes-", dir=settings.home / "bench"))
    results: dict[str, Any] = {"indexes": []}
    report = reports.BenchReport("serve", options)
    metrics = ServingMetrics()
    engine = Engine(MemorySource(), ServeOptions(indexes_dir=workdir), metrics)
    with BackgroundServer(create_app(settings, engine, metrics)) as base_url, httpx.Client(
            base_url=base_url, timeout=60) as client:
        for label in options.indexes:
            strategy, params = known[label]
            builder = SnapshotBuilder(strategy, params, workdir, "bench")
            started, cpu_started = time.perf_counter(), time.process_time()
            snapshot = builder.build("tracks", ids, matrix)
            build_s = time.perf_counter() - started
            build_cpu_s = time.process_time() - cpu_started
            live = LiveIndex("tracks")
            live.swap(snapshot, 0)
            engine.install(ModelState(label, dim, TrackVectors(ids, matrix), live,
                                      LiveIndex("playlists")))
            row: dict[str, Any] = {
                "index": label, "strategy": strategy, "params": params.__dict__,
                "build_s": round(build_s, 2), "build_cpu_s": round(build_cpu_s, 2),
                "size_mb": round(sum(f.stat().st_size for f in snapshot.files) / 2**20, 1),
            }
            for k in KS:
                latencies, cpu, recalls = [], [], []
                for query, expected in zip(held_out, truth, strict=True):
                    started, cpu_started = time.perf_counter(), time.process_time()
                    found = live.search(query, k)
                    latencies.append(time.perf_counter() - started)
                    cpu.append(time.process_time() - cpu_started)
                    hits = {int(item[1:]) for item, _ in found} & set(expected[:k].tolist())
                    recalls.append(len(hits) / k)
                http = []
                for item in http_ids:
                    started = time.perf_counter()
                    client.get(f"/v1/tracks/{item}/similar", params={"k": k}).raise_for_status()
                    http.append(time.perf_counter() - started)
                row[f"k{k}"] = {"recall": round(float(np.mean(recalls)), 4),
                                **_percentiles("", latencies), **_percentiles("cpu_", cpu),
                                **_percentiles("http_", http)}
            if snapshot.index.accepts_updates:  # last: the queries above saw the built index
                row.update(_update_rate(live, changes, held_out))
            results["indexes"].append(row)
            # a shared machine inflates wall-clock numbers: say how busy it was
            results["load"] = round(os.getloadavg()[0], 1)
            builder.remove_stale()
            report.write(results)  # after each configuration: a long run shows partial results
            log.info("measured %s: %s", label, row)
    shutil.rmtree(workdir, ignore_errors=True)
    return results


def _update_rate(live: LiveIndex, changes: dict[str, np.ndarray], queries: np.ndarray
                 ) -> dict[str, float]:
    """Changed vectors per second applied through the follower's path (LiveIndex.apply), and
    k=500 latency of queries running meanwhile in another thread (what updates cost them)."""
    items = list(changes.items())
    done = threading.Event()
    latencies: list[float] = []

    def query() -> None:  # at least one query, so the percentiles exist
        while True:
            for vector in queries:
                started = time.perf_counter()
                live.search(vector, max(KS))
                latencies.append(time.perf_counter() - started)
                if done.is_set():
                    return

    querier = threading.Thread(target=query, name="bench-query")
    querier.start()
    started = time.perf_counter()
    try:
        for start in range(0, len(items), UPDATE_BATCH):
            live.apply(dict(items[start:start + UPDATE_BATCH]))
        rate = len(items) / (time.perf_counter() - started)
    finally:
        done.set()
        querier.join()
    return {"updates_per_s": round(rate), **_percentiles(f"k{max(KS)}_updating_", latencies)}


def table(options: ServeBenchOptions, results: dict[str, Any]) -> str:
    """The results as a fixed-width table."""
    lines = [f"bench serve: {options.items} x {options.dim} {options.distribution}, "
             f"{options.queries} queries per cell, latency in ms (cpu = process CPU time per "
             f"in-process query, what an idle core would take; upd/s = changed vectors applied per "
             f"second by an index that takes updates, upd99 = k=500 p99 of queries meanwhile), "
             f"load average {results['load']}"]
    header = f"{'index':<10}{'build_s':>9}{'cpu_s':>8}{'size_mb':>9}{'upd/s':>7}{'upd99':>7}"
    for k in KS:
        header += (f"{'rec@' + str(k):>9}{'p50':>8}{'p99':>8}{'cpu50':>8}{'cpu99':>8}"
                   f"{'http50':>8}{'http99':>8}")
    lines.append(header)
    for row in results["indexes"]:
        line = (f"{row['index']:<10}{row['build_s']:>9}{row['build_cpu_s']:>8}{row['size_mb']:>9}"
                f"{row.get('updates_per_s', '-'):>7}{row.get('k500_updating_p99_ms', '-'):>7}")
        for k in KS:
            cell = row[f"k{k}"]
            line += (f"{cell['recall']:>9}{cell['p50_ms']:>8}{cell['p99_ms']:>8}"
                     f"{cell['cpu_p50_ms']:>8}{cell['cpu_p99_ms']:>8}"
                     f"{cell['http_p50_ms']:>8}{cell['http_p99_ms']:>8}")
        lines.append(line)
    return "\n".join(lines)


def _percentiles(prefix: str, seconds: list[float]) -> dict[str, float]:
    p50, p99 = np.percentile(np.asarray(seconds) * 1e3, [50, 99])
    return {f"{prefix}p50_ms": round(float(p50), 2), f"{prefix}p99_ms": round(float(p99), 2)}
