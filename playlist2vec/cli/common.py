"""Flags shared by several commands, spelled and explained once."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

BenchOutput = Annotated[Path | None, typer.Option(
    "--output", "--out", dir_okay=False,
    help="JSON report [default P2V_HOME/bench/<benchmark>-<UTC time>.json]")]
"""Every `bench` command's report file (`--out` is the older spelling, still accepted)."""


def print_report(summary: str, path: Path) -> None:
    """What every command that writes a report prints: its summary, then where the report is."""
    print(summary)
    print(f"report: {path}")
