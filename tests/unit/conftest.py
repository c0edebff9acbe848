"""The unit tier starts no JVM and runs in well under a minute: a unit test that asks for the
stack or the SparkSession, or is marked `slow`, fails at collection, naming the fixture or the
marker (such a test belongs under tests/integration)."""

from __future__ import annotations

from pathlib import Path

import pytest

UNIT = Path(__file__).parent
JVM_FIXTURES = frozenset({"stack_settings", "settings", "db", "spark", "home_settings"})


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if not item.path.is_relative_to(UNIT):  # the hook sees every collected test
            continue
        wanted = JVM_FIXTURES.intersection(getattr(item, "fixturenames", ()))
        markers = {"integration", "spark", "cluster", "slow"}.intersection(
            m.name for m in item.iter_markers())
        if wanted or markers:
            raise pytest.UsageError(
                f"{item.nodeid} is in tests/unit but needs {sorted(wanted | markers)}: "
                "move it under tests/integration")
