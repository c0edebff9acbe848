"""The code passes its linters: ruff over the whole tree, mypy in strict mode over the source
packages. CI runs them as part of the suite, so a lint or type error fails the build like a test."""

from __future__ import annotations

import subprocess
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SOURCE_PACKAGES = ("playlist2vec", "batch", "streaming", "serving")


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", *args], cwd=ROOT, capture_output=True, text=True,
                          check=False)


def test_ruff_finds_nothing() -> None:
    result = run("ruff", "check", "--no-cache", ".")
    assert result.returncode == 0, result.stdout + result.stderr


def test_mypy_finds_nothing_in_the_source_packages() -> None:
    result = run("mypy", *SOURCE_PACKAGES)
    assert result.returncode == 0, result.stdout + result.stderr


def test_mypy_checks_the_source_packages_strictly() -> None:
    """Strictness lives in pyproject.toml, so `mypy` by hand reports what CI reports; dropping it
    would let untyped functions and `Any` returns back in without the test above noticing."""
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["mypy"]
    assert config.get("strict") is True
    assert not any(override.get("ignore_errors") for override in config.get("overrides", []))
