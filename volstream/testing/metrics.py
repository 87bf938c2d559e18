"""Reading metric values in tests: from a registry, or from Prometheus text."""

from __future__ import annotations

from prometheus_client import CollectorRegistry
from prometheus_client.parser import text_string_to_metric_families

__all__ = ["MetricsReader", "sample"]


class MetricsReader:
    """Values of the metrics on a registry (build the service's metrics on a fresh one)."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()

    def value(self, name: str, **labels: str) -> float:
        """The sample ``name`` with exactly ``labels``; 0 when there is none."""
        return self.registry.get_sample_value(name, labels) or 0.0

    def total(self, name: str, **labels: str) -> float:
        """The sum of the samples ``name`` whose labels include ``labels``."""
        return sum(
            s.value
            for family in self.registry.collect()
            for s in family.samples
            if s.name == name and labels.items() <= s.labels.items()
        )


def sample(text: str, name: str, **labels: str) -> float:
    """The first sample ``name`` with ``labels`` in Prometheus text (a /metrics page), or 0."""
    for family in text_string_to_metric_families(text):
        for found in family.samples:
            if found.name == name and labels.items() <= found.labels.items():
                return float(found.value)
    return 0.0
