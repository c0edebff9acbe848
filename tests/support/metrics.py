"""Reading Prometheus samples in tests: from a registry, or from a scraped exposition text."""

from __future__ import annotations

from prometheus_client import CollectorRegistry
from prometheus_client.parser import text_string_to_metric_families


def sample(registry: CollectorRegistry, name: str, **labels: str) -> float:
    """The sample `name{labels}` of `registry` (0 when it has not been recorded)."""
    return registry.get_sample_value(name, labels) or 0.0


def scraped(text: str, name: str, **labels: str) -> float:
    """The sample `name{labels}` of a `/metrics` exposition (0 when absent)."""
    for family in text_string_to_metric_families(text):
        for found in family.samples:
            if found.name == name and all(found.labels.get(k) == v for k, v in labels.items()):
                return float(found.value)
    return 0.0
