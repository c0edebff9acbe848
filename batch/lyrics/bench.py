"""`bench lyrics-fetch`: fetch throughput against the synthetic provider at a given latency."""

from __future__ import annotations

import os
import time
import uuid
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

from batch.lyrics import synthetic
from batch.lyrics.fetch import fetch_lyrics
from batch.lyrics.options import FetchOptions
from playlist2vec import reports, store
from playlist2vec.settings import Settings


@dataclass(frozen=True)
class FetchBench:
    songs: int
    latency_s: float
    concurrency: int
    rate: float
    elapsed_s: float
    songs_per_min: float
    max_in_flight: int
    found: int
    cpu_ms_per_song: float  # the fetcher's process (the provider runs in another)
    load_average: float  # 1-minute, at the end: a busy machine makes the numbers lower

    def line(self) -> str:
        return (f"{self.songs} songs at {self.latency_s * 1000:.0f} ms latency, "
                f"concurrency {self.concurrency}, rate {self.rate:g}/s: "
                f"{self.songs_per_min:.0f} songs/min "
                f"({self.elapsed_s:.1f}s, max {self.max_in_flight} in flight, "
                f"{self.cpu_ms_per_song:.1f} ms CPU/song, load average {self.load_average:.1f})")


@dataclass(frozen=True)
class FetchBenchOptions:
    """`bench lyrics-fetch`: how many synthetic songs, the provider's latency, how to fetch."""

    songs: int = 2_000
    latency_s: float = 0.2
    fetch: FetchOptions = field(default_factory=FetchOptions)
    output: Path = field(kw_only=True)  # the report (from_settings: --output or the default path)

    @classmethod
    def from_settings(cls, settings: Settings, *, songs: int = 2_000, latency_ms: float = 200.0,
                      concurrency: int = FetchOptions.concurrency, rate: float = FetchOptions.rate,
                      output: Path | None = None) -> FetchBenchOptions:
        """The command's options from its flags (the report path resolved now, so it can be shown)."""
        return cls(songs, latency_ms / 1000, FetchOptions(concurrency=concurrency, rate=rate),
                   output=reports.output_path(settings, "lyrics-fetch", output))


def bench_fetch(settings: Settings, options: FetchBenchOptions) -> FetchBench:
    """Fetch `options.songs` synthetic tracks in a scratch database (dropped afterwards); write
    the report (playlist2vec.reports) and return its results."""
    report = reports.BenchReport("lyrics-fetch", options)
    songs, latency_s, fetch = options.songs, options.latency_s, options.fetch
    name = f"{settings.mongo_db}_bench_lyrics_{uuid.uuid4().hex[:6]}"
    scratch = settings.model_copy(update={"mongo_db": name})
    with store.opened(scratch) as db:
        try:
            db[store.TRACKS].insert_many([{"_id": f"spotify:track:bench{i:017d}", "track_name": f"song {i}",
                                           "artist_name": f"artist {i % 97}"} for i in range(songs)])
            with synthetic.serve(synthetic.Script(latency_s=latency_s), own_process=True) as provider:
                cpu = time.process_time()
                summary = fetch_lyrics(scratch, provider.url_template, replace(fetch, progress=False))
                cpu = time.process_time() - cpu
                max_in_flight = provider.stats().max_in_flight
        finally:
            db.client.drop_database(db.name)
    result = FetchBench(songs, latency_s, fetch.concurrency, fetch.rate, summary.elapsed_s,
                        summary.songs_per_min, max_in_flight, summary.found, cpu * 1000 / songs,
                        os.getloadavg()[0])
    report.write(asdict(result))
    return result
