"""`bench switch`: what a model switch costs with serving running: derive, catch-up, swap, query p99.

Model A is trained on a generated corpus in a database of the bench's own; `playlist2vec
serve` runs as a child process and one client thread asks `/similar` for random playlists
the whole time. Model B is then trained on the same corpus; right after B's derive pass,
`edits` playlists are edited (as the stream would write them to `playlists`) so that its
catch-up has work. Reported: B's stage times, the swap (B active -> serving answers with
B), and the query latencies before B's run and during it (B's run through the swap), with
any answer that was not a 200.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
import numpy as np

from batch import writes
from batch.bench import bench_corpus, bench_database, drop_database
from batch.train import Stages, TrainOptions, train
from batch.word2vec import Word2VecParams
from playlist2vec import documents, reports, store
from playlist2vec.children import Children, wait_for
from playlist2vec.ports import free_addr
from playlist2vec.settings import Settings

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

Progress = Callable[[str], None]


@dataclass(frozen=True)
class SwitchBenchOptions:
    playlists: int = 50_000
    params: Word2VecParams = field(default_factory=Word2VecParams)
    edits: int = 1_000  # playlists edited while B is derived (the catch-up's work)
    before_s: float = 20.0  # query latency measured this long before B's run
    seed: int = 0
    ready_timeout_s: float = 1_800.0
    output: Path = field(kw_only=True)  # the report (from_settings: --output or the default path)

    @classmethod
    def from_settings(cls, settings: Settings, *, playlists: int = 50_000,
                      params: Word2VecParams | None = None, edits: int = 1_000,
                      before_s: float = 20.0, output: Path | None = None) -> SwitchBenchOptions:
        """`bench switch`'s options from its flags (the report path resolved now, so it can be shown)."""
        return cls(playlists=playlists, params=params or Word2VecParams(), edits=edits,
                   before_s=before_s, output=reports.output_path(settings, "switch", output))


@dataclass
class Queries:
    """One client asking `/similar` for random playlists until stopped; every answer noted."""

    url: str
    pids: list[int]
    samples: list[tuple[float, float, int, str]] = field(default_factory=list)  # t, s, code, model
    stop: threading.Event = field(default_factory=threading.Event)

    def run(self) -> None:
        rng = random.Random(0)
        with httpx.Client(base_url=self.url, timeout=30) as client:
            while not self.stop.is_set():
                pid = rng.choice(self.pids)
                started = time.monotonic()
                try:
                    reply = client.get(f"/v1/playlists/{pid}/similar", params={"k": 10})
                    code, model = reply.status_code, reply.json().get("model_version", "")
                except httpx.HTTPError:
                    code, model = 0, ""
                self.samples.append((started, time.monotonic() - started, code, model))

    def window(self, start: float, end: float) -> dict[str, Any]:
        inside = [s for s in self.samples if start <= s[0] < end]
        seconds = np.array([s[1] for s in inside]) * 1000
        errors: dict[str, int] = {}
        for _, _, code, _ in inside:
            if code != 200:
                errors[str(code)] = errors.get(str(code), 0) + 1
        return {"queries": len(inside),
                "p50_ms": float(np.percentile(seconds, 50)) if inside else None,
                "p99_ms": float(np.percentile(seconds, 99)) if inside else None,
                "errors": errors, "models": sorted({s[3] for s in inside if s[3]})}


def _served(url: str, version: str) -> bool:
    try:
        return bool(httpx.get(f"{url}/readyz", timeout=5).json().get("model_version") == version)
    except (httpx.HTTPError, ValueError):
        return False


def _edit_after_derive(sink: writes.Sink, db: Any, pids: list[int], edits: int) -> writes.Sink:
    """The real sink; after the derive pass, `edits` playlists get another playlist's tracks."""

    def edit(rows: Any, collection: str, build: writes.OpsBuilder, tolerate: frozenset[int]) -> int:
        done = sink(rows, collection, build, tolerate)
        if collection == store.PLAYLIST_VECTORS:
            now, rng = datetime.now(UTC), random.Random(1)
            chosen = rng.sample(pids, min(edits, len(pids)))
            sources = {d["_id"]: d for d in db[store.PLAYLISTS].find({"_id": {"$in": chosen}})}
            ops = [documents.playlist_write(
                {"pid": pid, "name": "edited", "modified_at": int(time.time()) + 1,
                 "tracks": sources[rng.choice(chosen)]["tracks"]}, now) for pid in chosen]
            store.bulk_write(db[store.PLAYLISTS], ops, tolerate=frozenset({documents.STALE}))
        return done

    return edit


