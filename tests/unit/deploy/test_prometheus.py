"""deploy/prometheus: promtool accepts the config and the rules, and the rules' own unit tests pass
(each alert fires on its failure and not on the look-alike)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

PROMETHEUS = Path(__file__).resolve().parents[3] / "deploy" / "prometheus"


def promtool(*args: str) -> subprocess.CompletedProcess[str]:
    # CI installs it (Debian package `prometheus`); a missing tool is a broken setup, not a skip.
    tool = shutil.which("promtool")
    assert tool, "promtool not found: apt-get install prometheus"
    return subprocess.run([tool, *args], capture_output=True, text=True, timeout=60, check=False)


def test_config_is_valid_and_loads_the_rules() -> None:
    result = promtool("check", "config", str(PROMETHEUS / "prometheus.yml"))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "1 rule files found" in result.stdout + result.stderr


def test_rules_are_valid() -> None:
    result = promtool("check", "rules", str(PROMETHEUS / "rules.yml"))
    assert result.returncode == 0, result.stdout + result.stderr


def test_each_alert_fires_on_its_failure_and_only_then() -> None:
    result = promtool("test", "rules", str(PROMETHEUS / "rules_test.yml"))
    assert result.returncode == 0, result.stdout + result.stderr


def test_rule_tests_catch_a_broken_threshold(tmp_path: Path) -> None:
    """The rule tests are not vacuous: the same tests fail against a rule file with a wrong threshold."""
    broken = (PROMETHEUS / "rules.yml").read_text().replace("> 3 * 300", "> 30 * 300")
    assert broken != (PROMETHEUS / "rules.yml").read_text()
    (tmp_path / "rules.yml").write_text(broken)
    shutil.copy(PROMETHEUS / "rules_test.yml", tmp_path / "rules_test.yml")
    result = promtool("test", "rules", str(tmp_path / "rules_test.yml"))
    assert result.returncode != 0
    assert "P2VIndexStale" in result.stdout + result.stderr


def test_the_freshness_objective_is_one_number_the_alert_follows(tmp_path: Path) -> None:
    """Moving the objective from 3 s to 5 s silences the alert for a p95 of 4 s."""
    rules = (PROMETHEUS / "rules.yml").read_text()
    moved = rules.replace("expr: vector(3)", "expr: vector(5)")
    assert moved != rules
    (tmp_path / "rules.yml").write_text(moved)
    shutil.copy(PROMETHEUS / "rules_test.yml", tmp_path / "rules_test.yml")
    result = promtool("test", "rules", str(tmp_path / "rules_test.yml"))
    assert result.returncode != 0
    assert "P2VFreshnessP95" in result.stdout + result.stderr


@pytest.mark.parametrize("alert", ["P2VStreamLagGrowing", "P2VDeadLetterRate", "P2VIndexStale",
                                   "P2VChangeStreamLag", "P2VHTTP5xxRate", "P2VStreamDown",
                                   "P2VStreamCrashLooping", "P2VChangeStreamUnstable",
                                   "P2VFreshnessBudgetBurn", "P2VFreshnessP95",
                                   "P2VProbeDown", "P2VProbeFailing"])
def test_every_alert_the_issue_asks_for_has_a_rule_test(alert: str) -> None:
    assert f"alert: {alert}" in (PROMETHEUS / "rules.yml").read_text()
    assert f"alertname: {alert}" in (PROMETHEUS / "rules_test.yml").read_text()
