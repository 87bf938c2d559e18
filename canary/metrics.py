"""The canary's Prometheus metrics, built on a registry passed in."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

__all__ = ["ROUNDTRIP_BUCKETS", "CanaryMetrics", "build_metrics"]

#: Seconds, from 10 ms (a consumer keeping up) to 5 minutes (one that was stopped).
ROUNDTRIP_BUCKETS: Final = (
    0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0,
)  # fmt: skip


@dataclass(frozen=True)
class CanaryMetrics:
    """Handles on every canary metric (see docs/metrics.md)."""

    sent: Counter
    received: Counter
    lost: Counter
    roundtrip: Histogram
    oldest_pending: Gauge

    def add_partition(self, partition: int) -> None:
        """Series of ``partition`` at 0, so rates and ratios exist before the first event."""
        label = str(partition)
        for metric in (self.sent, self.received, self.lost, self.roundtrip, self.oldest_pending):
            metric.labels(label)


def build_metrics(registry: CollectorRegistry) -> CanaryMetrics:
    """Create the canary metrics on ``registry``."""
    return CanaryMetrics(
        sent=Counter(
            "volstream_canary_markers_sent",
            "Markers sent to the ticks topic, by partition.",
            ["partition"], registry=registry,
        ),
        received=Counter(
            "volstream_canary_markers_received",
            "Markers whose echo came back within the deadline, by ticks partition.",
            ["partition"], registry=registry,
        ),
        lost=Counter(
            "volstream_canary_markers_lost",
            "Markers not back within the deadline, by ticks partition.",
            ["partition"], registry=registry,
        ),
        roundtrip=Histogram(
            "volstream_canary_roundtrip_seconds",
            "From sending a marker to reading its echo, late ones included, by ticks partition.",
            ["partition"], buckets=ROUNDTRIP_BUCKETS, registry=registry,
        ),
        oldest_pending=Gauge(
            "volstream_canary_oldest_pending_seconds",
            "Age of the oldest marker still awaited (0 when none is), by ticks partition.",
            ["partition"], registry=registry,
        ),
    )  # fmt: skip