def bench_switch(settings: Settings, spark: SparkSession, options: SwitchBenchOptions,
                 progress: Progress = print) -> dict[str, Any]:
    """Run the benchmark in the database `<P2V_MONGO_DB>_bench_switch` (dropped first, and
    after the numbers are read); write the report (playlist2vec.reports) and return its results
    (what `report_lines` prints)."""
    report = reports.BenchReport("switch", options)
    settings = bench_database(settings, "bench_switch").model_copy(update={"http_addr": free_addr()})
    with store.opened(settings) as db:
        source = bench_corpus(settings, options.playlists, options.seed, progress)
        quiet: Progress = lambda line: progress(f"  {line}")  # noqa: E731
        progress("model A ...")
        a = train(settings, spark, TrainOptions(source, options.params), progress=quiet)
        children = Children(settings)
        queries = Queries(f"http://{settings.http_addr}", [int(d["_id"]) for d in db[store.PLAYLISTS].find(
            {}, {"_id": 1})])
        thread = threading.Thread(target=queries.run, daemon=True)
        try:
            children.start("bench-switch-serve", "serve", "--instance", "bench-switch")
            wait_for(f"serving model {a.version}", lambda: _served(queries.url, a.version),
                     options.ready_timeout_s, children)
            thread.start()
            time.sleep(options.before_s)
            b_started = time.monotonic()
            progress("model B ...")
            stages = Stages(quiet)
            sink = _edit_after_derive(
                writes.mongo_sink(settings.mongo_uri.get_secret_value(), settings.mongo_db),
                db, queries.pids, options.edits)
            params_b = replace(options.params, seed=options.params.seed + 1)
            b = train(settings, spark, TrainOptions(source, params_b), sink=sink, stages=stages)
            active_at = time.monotonic()
            wait_for(f"serving model {b.version}", lambda: _served(queries.url, b.version),
                     options.ready_timeout_s, children)
            served_at = time.monotonic()
            time.sleep(2.0)  # a few answers of B after the swap
        finally:
            queries.stop.set()
            children.stop()
    try:
        with store.opened(settings) as after:
            model_b = after[store.MODELS].find_one({"_id": b.version}) or {}
    finally:
        drop_database(settings)
    results: dict[str, Any] = {
        "playlists": options.playlists, "edits": options.edits, "database": settings.mongo_db,
        "model_a": a.version, "model_b": b.version,
        "b_stage_seconds": {k: round(v, 2) for k, v in stages.seconds.items()},
        "derive_s": round(stages.seconds["derive"], 2),
        "derived": b.written.get(store.PLAYLIST_VECTORS),
        "catch_up_s": round(stages.seconds["catch-up"], 2), "caught_up": model_b.get("caught_up"),
        "swap_s": round(served_at - active_at, 2),
        "before": queries.window(b_started - options.before_s, b_started),
        "during": queries.window(b_started, served_at),
        "after": queries.window(served_at, served_at + 2.0),
    }
    report.write(results)
    return results


def report_lines(report: dict[str, Any]) -> list[str]:
    def latency(name: str) -> str:
        w = report[name]
        if not w["queries"]:
            return f"{name:7} no queries"
        return (f"{name:7} {w['queries']:6d} queries  p50 {w['p50_ms']:7.1f} ms  p99 {w['p99_ms']:7.1f} ms"
                f"  non-200: {w['errors'] or 'none'}  models: {', '.join(w['models'])}")

    return [
        f"switch of {report['playlists']} playlists ({report['edits']} edited during the derive):",
        f"derive   {report['derive_s']:8.1f} s  ({report['derived']} playlist vectors)",
        f"catch-up {report['catch_up_s']:8.1f} s  ({report['caught_up']} playlists)",
        f"swap     {report['swap_s']:8.1f} s  (B active -> serving answers with B)",
        "B stages: " + ", ".join(f"{k} {v:.1f}s" for k, v in report["b_stage_seconds"].items()),
        latency("before"), latency("during"), latency("after"),
    ]
