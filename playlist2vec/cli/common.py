"""Flags shared by several commands, spelled and explained once."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

BenchOutput = Annotated[Path | None, typer.Option(
    "--output", "--out", dir_okay=False,
    help="JSON report [default P2V_HOME/bench/<benchmark>-<UTC time>.json]")]
"""Every `bench` command's report file (`--out` is the older spelling, still accepted)."""


def report_line(path: Path) -> str:
    """What every command that writes a report prints last."""
    return f"report: {path}"
