"""Every `p2v_*` series that the alert rules, their tests and the Grafana dashboard query is one the
code exports (with the labels they select on), and the dashboard shows every exported metric."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import yaml
from prometheus_client import CollectorRegistry
from prometheus_client.metrics import MetricWrapperBase

from playlist2vec.probe import ProbeMetrics
from serving.metrics import ServingMetrics, StageHistogram
from streaming.metrics import StreamMetrics

DEPLOY = Path(__file__).resolve().parents[3] / "deploy"
# a series name, optionally followed by its label matchers
SELECTOR = re.compile(r"\b(p2v_[a-z0-9_]+)(?:\{([^}]*)\})?")
MATCHER_LABEL = re.compile(r"([a-zA-Z_][a-zA-Z0-9_]*)\s*(?:=~|!~|!=|=)")
SAMPLE_SUFFIXES = {
    "counter": ("_total",),
    "gauge": ("",),
    "histogram": ("_bucket", "_sum", "_count"),
    "summary": ("", "_sum", "_count"),
}
EXTRA_LABELS = {"_bucket": {"le"}, "": set(), "_sum": set(), "_count": set(), "_total": set()}
SCRAPE_LABELS = {"job", "instance"}  # added by Prometheus, not by the code


def exported() -> dict[str, tuple[str, set[str]]]:
    """Series name -> (metric family, label names), from the metrics classes of each process kind."""
    series: dict[str, tuple[str, set[str]]] = {}
    for kind in (StreamMetrics, ServingMetrics, ProbeMetrics):
        holder = kind(registry=CollectorRegistry())
        metrics = [m for m in vars(holder).values() if isinstance(m, MetricWrapperBase | StageHistogram)]
        assert metrics, f"{kind.__name__} holds no metrics"
        for metric in metrics:
            if isinstance(metric, StageHistogram):  # a collector of its own, observed in arrays
                family, kind_name, labels = metric.name, "histogram", set(metric.labelnames)
            else:  # prometheus_client keeps a counter's name without `_total`, as the family name
                family, kind_name, labels = metric._name, str(metric._type), set(metric._labelnames)
            for suffix in SAMPLE_SUFFIXES[kind_name]:
                series[family + suffix] = (family, labels | EXTRA_LABELS[suffix])
    return series


def used_in_rules() -> list[str]:
    groups = yaml.safe_load((DEPLOY / "prometheus" / "rules.yml").read_text())["groups"]
    return [rule["expr"] for group in groups for rule in group["rules"]]


def used_in_rule_tests() -> list[str]:
    tests = yaml.safe_load((DEPLOY / "prometheus" / "rules_test.yml").read_text())["tests"]
    return [s["series"] for test in tests for s in test.get("input_series", [])]


def used_in_dashboard() -> list[str]:
    def targets(panels: list[dict]) -> list[str]:
        found = []
        for panel in panels:
            found += [t["expr"] for t in panel.get("targets", [])]
            found += targets(panel.get("panels", []))
        return found

    return targets(json.loads((DEPLOY / "grafana" / "dashboard.json").read_text())["panels"])


def selectors(expressions: list[str]) -> list[tuple[str, set[str]]]:
    return [(name, set(MATCHER_LABEL.findall(matchers or "")))
            for expr in expressions for name, matchers in SELECTOR.findall(expr)]


def test_metrics_classes_export_the_architecture_names() -> None:
    names = exported()
    for series in ("p2v_stream_events_total", "p2v_stream_kafka_lag_messages",
                   "p2v_http_request_duration_seconds_bucket", "p2v_index_age_seconds",
                   "p2v_change_stream_lag_seconds"):
        assert series in names
    assert names["p2v_stream_events_total"][1] == {"result"}
    assert "p2v_stream_events" not in names  # counters are only exported with `_total`


@pytest.mark.parametrize("source", [used_in_rules, used_in_rule_tests, used_in_dashboard])
def test_every_queried_series_and_label_is_exported(source) -> None:  # type: ignore[no-untyped-def]
    names = exported()
    used = selectors(source())
    assert len(used) >= 5, f"{source.__name__} found almost no p2v_ series: is the parser broken?"
    for name, labels in used:
        assert name in names, f"{source.__name__}: {name} is not exported by the code"
        unknown = labels - names[name][1] - SCRAPE_LABELS
        assert not unknown, f"{source.__name__}: {name} has no label(s) {sorted(unknown)}"


def test_the_checker_rejects_a_misspelt_series_and_label() -> None:
    names = exported()
    (name, labels), = selectors(['rate(p2v_http_requests_total{status=~"5.."}[5m])'])
    assert name in names and labels - names[name][1] == {"status"}
    (name, _), = selectors(["p2v_stream_events_count"])
    assert name not in names


def test_the_dashboard_shows_every_exported_metric() -> None:
    shown = {name for name, _ in selectors(used_in_dashboard())}
    families = {family for family, _ in exported().values()}
    missing = {f for f in families if not any(s.startswith(f) for s in shown)}
    assert not missing, f"metrics exported but not on the dashboard: {sorted(missing)}"


def test_dashboard_panels_use_the_provisioned_datasource_and_do_not_overlap() -> None:
    dashboard = json.loads((DEPLOY / "grafana" / "dashboard.json").read_text())
    provisioned = yaml.safe_load(
        (DEPLOY / "grafana" / "provisioning" / "datasources" / "prometheus.yml").read_text())
    (variable,) = dashboard["templating"]["list"]
    assert variable["current"]["value"] == provisioned["datasources"][0]["uid"]
    panels = dashboard["panels"]
    assert len({p["id"] for p in panels}) == len(panels)
    cells: set[tuple[int, int]] = set()
    for p in panels:
        g = p["gridPos"]
        assert g["x"] + g["w"] <= 24, p["title"]
        area = {(x, y) for x in range(g["x"], g["x"] + g["w"]) for y in range(g["y"], g["y"] + g["h"])}
        assert not cells & area, f"panel {p['title']!r} overlaps another"
        cells |= area
        for target in p.get("targets", []):
            assert target["datasource"]["uid"] == "${datasource}"
