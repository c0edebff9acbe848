"""Benchmark reports: one JSON layout and one default path for every `bench` command.

A report is `{"benchmark", "started_at", "options", "machine", "results"}`: the benchmark's
name, when it started (ISO 8601, UTC), the options it ran with, the machine it ran on (CPUs,
load average when the report was written: a busy machine lowers the numbers) and its own
results. Without `--output` it goes to `P2V_HOME/bench/<benchmark>-<YYYYmmddTHHMMSSZ>.json`,
so runs never overwrite each other.
"""

from __future__ import annotations

import dataclasses
import json
import os
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from playlist2vec.settings import Settings

BENCHMARKS = ("train", "stream", "serve", "switch", "lyrics-fetch")


def timestamped(folder: Path, prefix: str, when: datetime | None = None) -> Path:
    """`folder/<prefix>-<YYYYmmddTHHMMSSZ>.json`: a report path no earlier run has taken."""
    when = when or datetime.now(UTC)
    return folder / f"{prefix}-{when.astimezone(UTC):%Y%m%dT%H%M%SZ}.json"


def default_path(settings: Settings, benchmark: str, when: datetime | None = None) -> Path:
    """Where `benchmark`'s report goes when no `--output` is given."""
    return timestamped(settings.home / "bench", benchmark, when)


def output_path(settings: Settings, benchmark: str, output: Path | None) -> Path:
    """`--output` if given, else the default path (for an options object's `from_settings`)."""
    return output if output is not None else default_path(settings, benchmark)


def plain(options: Any) -> dict[str, Any]:
    """An options dataclass as a dict, without where its report goes."""
    fields: dict[str, Any] = dataclasses.asdict(options)
    fields.pop("output", None)
    return fields


class BenchReport:
    """One run's report file: started when the benchmark starts, written (again) as results
    arrive, so a long run leaves its partial results and a failing one its numbers."""

    def __init__(self, benchmark: str, options: Any) -> None:
        """`options`: the benchmark's options dataclass; the report goes to its `output`."""
        if benchmark not in BENCHMARKS:
            raise ValueError(f"unknown benchmark {benchmark!r}, expected one of {BENCHMARKS}")
        self.benchmark = benchmark
        self.options = plain(options)
        self.path: Path = options.output
        self.started_at = datetime.now(UTC)

    def document(self, results: Any) -> dict[str, Any]:
        """The whole report around `results`."""
        load = os.getloadavg()
        return {
            "benchmark": self.benchmark,
            "started_at": self.started_at.isoformat(timespec="seconds"),
            "options": self.options,
            "machine": {"cpus": os.cpu_count(), "load_average": [round(x, 2) for x in load]},
            "results": results,
        }

    def write(self, results: Any) -> Path:
        """Write the report with these results (replacing an earlier write); returns its path."""
        return write_json(self.path, self.document(results))


def write_json(path: Path, document: Any) -> Path:
    """Write `document` as indented JSON (values JSON lacks, as strings); a reader never sees
    half a file. Also the writer of the `evaluate` and `train --tune` reports."""
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".partial")
    partial.write_text(json.dumps(document, indent=2, default=str) + "\n", encoding="utf-8")
    partial.replace(path)
    return path
